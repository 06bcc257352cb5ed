"""Exceptions the workbench raises for bad input.

Each one is a ``ValueError`` subclass so callers that already catch ``ValueError`` keep working, and each
message names the problem and the fix.
"""

from __future__ import annotations


class WorkbenchError(ValueError):
    """Base class: bad input to the workbench, with a message that says how to fix it."""


class ConfigError(WorkbenchError):
    """A configuration that cannot work (unknown preset, d_model not divisible by n_heads, ...)."""


class CheckpointError(WorkbenchError):
    """A checkpoint that is truncated, foreign, corrupt or does not match its config."""


class TokenizerError(WorkbenchError):
    """A tokenizer file that is missing, has the wrong hash, or tokens outside the vocabulary."""


class InputError(WorkbenchError):
    """Inputs the model cannot take: a prompt longer than the context, token ids outside the vocabulary."""


class HookNameError(WorkbenchError, KeyError):
    """A hook name the model does not have; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class RunDirError(WorkbenchError):
    """A run directory that already holds a different run (use --resume or --overwrite)."""


class NonFiniteLossError(WorkbenchError, FloatingPointError):
    """Training produced a NaN or infinite loss; the last good checkpoint is left intact."""

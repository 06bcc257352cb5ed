"""Errors of the SAE package (all are ``interp.errors.WorkbenchError``, so the CLI prints them cleanly)."""

from interp.errors import CheckpointError, InputError, NonFiniteLossError, WorkbenchError


class SAEError(WorkbenchError):
    """Base class of SAE errors."""


class SAEConfigError(SAEError):
    """An SAE configuration that makes no sense (unknown architecture, k > width, ...)."""


class SAEShapeError(SAEError, InputError):
    """Activations whose width does not match the SAE."""


class SAECheckpointError(SAEError, CheckpointError):
    """A missing, corrupt or foreign SAE checkpoint."""




class SAEDivergenceError(SAEError):
    """SAE training diverged (the reconstruction error exploded); nothing is saved as a final SAE."""


__all__ = ["NonFiniteLossError", "SAECheckpointError", "SAEConfigError", "SAEDivergenceError", "SAEError",
           "SAEShapeError"]

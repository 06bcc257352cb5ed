"""Patching metrics: functions from logits to one number (averaged over the prompts in the batch).

>>> metric = logit_diff(answer_ids, wrong_ids)       # mean logit(answer) - logit(wrong) at the last position
>>> metric(model(tokens))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InputError

Metric = Callable[[Float[Tensor, "batch pos vocab"]], Tensor]


def logit_diff(answer: Int[Tensor, " batch"], wrong: Int[Tensor, " batch"], position: int = -1) -> Metric:
    def metric(logits: Tensor) -> Tensor:
        rows = torch.arange(logits.shape[0], device=logits.device)
        last = logits[:, position]
        return (last[rows, answer.to(logits.device)] - last[rows, wrong.to(logits.device)]).mean()

    return metric


def answer_prob(answer: Int[Tensor, " batch"], position: int = -1) -> Metric:
    def metric(logits: Tensor) -> Tensor:
        rows = torch.arange(logits.shape[0], device=logits.device)
        return logits[:, position].softmax(-1)[rows, answer.to(logits.device)].mean()

    return metric


def normalized(metric: Metric, clean_value: float, corrupt_value: float) -> Metric:
    """Rescale so the corrupted run scores 0 and the clean run 1."""
    span = clean_value - corrupt_value
    if abs(span) < 1e-12:
        raise InputError("Clean and corrupted runs give the same metric value; nothing to normalise against.")
    return lambda logits: (metric(logits) - corrupt_value) / span


def scalar(value: Tensor | float, where: str = "metric") -> Tensor:
    """The metric's value as a 0-dim tensor, or a clear error when it returned something else."""
    t = torch.as_tensor(value)
    if t.dim() != 0:
        raise InputError(f"The {where} must return a single number (a 0-dim tensor), got shape {tuple(t.shape)}; "
                         "average over the batch, e.g. return (logits[:, -1, a] - logits[:, -1, b]).mean().")
    return t


def next_token_logprob(tokens: Int[Tensor, "batch pos"], start: int) -> Metric:
    """Mean log-probability of the true next token at positions ``start .. pos-2`` (e.g. a repeated half)."""
    targets = tokens[:, start + 1 :]

    def metric(logits: Tensor) -> Tensor:
        logp = logits[:, start:-1].float().log_softmax(-1)
        return logp.gather(-1, targets[..., None].to(logits.device)).mean()

    return metric

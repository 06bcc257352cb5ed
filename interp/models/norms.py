"""Pluggable normalization at each site: LayerNorm, none, or a fixed-scale LayerNorm.

The fixed-scale kind centres its input and divides by a stored scale instead of the per-token standard
deviation, which makes it a linear map (so it folds into the next weights, and direct logit attribution
becomes exact). At ``ln1`` it keeps separate scales for the query/key path and the value path, as in
LayerNorm removal by fine-tuning (Heimersheim 2024).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm(nn.Module):
    """Standard LayerNorm with weight and bias (eps as GPT-2)."""

    kind = "layernorm"

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class NoNorm(nn.Module):
    """Identity: the site has no normalization."""

    kind = "none"

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class FixedNorm(nn.Module):
    """(x - mean(x)) / scale * weight + bias, with ``scale`` a fixed buffer (one per site)."""

    kind = "fixed"

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.register_buffer("scale", torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        return (x - x.mean(-1, keepdim=True)) / self.scale * self.weight + self.bias


class FixedNormQKV(FixedNorm):
    """Fixed-scale norm for ``ln1`` with separate query/key and value scales; returns ``(x_qk, x_v)``."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__(d_model, eps)
        del self.scale
        self.register_buffer("scale_qk", torch.ones(()))
        self.register_buffer("scale_v", torch.ones(()))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        centred = x - x.mean(-1, keepdim=True)
        return (
            centred / self.scale_qk * self.weight + self.bias,
            centred / self.scale_v * self.weight + self.bias,
        )


def make_norm(kind: str, d_model: int, eps: float, split_qkv: bool = False) -> nn.Module:
    """The normalization module for one site; ``split_qkv`` marks ``ln1`` (separate q/k and v paths)."""
    if kind == "layernorm":
        return LayerNorm(d_model, eps)
    if kind == "none":
        return NoNorm(d_model, eps)
    if kind == "fixed":
        return FixedNormQKV(d_model, eps) if split_qkv else FixedNorm(d_model, eps)
    raise ValueError(f"unknown normalization {kind!r}")

"""Pluggable normalization at each site: LayerNorm, none, a fixed-scale LayerNorm, or one being removed.

The fixed-scale kind centres its input and divides by a stored scale instead of the per-token standard
deviation, which makes it a linear map (so it folds into the next weights, and direct logit attribution
becomes exact). At ``ln1`` it keeps separate scales for the query/key path and the value path, as in
LayerNorm removal by fine-tuning (Heimersheim 2024). The removable kind is LayerNorm while that fine-tuning
runs: each path divides by the live per-token scale until it is frozen, then by a moving average of it.
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


class RemovableNorm(LayerNorm):
    """LayerNorm whose scale can be frozen path by path, for LayerNorm removal (``interp.ln_removal``).

    Each path (``""``; at ``ln1`` ``"qk"`` and ``"v"``) divides by the live scale sqrt(var + eps) until its
    ``frozen_*`` flag is set, then by ``ema_*``: the live scale's moving average (``momentum``) over the training
    batches before the freeze, positions 1.. only. Position 0 (BOS, whose scale is far from the rest) has its own
    average ``ema_bos_*`` until ``bos_removed``. All state is in buffers, so a checkpoint resumes it; with nothing
    frozen the output equals ``LayerNorm``'s. Returns ``(x_qk, x_v)`` at ``ln1``.

    With ``track_spread`` set, while training, ``scale_spread`` holds this batch's mean of (live scale / average -
    1)^2 over positions 1.. (with gradient): how far the tokens' scales are from the one a frozen norm will use.
    LayerNorm removal's optional auxiliary loss is a weight times ``ln_f``'s (the anchors' loss on the residual
    scale before ``ln_f``); other norms do not compute it.
    """

    kind = "removable"

    def __init__(self, d_model: int, eps: float = 1e-5, split_qkv: bool = False, momentum: float = 0.9) -> None:
        super().__init__(d_model, eps)
        self.paths = ("qk", "v") if split_qkv else ("",)
        self.momentum = momentum
        for path in self.paths:
            self.register_buffer(self.buffer("ema", path), torch.zeros(()))
            self.register_buffer(self.buffer("ema_bos", path), torch.zeros(()))
            self.register_buffer(self.buffer("frozen", path), torch.zeros((), dtype=torch.bool))
        self.register_buffer("bos_removed", torch.zeros((), dtype=torch.bool))
        self.track_spread = False
        self.scale_spread: Tensor | None = None

    @staticmethod
    def buffer(name: str, path: str) -> str:
        """The buffer holding ``name`` (ema, ema_bos, frozen) for ``path``: ``ema_qk``, or ``ema`` for ``""``."""
        return f"{name}_{path}" if path else name

    @torch.no_grad()
    def _track(self, path: str, means: tuple[Tensor, Tensor]) -> None:
        """Fold this batch's mean live scale (positions 1.., position 0) into the path's averages while the path
        is not frozen."""
        frozen = getattr(self, self.buffer("frozen", path))
        for name, value in zip(("ema", "ema_bos"), means, strict=True):
            ema = getattr(self, self.buffer(name, path))
            new = torch.where(ema == 0, value, self.momentum * ema + (1 - self.momentum) * value)
            ema.copy_(torch.where(frozen, ema, new.to(ema.dtype)))

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:  # type: ignore[override]
        centred = x - x.mean(-1, keepdim=True)
        live = (centred.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()  # [batch, pos, 1]
        first = torch.arange(x.shape[-2], device=x.device).unsqueeze(-1) == 0  # [pos, 1]
        track = self.training and x.shape[-2] > 1
        means = (live[:, 1:].detach().mean(), live[:, 0].detach().mean()) if track else None
        if track and self.track_spread:
            ref = getattr(self, self.buffer("ema", self.paths[-1]))
            ref = torch.where(ref == 0, means[0], ref)
            self.scale_spread = (live[:, 1:] / ref - 1).pow(2).mean()
        out = []
        for path in self.paths:
            if means is not None:
                self._track(path, means)
            ema, ema_bos = getattr(self, self.buffer("ema", path)), getattr(self, self.buffer("ema_bos", path))
            fixed = torch.where(first & ~self.bos_removed, ema_bos, ema)
            scale = torch.where(getattr(self, self.buffer("frozen", path)), fixed, live)
            out.append(centred / scale * self.weight + self.bias)
        return tuple(out) if len(out) == 2 else out[0]  # type: ignore[return-value]


def make_norm(kind: str, d_model: int, eps: float, split_qkv: bool = False) -> nn.Module:
    """The normalization module for one site; ``split_qkv`` marks ``ln1`` (separate q/k and v paths)."""
    if kind == "layernorm":
        return LayerNorm(d_model, eps)
    if kind == "none":
        return NoNorm(d_model, eps)
    if kind == "fixed":
        return FixedNormQKV(d_model, eps) if split_qkv else FixedNorm(d_model, eps)
    if kind == "removable":
        return RemovableNorm(d_model, eps, split_qkv=split_qkv)
    raise ValueError(f"unknown normalization {kind!r}")

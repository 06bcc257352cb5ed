"""JumpReLU SAE (Rajamanoharan et al. 2024; SAELens "jumprelu"): a feature fires only above its own learned
threshold. The threshold gets gradients through a straight-through estimator with a rectangle kernel of width
``jumprelu_bandwidth``, and sparsity is an L0 penalty trained the same way.

>>> sae = build_sae(SAEConfig(architecture="jumprelu", d_in=128, d_sae=2048, l0_coefficient=1.0))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saes.base import SAE
from saes.registry import register


def _rectangle(u: Tensor) -> Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    """``pre * (pre > threshold)``; d/d threshold = -(threshold / bandwidth) K((pre - threshold) / bandwidth)."""

    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, grad: Tensor):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        grad_pre = grad * (pre > threshold)
        grad_t = -(threshold / bw) * _rectangle((pre - threshold) / bw) * grad
        return grad_pre, grad_t.reshape(-1, pre.shape[-1]).sum(0), None


class _Step(torch.autograd.Function):
    """``pre > threshold`` as 0/1; d/d threshold = -(1 / bandwidth) K((pre - threshold) / bandwidth)."""

    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        grad_t = -(1.0 / bw) * _rectangle((pre - threshold) / bw) * grad
        return None, grad_t.reshape(-1, pre.shape[-1]).sum(0), None


@register("jumprelu")
class JumpReLUSAE(SAE):
    uses_l0 = True
    saelens_name = "jumprelu"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.threshold = nn.Parameter(torch.full((cfg.d_sae,), cfg.jumprelu_init_threshold,
                                                 dtype=self.W_enc.dtype, device=self.W_enc.device))

    def activate(self, pre: Tensor) -> Tensor:
        return pre.relu() * (pre > self.threshold)

    def train_feats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pre = self.pre_acts(x)
        return _JumpReLU.apply(pre, self.threshold, self.cfg.jumprelu_bandwidth), pre

    def sparsity_losses(self, feats, pre, x, target, x_hat, dead_mask, scale) -> dict[str, Tensor]:
        l0 = _Step.apply(pre, self.threshold, self.cfg.jumprelu_bandwidth).sum(-1).mean()
        # "l0_penalty", not "l0": the trainer logs the loss parts beside its own "l0" (the active-feature count).
        return {"l0_penalty": self.cfg.l0_coefficient * scale * l0}

    @torch.no_grad()
    def after_step_(self) -> None:
        self.threshold.clamp_(min=0.0)

"""BatchTopK SAE (Bussmann et al. 2024; SAELens "batchtopk"): keep the k * batch largest activations of the
whole batch, so rows may use more or fewer than k features. At inference a single threshold (the running
average of the smallest kept activation) replaces the batch-level top-k, so the SAE saves as a JumpReLU SAE.

>>> sae = build_sae(SAEConfig(architecture="batchtopk", d_in=128, d_sae=2048, k=32))
"""

from __future__ import annotations

import torch
from torch import Tensor

from saes.base import SAE
from saes.registry import register
from saes.topk import auxk_loss


@register("batchtopk")
class BatchTopKSAE(SAE):
    needs_k = uses_aux_k = scalar_threshold = True
    saelens_name = "jumprelu"  # the threshold makes it a JumpReLU SAE at inference
    threshold_lr: float = 0.01

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.register_buffer("threshold", torch.zeros((), dtype=self.W_enc.dtype, device=self.W_enc.device))

    def activate(self, pre: Tensor) -> Tensor:
        return pre.relu() * (pre > self.threshold)

    def train_feats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pre = self.pre_acts(x)
        acts = pre.relu()
        flat = acts.flatten()
        vals, idx = flat.topk(min(flat.numel(), self.cfg.k * acts.shape[0]), sorted=False)
        feats = torch.zeros_like(flat).scatter(0, idx, vals).view_as(acts)
        with torch.no_grad():  # running estimate of the inference threshold
            positive = vals[vals > 0]
            if len(positive):
                self.threshold.mul_(1 - self.threshold_lr).add_(self.threshold_lr * positive.min())
        return feats, pre

    def sparsity_losses(self, feats, pre, x, target, x_hat, dead_mask, scale) -> dict[str, Tensor]:
        return {"aux": auxk_loss(self, x, target, x_hat, dead_mask)}

"""Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024; SAELens "matryoshka_batchtopk"): every prefix
of the features (widths ``matryoshka_widths``) must reconstruct the input on its own, so early features learn
general concepts and later ones refine them instead of absorbing them. Inference is BatchTopK's threshold.

>>> sae = build_sae(SAEConfig(architecture="matryoshka_batchtopk", d_in=128, d_sae=2048, k=32,
...                           matryoshka_widths=[128, 512, 2048]))
"""

from __future__ import annotations

from torch import Tensor

from saes.base import LossOutput
from saes.batchtopk import BatchTopKSAE
from saes.registry import register
from saes.topk import auxk_loss


@register("matryoshka_batchtopk")
class MatryoshkaBatchTopKSAE(BatchTopKSAE):
    nested_widths = True  # needs_k, uses_aux_k, scalar_threshold, saelens_name: as BatchTopK

    @classmethod
    def default_widths(cls, d_sae: int) -> list[int]:
        """d_sae / 8, d_sae / 2, d_sae (the sizes that are positive and distinct)."""
        return sorted({w for w in (d_sae // 8, d_sae // 2, d_sae) if w > 0})

    def training_loss(self, x: Tensor, target: Tensor | None = None, *, sparsity_scale: float = 1.0,
                      dead_mask: Tensor | None = None) -> LossOutput:
        target = x if target is None else target
        self.check_width(target, self.cfg.d_out, "output")
        feats, _ = self.train_feats(x)
        skip = self.skip_out(x)
        prefix_mse = []
        for width in self.cfg.matryoshka_widths:
            x_hat = feats[:, :width] @ self.W_dec[:width] + self.b_dec + skip
            prefix_mse.append((x_hat - target).pow(2).sum(-1).mean())
        parts = {"mse": prefix_mse[-1], "prefix_mse": sum(prefix_mse[:-1], x.new_zeros(()))}  # summed over widths
        parts["aux"] = auxk_loss(self, x, target, x_hat, dead_mask)
        active = feats > 0
        return LossOutput(sum(parts.values()), parts, active.any(0), active.sum(-1).float().mean())

"""The standard SAE (Bricken et al. 2023; SAELens "standard"): ReLU features, L1 penalty weighted by decoder norms.

>>> sae = build_sae(SAEConfig(architecture="standard", d_in=128, d_sae=2048, l1_coefficient=5.0))
"""

from __future__ import annotations

from torch import Tensor

from saes.base import SAE, register


@register("standard")
class StandardSAE(SAE):
    def activate(self, pre: Tensor) -> Tensor:
        return pre.relu()

    def sparsity_losses(self, feats, pre, x, target, x_hat, dead_mask, scale) -> dict[str, Tensor]:
        l1 = (feats * self.W_dec.norm(dim=1)).sum(-1).mean()
        return {"l1": self.cfg.l1_coefficient * scale * l1}

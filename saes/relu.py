"""The standard SAE (Bricken et al. 2023; SAELens "standard"): ReLU features, L1 penalty weighted by decoder norms.

>>> sae = build_sae(SAEConfig(architecture="standard", d_in=128, d_sae=2048, l1_coefficient=5.0))
"""

from __future__ import annotations

from torch import Tensor

from saes.base import SAE, LossOutput
from saes.registry import register
from saes.relu_kernel import relu_sae_loss

# The sparse kernel path wins below this fraction of active features (measured on CPU at d_sae 2048).
SPARSE_BELOW = 0.1


@register("standard")
class StandardSAE(SAE):
    uses_l1 = True
    saelens_name = "standard"
    _density = 1.0  # fraction of features active in the last training batch

    def activate(self, pre: Tensor) -> Tensor:
        return pre.relu()

    def sparsity_losses(self, feats, pre, x, target, x_hat, dead_mask, scale) -> dict[str, Tensor]:
        l1 = (feats * self.W_dec.norm(dim=1)).sum(-1).mean()
        return {"l1": self.cfg.l1_coefficient * scale * l1}

    def training_loss(self, x: Tensor, target: Tensor | None = None, *, sparsity_scale: float = 1.0,
                      dead_mask: Tensor | None = None) -> LossOutput:
        """The fused kernel of ``relu_kernel.py`` (same losses and gradients as the generic autograd path, which
        skip-SAEs still take)."""
        if self.cfg.skip:
            return super().training_loss(x, target, sparsity_scale=sparsity_scale, dead_mask=dead_mask)
        x = self.checked_input(x)
        target = x if target is None else target.to(x.dtype)
        self.check_width(target, self.cfg.d_out, "output")
        sparse = self._density < SPARSE_BELOW
        mse, l1, acts = relu_sae_loss(x, target, self.W_enc, self.b_enc, self.W_dec, self.b_dec, self.centers_input,
                                      sparse)
        parts = {"mse": mse, "l1": self.cfg.l1_coefficient * sparsity_scale * l1}
        active = acts > 0
        l0 = active.sum(-1).float().mean()
        self._density = float(l0) / self.cfg.d_sae  # decides the next step's path
        return LossOutput(mse + parts["l1"], parts, active.any(0), l0)

"""Gated SAE (Rajamanoharan et al. 2024; SAELens "gated"): a gate path decides which features fire, a magnitude
path (sharing W_enc, rescaled by exp(r_mag)) decides how strongly, so the L1 penalty on the gate does not shrink
the magnitudes. An auxiliary loss makes the gate path reconstruct on its own (with the decoder frozen).

>>> sae = build_sae(SAEConfig(architecture="gated", d_in=128, d_sae=2048, l1_coefficient=5.0))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saes.base import SAE
from saes.registry import register


@register("gated")
class GatedSAE(SAE):
    uses_l1 = True
    saelens_name = "gated"
    has_b_enc = False

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        dt, dev = self.W_enc.dtype, self.W_enc.device
        self.b_gate = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dt, device=dev))
        self.r_mag = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dt, device=dev))
        self.b_mag = nn.Parameter(torch.zeros(cfg.d_sae, dtype=dt, device=dev))

    def pre_acts(self, x: Tensor) -> Tensor:
        """The gate's pre-activations."""
        return self.sae_in(x) @ self.W_enc + self.b_gate

    def _feats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        sae_in = self.sae_in(x)
        pi_gate = sae_in @ self.W_enc + self.b_gate
        magnitude = (sae_in @ (self.W_enc * self.r_mag.exp()) + self.b_mag).relu()
        return (pi_gate > 0).to(magnitude.dtype) * magnitude, pi_gate

    def encode(self, x: Tensor) -> Tensor:
        return self._feats(x)[0]

    def train_feats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._feats(x)

    def sparsity_losses(self, feats, pre, x, target, x_hat, dead_mask, scale) -> dict[str, Tensor]:
        gate = pre.relu()
        l1 = (gate * self.W_dec.norm(dim=1)).sum(-1).mean()
        via_gate = gate @ self.W_dec.detach() + self.b_dec.detach() + self.skip_out(x)
        aux = (via_gate - target).pow(2).sum(-1).mean()
        return {"l1": self.cfg.l1_coefficient * scale * l1, "aux": aux}

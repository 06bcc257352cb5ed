"""Linear probes: binary logistic regression on activations, the one implementation that steering's probe
direction (``interp.steering.directions``) and the SAE ground-truth metrics (``saes.ground_truth``) share.

Written here (not scikit-learn, which the workbench does not depend on): L-BFGS in float64 on standardised inputs
with an L2 penalty; a few milliseconds per probe at these sizes.

>>> probe = fit_logistic(acts, is_mary)          # acts [n, d], is_mary [n] bool
>>> (probe.logits(other_acts) > 0), probe.direction()
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor


@dataclass
class LogisticProbe:
    """A binary logistic regression on standardised inputs: ``sigmoid(((x - mu) / sd) @ w + b)``."""

    mu: Tensor
    sd: Tensor
    w: Tensor
    b: Tensor

    def logits(self, x: Float[Tensor, "n d"]) -> Float[Tensor, " n"]:
        return ((x.float() - self.mu) / self.sd) @ self.w + self.b

    def direction(self) -> Float[Tensor, " d"]:
        """The probe's direction in the input space (unit norm)."""
        d = self.w / self.sd
        return d / d.norm().clamp(min=1e-12)


def fit_logistic(x: Float[Tensor, "n d"], y: Bool[Tensor, " n"], l2: float = 1e-3, steps: int = 100) -> LogisticProbe:
    """Logistic regression by L-BFGS (``l2`` on the weights of the standardised inputs)."""
    x = x.double()
    mu, sd = x.mean(0), x.std(0).clamp(min=1e-6)
    z = (x - mu) / sd
    w = torch.zeros(x.shape[1], dtype=torch.double, requires_grad=True)
    b = torch.zeros((), dtype=torch.double, requires_grad=True)
    target = y.double()
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z @ w + b, target) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LogisticProbe(mu.float(), sd.float(), w.detach().float(), b.detach().float())

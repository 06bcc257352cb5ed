"""A toy model of superposition (Elhage et al. 2022) as ground truth for SAEs: ``n_features`` sparse features,
each active with probability ``p`` at a random magnitude, embedded along random unit directions in ``d < n``
dimensions. A good SAE's decoder rows recover those directions (mean max cosine similarity near 1).

>>> data = ToyData(n_features=32, d=16, p=0.05, seed=0)
>>> x, feats = data.sample(4096)                      # [4096, 16], [4096, 32]
>>> mean_max_cosine(sae.W_dec, data.true_directions)  # 1.0 = every true feature found
>>> train_on_toy(sae, data, steps=1500)               # a minimal Adam loop, for tests (the trainer is train.py)
"""

from __future__ import annotations

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import trange

from saes.base import SAE


class ToyData:
    def __init__(self, n_features: int = 32, d: int = 16, p: float = 0.05, seed: int = 0) -> None:
        self.n_features, self.d, self.p = n_features, d, p
        self.generator = torch.Generator().manual_seed(seed)
        dirs = torch.randn(n_features, d, generator=self.generator)
        self.true_directions: Float[Tensor, "n_features d"] = dirs / dirs.norm(dim=1, keepdim=True)

    def sample(self, n: int) -> tuple[Float[Tensor, "n d"], Float[Tensor, "n n_features"]]:
        """Activations and the ground-truth feature values that produced them."""
        active = torch.rand(n, self.n_features, generator=self.generator) < self.p
        magnitude = 0.5 + torch.rand(n, self.n_features, generator=self.generator)
        feats = active * magnitude
        return feats @ self.true_directions, feats


def mean_max_cosine(learned: Float[Tensor, "n_learned d"], true: Float[Tensor, "n_true d"]) -> float:
    """For each true direction, the best cosine similarity with any learned direction; averaged."""
    learned = learned.detach()
    a = learned / learned.norm(dim=1, keepdim=True).clamp(min=1e-8)
    b = true / true.norm(dim=1, keepdim=True)
    return float((b @ a.T).max(dim=1).values.mean())


def train_on_toy(sae: SAE, data: ToyData, steps: int = 1500, batch: int = 1024, lr: float = 3e-3,
                 dead_after: int = 50, progress: bool = False) -> list[float]:
    """Adam on fresh toy batches with unit-norm decoder rows (as the real trainer); returns the loss per step.

    Features that have not fired for ``dead_after`` steps are passed as ``dead_mask`` (AuxK for the TopK family)."""
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    since_fired = torch.zeros(sae.cfg.d_sae, dtype=torch.long)
    losses = []
    for _ in trange(steps, disable=not progress, desc="toy SAE"):
        x, _ = data.sample(batch)
        out = sae.training_loss(x, dead_mask=since_fired >= dead_after)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        sae.remove_decoder_parallel_grad_()
        opt.step()
        sae.normalize_decoder_()
        sae.after_step_()
        since_fired = torch.where(out.fired.cpu(), 0, since_fired + 1)
        losses.append(float(out.loss.detach()))
    return losses

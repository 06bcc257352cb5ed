"""Sparse control (Makelov, Lange & Nanda 2024, second axis): move an activation from one attribute value to another
by editing a few dictionary elements, and measure how close it lands to the counterfactual's activation.

- supervised: ``a - u_old + u_new`` (``SupervisedDictionary.edit``);
- SAE, top-F1 swap (the paper's "interpretation-aware" edit, App. A.12): per example, the first ``k`` latents in
  the old value's F1 ranking that are active in this example are removed (their coefficients set to 0), and the
  first ``k`` in the new value's ranking that are active in the counterfactual are added with the
  counterfactual's coefficients;
- SAE, greedy (the paper's "interpretation-agnostic" edit, Sec. 5.1): at most ``budget`` latents moved from their
  value in the example to their value in the counterfactual, each step taking the latent that most reduces the
  distance to the counterfactual's activation (the true activation difference, as the paper does; it stops
  early when no latent helps, where the paper's greedy always takes ``budget``).

The SAE edits add the decoder's change to ``a`` (the SAE's error term kept, as ``saes.hooked`` edits do).
``edit_score = 1 - |edited - target| / |clean - target|`` (ratio of mean norms): 1 lands on the target, 0 no
closer than not editing. ``ioi.py`` scores the edits on the model's logits.

>>> ranking = f1_ranking(feats > 0, labels, values)                 # value -> latents by F1, best first
>>> edited = swap_edit(sae.W_dec, acts, feats, cf_feats, old, new, ranking, k=2)
>>> edit_score(edited, acts, cf_acts)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from jaxtyping import Float
from torch import Tensor


def edit_score(edited: Float[Tensor, "n d"], clean: Float[Tensor, "n d"], target: Float[Tensor, "n d"]) -> float:
    """``1 - mean|edited - target| / mean|clean - target|``."""
    far = (clean.float() - target.float()).norm(dim=-1).mean()
    return float(1 - (edited.float() - target.float()).norm(dim=-1).mean() / far.clamp(min=1e-12))


def swap_edit(w_dec: Float[Tensor, "latents d"], acts: Float[Tensor, "n d"], feats: Float[Tensor, "n latents"],
              cf_feats: Float[Tensor, "n latents"], old: Sequence[str], new: Sequence[str],
              ranking: Mapping[str, list[int]], k: int) -> Float[Tensor, "n d"]:
    """The top-F1 swap: ``ranking[v]`` lists value v's latents by F1, best first; ``k`` latents out and in."""
    z = feats.float().clone()
    for i, (o, n) in enumerate(zip(old, new, strict=True)):
        out = [j for j in ranking[o] if feats[i, j] > 0][:k]
        into = [j for j in ranking[n] if cf_feats[i, j] > 0][:k]
        z[i, out] = 0.0
        z[i, into] = cf_feats[i, into].float()
    return acts.float() + (z - feats.float()) @ w_dec.detach().float()


def greedy_edit(w_dec: Float[Tensor, "latents d"], acts: Float[Tensor, "n d"], feats: Float[Tensor, "n latents"],
                target_feats: Float[Tensor, "n latents"], budget: int,
                target_acts: Float[Tensor, "n d"] | None = None) -> Float[Tensor, "n d"]:
    """At most ``budget`` latents per example moved to their ``target_feats`` values, greedily (largest reduction
    of the squared distance to ``target_acts`` first, or to the target's reconstruction when not given)."""
    w = w_dec.detach().float()
    delta = target_feats.float() - feats.float()  # what moving each latent would change
    residual = (target_acts.float() - acts.float()) if target_acts is not None else delta @ w  # the gap to close
    sq_norm = w.pow(2).sum(1)  # [latents]
    moved = torch.zeros_like(delta, dtype=torch.bool)
    applied = torch.zeros_like(delta)
    rows = torch.arange(len(delta))
    for _ in range(budget):
        # moving latent i closes |r|^2 - |r - delta_i w_i|^2 = 2 delta_i (w_i . r) - delta_i^2 |w_i|^2
        gain = 2 * delta * (residual @ w.T) - delta.pow(2) * sq_norm
        gain[moved | (delta == 0)] = -torch.inf
        best = gain.argmax(1)
        ok = gain[rows, best] > 0
        step = torch.where(ok, delta[rows, best], torch.zeros(()))
        applied[rows, best] += step
        moved[rows[ok], best[ok]] = True
        residual = residual - step[:, None] * w[best]
    return acts.float() + applied @ w

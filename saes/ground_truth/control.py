"""Sparse control (Makelov et al.'s second axis): move an activation from one attribute value to another by
editing a few dictionary elements, and measure how close it lands to the counterfactual's activation.

- supervised: ``a - u_old + u_new`` (``SupervisedDictionary.edit``);
- SAE, top-F1 swap: the ``k`` latents of highest F1 for the old value set to 0, those of the new value set to
  their mean activation on examples with that value; the decoder's change added to ``a`` (the SAE's error term
  kept, as in ``saes.hooked`` edits);
- SAE, greedy: at most ``budget`` latents moved to their values in the counterfactual's encoding, each step
  taking the latent that most reduces the distance between the reconstructions (it sees the target, so it
  bounds what any choice of that many latents can do).

``edit_score = 1 - |edited - target| / |clean - target|`` (ratio of mean norms): 1 lands on the target, 0 no
closer than not editing, negative further away. ``ioi.py`` scores the same edits on the model's logits.

>>> edited = swap_edit(sae.W_dec, acts, feats, old, new, top_latents(active, labels, values, k=2), means)
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


def value_means(feats: Float[Tensor, "n latents"], labels: Sequence[str]) -> dict[str, Tensor]:
    """Each latent's mean activation over the examples of each value."""
    out = {}
    for v in sorted(set(labels)):
        rows = torch.tensor([x == v for x in labels])
        out[v] = feats[rows].float().mean(0)
    return out


def swap_edit(w_dec: Float[Tensor, "latents d"], acts: Float[Tensor, "n d"], feats: Float[Tensor, "n latents"],
              old: Sequence[str], new: Sequence[str], top: Mapping[str, list[int]],
              means: Mapping[str, Tensor]) -> Float[Tensor, "n d"]:
    """The top-F1 swap: ``top[v]`` are the latents of value v, ``means[v]`` their activations on v's examples."""
    z = feats.float().clone()
    for i, (o, n) in enumerate(zip(old, new, strict=True)):
        z[i, top[o]] = 0.0
        z[i, top[n]] = means[n][top[n]]
    return acts.float() + (z - feats.float()) @ w_dec.detach().float()


def greedy_edit(w_dec: Float[Tensor, "latents d"], acts: Float[Tensor, "n d"], feats: Float[Tensor, "n latents"],
                target_feats: Float[Tensor, "n latents"], budget: int) -> Float[Tensor, "n d"]:
    """At most ``budget`` latents per example moved to their ``target_feats`` values, greedily (largest reduction
    of the squared distance between reconstructions first; stops early when no latent helps)."""
    w = w_dec.detach().float()
    delta = target_feats.float() - feats.float()  # what each latent would change
    residual = delta @ w  # [n, d]: the gap to close
    sq_norm = w.pow(2).sum(1)  # [latents]
    applied = torch.zeros_like(delta)
    rows = torch.arange(len(delta))
    for _ in range(budget):
        # moving latent i closes |r|^2 - |r - delta_i w_i|^2 = 2 delta_i (w_i . r) - delta_i^2 |w_i|^2
        gain = 2 * delta * (residual @ w.T) - delta.pow(2) * sq_norm
        gain[applied != 0] = -torch.inf
        gain[delta == 0] = -torch.inf
        best = gain.argmax(1)
        ok = gain[rows, best] > 0
        step = torch.where(ok, delta[rows, best], torch.zeros(()))
        applied[rows, best] += step
        residual = residual - step[:, None] * w[best]
    return acts.float() + applied @ w

"""Concept directions from activations: DiffMean, ActAdd and a linear probe.

>>> pos = text_activations(model, concept_texts, "blocks.1.hook_resid_post")       # [n_tokens, d_model]
>>> neg = text_activations(model, plain_texts, "blocks.1.hook_resid_post")
>>> d = diff_mean(pos, neg)                        # mean(pos) - mean(neg): the DiffMean / CAA direction
>>> d = diff_mean(store_with, store_without, hook="blocks.1.hook_resid_post")   # from cached activations
>>> d = act_add(model, " love", " hate", "blocks.1.hook_resid_post")          # Turner et al.: two prompts
>>> d = probe_direction(pos, neg)                  # a logistic-regression probe's unit weight vector
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.activations.store import ActivationStore
from interp.analysis.hooks import resolve_hook_names
from interp.analysis.probes import fit_logistic
from interp.errors import InputError
from interp.models.tl import HookedTransformer

Activations = Float[Tensor, "n d"] | ActivationStore


def _mean(acts: Activations, hook: str | None, max_rows: int) -> Tensor:
    if isinstance(acts, Tensor):
        if acts.dim() != 2 or acts.shape[0] == 0:
            raise InputError(f"Activations must be a non-empty [n, d] tensor, got shape {tuple(acts.shape)}.")
        return acts.double().mean(0)
    if hook is None:
        raise InputError("Give hook=... to take activations from an ActivationStore.")
    total, rows = None, 0
    while rows < max_rows:
        try:
            batch = next(acts)[hook].double()
        except StopIteration:
            break
        total = batch.sum(0) if total is None else total + batch.sum(0)
        rows += batch.shape[0]
    if total is None:
        raise InputError("The activation store is empty.")
    return total / rows


def diff_mean(positive: Activations, negative: Activations, hook: str | None = None,
              max_rows: int = 1_000_000) -> Float[Tensor, " d"]:
    """The mean activation with the concept minus the mean without it (DiffMean; contrastive activation addition
    when the two sets are paired prompts). Not normalised: at strength 1 ``Add`` moves the mean without the
    concept onto the mean with it."""
    d = _mean(positive, hook, max_rows) - _mean(negative, hook, max_rows)
    return d.float()


@torch.no_grad()
def text_activations(model: HookedTransformer, texts: Sequence[str], hook: str,
                     positions: str = "all") -> Float[Tensor, "n d"]:
    """The activations at ``hook`` on ``texts`` (BOS prepended, never returned; one text per forward pass, so texts
    of any length need no padding): every token's (``all``) or each text's last (``last``), stacked into rows."""
    if positions not in ("all", "last"):
        raise InputError(f"positions={positions!r}: use 'all' or 'last'.")
    (name,) = resolve_hook_names(model, hook)
    if not texts:
        raise InputError("No texts to take activations from.")
    rows = []
    for text in texts:
        tokens = model.to_tokens(text)[:, : model.cfg.n_ctx]
        _, cache = model.run_with_cache(tokens, names_filter=[name])
        act = cache[name][0, 1:]
        rows.append(act[-1:] if positions == "last" else act)
    return torch.cat(rows)


def act_add(model: HookedTransformer, positive: str, negative: str, hook: str) -> Float[Tensor, " d"]:
    """ActAdd (Turner et al. 2023): the activation of ``positive`` minus that of ``negative`` at their last token."""
    return (text_activations(model, [positive], hook, "last") - text_activations(model, [negative], hook, "last"))[0]


def probe_direction(positive: Float[Tensor, "n d"], negative: Float[Tensor, "m d"], steps: int = 300,
                    weight_decay: float = 1e-3) -> Float[Tensor, " d"]:
    """The unit weight vector of a logistic-regression probe separating ``positive`` from ``negative`` rows
    (``interp.analysis.probes``: features standardised for the fit, the weights mapped back to activation space)."""
    x = torch.cat([positive, negative])
    y = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))]).bool()
    return fit_logistic(x, y, l2=weight_decay, steps=steps).direction()

"""The numbers behind the feature dashboards: a per-feature table, and each feature's examples and logits.

``feature_table`` is the one home of a feature's summary numbers (the dashboard index is rendered from it, and
``feature_stats`` copies its row); ``feature_stats`` adds what a feature page shows: the top-activating examples,
examples drawn from quantile intervals of its activation distribution (as SAELens' sae-dashboard does: what the
feature does at moderate strength, not only at its peak), a histogram and the logits its decoder direction moves.

The first position of every token window is left out of all statistics and example choices (the model treats it
as an attention sink, and it is BOS at a document start), though its activation is still shown in context.

>>> acts = feature_acts(model, tokens, sae)                          # [n_seq, pos, d_sae]
>>> feature_table(model, sae, tokens, acts=acts).sort_values("max_act", ascending=False).head(20)
>>> st = feature_stats(model, sae, tokens, [5], acts=acts)[0]       # st.top[0].acts, st.intervals[0].lo, ...
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from saes.errors import SAEError

if TYPE_CHECKING:  # kept out of CLI start-up (the CLI imports SORT_COLUMNS)
    import pandas as pd

    from interp.models.tl import HookedTransformer
    from saes.base import SAE

SORT_COLUMNS = ("max_act", "mean_act", "density", "feature")
"""Columns a dashboard index can be sorted by: the three numbers descending, ``feature`` (the id) ascending."""


class DashboardError(SAEError):
    """A dashboard request that makes no sense (unknown sort column, feature id out of range)."""


@dataclass
class Example:
    """A window of tokens around one token the feature fires on: ``tokens[seq, start : start + len(tokens)]``."""

    seq: int  # row of the token tensor
    pos: int  # position of the chosen token in that row
    start: int  # position of the window's first token
    tokens: list[str]
    acts: list[float]  # the feature's activation on each token of the window

    @property
    def peak(self) -> int:
        """Index of the chosen token inside the window."""
        return self.pos - self.start

    @property
    def value(self) -> float:
        """The feature's activation on the chosen token."""
        return self.acts[self.peak]


@dataclass
class Interval:
    """Examples whose activation lies in ``[lo, hi]``: the ``q_lo``..``q_hi`` quantiles of the firing values."""

    q_lo: float
    q_hi: float
    lo: float
    hi: float
    n_tokens: int  # firing tokens in the interval
    examples: list[Example]


@dataclass
class FeatureStats:
    index: int
    density: float  # fraction of scored tokens on which it fires
    max_act: float
    mean_act: float  # mean activation where it fires (nan if it never does)
    top: list[Example]  # highest activations first
    intervals: list[Interval]  # highest interval first
    acts: Tensor  # its non-zero activations
    promoted: list[tuple[str, float]]  # tokens whose logits its decoder direction raises most
    suppressed: list[tuple[str, float]]
    reads: list[tuple[str, float]] | None  # transcoders: input tokens it reads (de-embedding)

    @property
    def contexts(self) -> list[tuple[list[str], list[float], int]]:
        """The top examples as ``(tokens, activations, peak index)`` tuples (the older view)."""
        return [(e.tokens, e.acts, e.peak) for e in self.top]


def _acts(model: HookedTransformer, tokens: Tensor, sae: SAE, acts: Tensor | None) -> Tensor:
    if acts is not None:
        return acts
    from saes.hooked import feature_acts  # imports TransformerLens: not at module level (see above)

    return feature_acts(model, tokens, sae)


def _tok(model: HookedTransformer, t: int) -> str:
    """The token's text; ``<id>`` without a tokenizer, or for a partial UTF-8 sequence (it decodes to U+FFFD) or
    a control character, which no font draws."""
    text = model.tokenizer.decode([t]) if model.tokenizer is not None else "\ufffd"
    unreadable = "\ufffd" in text or any(c not in "\n\t" and unicodedata.category(c) == "Cc" for c in text)
    return f"<{t}>" if unreadable else text


def _scored(acts: Float[Tensor, "n_seq pos d_sae"]) -> Float[Tensor, "n_seq pos_minus_1 d_sae"]:
    return acts[:, 1:]


def density(acts: Float[Tensor, "n_seq pos d_sae"]) -> Float[Tensor, " d_sae"]:
    """Fraction of scored tokens (first window position left out) on which each feature fires."""
    return (_scored(acts) > 0).float().mean(dim=(0, 1))


def _check_features(sae: SAE, features: Sequence[int]) -> list[int]:
    bad = [f for f in features if not 0 <= int(f) < sae.cfg.d_sae]
    if bad:
        raise DashboardError(f"Feature ids {bad} are out of range: this SAE has features 0..{sae.cfg.d_sae - 1}.")
    return [int(f) for f in features]


def _output_directions(model: HookedTransformer, sae: SAE, features: list[int]) -> Tensor | None:
    """``[n, d_model]``: the features' decoder rows in the residual stream, or None if they do not map there."""
    rows = sae.W_dec.detach()[features].float().cpu()
    out_hook = sae.cfg.hook_name_out or sae.cfg.hook_name
    if out_hook.endswith("attn.hook_z"):  # [n, heads * d_head] -> through W_O into the residual stream
        W_O = model.W_O[int(out_hook.split(".")[1])].detach().float().cpu()  # [heads, d_head, d_model]
        return torch.einsum("nhd,hdm->nm", rows.unflatten(-1, W_O.shape[:2]), W_O)
    return rows if rows.shape[-1] == model.cfg.d_model else None


@torch.no_grad()
def _logits(model: HookedTransformer, sae: SAE, features: list[int], n: int
            ) -> list[tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
    """Per feature: the ``n`` tokens whose logits its decoder direction raises most, and lowers most."""
    dirs = _output_directions(model, sae, features)
    if dirs is None:
        return [([], []) for _ in features]
    logits = dirs @ model.W_U.detach().float().cpu()  # [n_features, d_vocab]
    up, down = logits.topk(n, dim=-1), (-logits).topk(n, dim=-1)
    return [([(_tok(model, int(i)), float(v)) for v, i in zip(up.values[j], up.indices[j], strict=True)],
             [(_tok(model, int(i)), -float(v)) for v, i in zip(down.values[j], down.indices[j], strict=True)])
            for j in range(len(features))]


@torch.no_grad()
def feature_table(model: HookedTransformer, sae: SAE, tokens: Tensor, features: Sequence[int] | None = None,
                  acts: Tensor | None = None, n_top: int = 5) -> pd.DataFrame:
    """One row per feature (index ``feature``; default every feature): ``density``, ``max_act``, ``mean_act``
    (mean where it fires), ``top_tokens`` (the tokens of its ``n_top`` highest activations, distinct) and
    ``promotes`` (the ``n_top`` tokens whose logits its decoder direction raises most; empty if it does not
    write to the residual stream). ``tokens``: [n_seq, pos]; ``acts``: its feature activations if already computed.
    """
    import pandas as pd

    acts = _acts(model, tokens, sae, acts)
    tokens = tokens.cpu()
    features = list(range(sae.cfg.d_sae)) if features is None else _check_features(sae, features)
    a = _scored(acts)[..., features].flatten(0, 1).float()  # [n_scored, n_features]
    fires = a > 0
    n_fire = fires.sum(0)
    mean = torch.where(n_fire > 0, (a * fires).sum(0) / n_fire.clamp(min=1), torch.nan)
    top = a.topk(min(n_top, a.shape[0]), dim=0)  # [n_top, n_features]
    tok_ids = tokens[:, 1:].flatten()[top.indices.cpu()]
    top_tokens = [list(dict.fromkeys(_tok(model, int(t)) for t, v in zip(tok_ids[:, j], top.values[:, j],
                                                                          strict=True) if v > 0))
                  for j in range(len(features))]
    promotes = [[t for t, _ in up] for up, _ in _logits(model, sae, features, n_top)] if features else []
    return pd.DataFrame({"density": (n_fire / a.shape[0]).tolist(), "max_act": a.max(0).values.tolist(),
                         "mean_act": mean.tolist(), "top_tokens": top_tokens, "promotes": promotes},
                        index=pd.Index(features, name="feature"))


def sort_features(table: pd.DataFrame, by: str = "max_act") -> pd.DataFrame:
    """``table`` (from ``feature_table``) sorted by one of ``SORT_COLUMNS``: numbers descending, ids ascending."""
    if by not in SORT_COLUMNS:
        raise DashboardError(f"Cannot sort features by {by!r}: choose one of {', '.join(SORT_COLUMNS)}.")
    if by == "feature":
        return table.sort_index()
    return table.sort_values([by], ascending=False, kind="stable", na_position="last")


def _example(model: HookedTransformer, tokens: Tensor, a: Tensor, seq: int, pos: int, before: int,
             after: int) -> Example:
    lo, hi = max(0, pos - before), min(a.shape[1], pos + after + 1)
    return Example(seq, pos, lo, [_tok(model, int(t)) for t in tokens[seq, lo:hi]], a[seq, lo:hi].tolist())


def _intervals(model: HookedTransformer, tokens: Tensor, a: Tensor, shown: set[int], n_intervals: int,
               per_interval: int, before: int, after: int, gen: torch.Generator) -> list[Interval]:
    """Equal-count quantile intervals of the firing values, highest first, each with random examples not
    already shown among the top ones."""
    flat = a[:, 1:].flatten()
    firing = flat[flat > 0]
    if n_intervals <= 0 or firing.numel() == 0:
        return []
    qs = np.linspace(0, 1, n_intervals + 1)
    edges = np.quantile(firing.double().numpy(), qs)
    out = []
    for i in reversed(range(n_intervals)):
        lo, hi = float(edges[i]), float(edges[i + 1])
        upper = flat <= hi if i == n_intervals - 1 else flat < hi
        inside = ((flat >= lo) & upper & (flat > 0)).nonzero().flatten()
        if i == n_intervals - 1 or (lo < hi):
            n_in = int(inside.numel())
        else:
            n_in = 0  # an empty interval (ties at one value): counted in the one above
            inside = inside[:0]
        free = inside[~torch.isin(inside, torch.tensor(sorted(shown), dtype=inside.dtype))]
        chosen = free[torch.randperm(free.numel(), generator=gen)[:per_interval]]
        chosen = chosen[flat[chosen].argsort(descending=True)]
        width = a.shape[1] - 1
        out.append(Interval(float(qs[i]), float(qs[i + 1]), lo, hi, n_in,
                            [_example(model, tokens, a, int(j) // width, int(j) % width + 1, before, after)
                             for j in chosen]))
    return out


@torch.no_grad()
def feature_stats(model: HookedTransformer, sae: SAE, tokens: Tensor, features: Sequence[int], n_contexts: int = 10,
                  window: int = 8, n_logits: int = 10, acts: Tensor | None = None, n_intervals: int = 4,
                  per_interval: int = 5, after: int = 2, seed: int = 0) -> list[FeatureStats]:
    """What each feature's page shows. Examples span ``window`` tokens before the chosen one and ``after``
    after it; ``n_intervals`` equal-count quantile intervals of the firing values get ``per_interval`` random
    examples each (``seed`` fixes the draw)."""
    acts = _acts(model, tokens, sae, acts)  # [n_seq, pos, d_sae]
    tokens = tokens.cpu()
    features = _check_features(sae, features)
    table = feature_table(model, sae, tokens, features, acts=acts)
    logits = _logits(model, sae, features, n_logits)
    gen = torch.Generator().manual_seed(seed)
    width = tokens.shape[1] - 1
    out = []
    for f, (promoted, suppressed) in zip(features, logits, strict=True):
        a = acts[..., f].float().cpu()  # [n_seq, pos]
        flat = a[:, 1:].flatten()
        n_top = min(n_contexts, int((flat > 0).sum()))
        top_idx = flat.topk(n_top).indices.tolist() if n_top else []
        top = [_example(model, tokens, a, i // width, i % width + 1, window, after) for i in top_idx]
        intervals = _intervals(model, tokens, a, set(top_idx), n_intervals, per_interval, window, after, gen)
        reads = None
        if sae.cfg.is_transcoder and sae.cfg.d_in == model.cfg.d_model:
            emb = model.W_E.detach().float().cpu()
            emb = (emb - emb.mean(-1, keepdim=True)) / emb.std(-1, keepdim=True)  # as LayerNorm would see them
            r = (emb @ sae.W_enc[:, f].detach().float().cpu()).topk(n_logits)
            reads = [(_tok(model, int(i)), float(v)) for v, i in zip(r.values, r.indices, strict=True)]
        row = table.loc[f]
        out.append(FeatureStats(f, float(row.density), float(row.max_act), float(row.mean_act), top, intervals,
                                flat[flat > 0], promoted, suppressed, reads))
    return out

"""Interpretability against known labels: each latent's F1 as a detector of each attribute value, the best latent
per value and the latents that split a value between them (Makelov et al.'s third axis; SAEBench's feature
splitting, measured here on exact labels).

A latent "detects" value v when it is active (> 0); precision = P(attr = v | active), recall =
P(active | attr = v). Tokens with no label for the attribute count as negatives for every value.

>>> table = latent_f1(feats > 0, labels["character"])     # one row per value: best latent, F1, splits
>>> table.f1.mean()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pandas as pd
import torch
from jaxtyping import Bool, Float
from torch import Tensor


def _onehot(labels: Sequence[str], values: Sequence[str]) -> Float[Tensor, "n values"]:
    index = {v: i for i, v in enumerate(values)}
    out = torch.zeros(len(labels), len(values))
    rows = [(i, index[x]) for i, x in enumerate(labels) if x in index]
    if rows:
        r, c = zip(*rows, strict=True)
        out[list(r), list(c)] = 1.0
    return out


def f1_matrix(active: Bool[Tensor, "n latents"], labels: Sequence[str],
              values: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    """(precision, recall, F1), each ``[latents, values]``, of every latent as a detector of every value."""
    y = _onehot(labels, values)
    act = active.float()
    tp = act.T @ y  # [latents, values]
    fired = act.sum(0)[:, None]
    pos = y.sum(0)[None, :]
    precision = tp / fired.clamp(min=1)
    recall = tp / pos.clamp(min=1)
    f1 = 2 * tp / (fired + pos).clamp(min=1)
    return precision, recall, f1


def latent_f1(active: Bool[Tensor, "n latents"], labels: Sequence[str], min_count: int = 8,
              split_precision: float = 0.8, split_recall: float = 0.05) -> pd.DataFrame:
    """Per value with at least ``min_count`` examples: the best latent, its F1, precision and recall; the latents
    that split the value (precision >= ``split_precision`` and recall >= ``split_recall`` each: several narrow
    detectors of the same value) and the recall of their union."""
    counts = Counter(x for x in labels if x)
    values = sorted(v for v, c in counts.items() if c >= min_count)
    if not values:
        return pd.DataFrame(columns=["value", "count", "best_latent", "f1", "precision", "recall", "n_split",
                                     "split_latents", "split_union_recall"])
    precision, recall, f1 = f1_matrix(active, labels, values)
    y = _onehot(labels, values).bool()
    rows = []
    for j, v in enumerate(values):
        best = int(f1[:, j].argmax())
        split = torch.nonzero((precision[:, j] >= split_precision) & (recall[:, j] >= split_recall)).flatten()
        split = split[recall[split, j].argsort(descending=True)].tolist()
        union = float((active[:, split].any(1) & y[:, j]).sum() / y[:, j].sum()) if split else 0.0
        rows.append(dict(value=v, count=counts[v], best_latent=best, f1=float(f1[best, j]),
                         precision=float(precision[best, j]), recall=float(recall[best, j]), n_split=len(split),
                         split_latents=split, split_union_recall=union))
    return pd.DataFrame(rows)


def f1_ranking(active: Bool[Tensor, "n latents"], labels: Sequence[str], values: Sequence[str],
               depth: int = 64) -> dict[str, list[int]]:
    """Each value's ``depth`` latents of highest F1, best first (the ranking sparse control draws from)."""
    _, _, f1 = f1_matrix(active, labels, values)
    return {v: f1[:, j].topk(min(depth, f1.shape[0])).indices.tolist() for j, v in enumerate(values)}


def interpretable_latents(active: Bool[Tensor, "n latents"], labels: Sequence[str], threshold: float = 0.8,
                          min_count: int = 8) -> int:
    """Latents whose best interpretation among the attribute's values (those with >= ``min_count`` examples) has
    F1 >= ``threshold``: the paper's per-latent count (its predicate set is richer: unions of names, gender)."""
    counts = Counter(x for x in labels if x)
    values = sorted(v for v, c in counts.items() if c >= min_count)
    if not values:
        return 0
    _, _, f1 = f1_matrix(active, labels, values)
    return int((f1.max(1).values >= threshold).sum())

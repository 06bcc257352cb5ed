"""k-sparse probing (Gurnee et al. 2023; SAEBench): can k SAE latents classify an attribute as well as a dense probe
on the activations? For each attribute value (one against the attribute's other values, balanced), the k latents
whose mean activation differs most between the classes are chosen on the training split, a logistic regression
is fitted on them, and its test accuracy is set beside a dense probe's on the raw activations.

The probes are ``interp.analysis.probes`` (logistic regression by L-BFGS).

>>> frame = sparse_probing(acts, feats, {"category": labels["category"]}, ks=(1, 2, 5))
>>> frame.groupby("attribute")[["dense", "k1", "k5"]].mean()
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.probes import LogisticProbe, fit_logistic


def accuracy(probe: LogisticProbe, x: Tensor, y: Tensor) -> float:
    return float(((probe.logits(x) > 0) == y).float().mean())


def balanced_split(labels: Sequence[str], value: str, max_per_class: int, seed: int,
                   test_share: float = 0.2) -> tuple[list[int], list[int]]:
    """Row indices (train, test) of a balanced one-against-the-rest task: ``value`` against the attribute's other
    (non-empty) values."""
    rng = random.Random(seed)
    pos = [i for i, x in enumerate(labels) if x == value]
    neg = [i for i, x in enumerate(labels) if x and x != value]
    n = min(len(pos), len(neg), max_per_class)
    pos, neg = rng.sample(pos, n), rng.sample(neg, n)
    cut = int(n * (1 - test_share))
    return pos[:cut] + neg[:cut], pos[cut:] + neg[cut:]


def sparse_probing(acts: Float[Tensor, "n d"], feats: Float[Tensor, "n latents"],
                   labels: Mapping[str, Sequence[str]], ks: Sequence[int] = (1, 2, 5), min_count: int = 40,
                   max_per_class: int = 400, seed: int = 0) -> pd.DataFrame:
    """Per (attribute, value) with at least ``min_count`` examples: test accuracy of a dense probe on ``acts``
    (column ``dense``) and of probes on the top-k latents of ``feats`` (columns ``k1``, ``k2``, ...)."""
    rows = []
    for attr, values in labels.items():
        counts = Counter(x for x in values if x)
        for value in sorted(v for v, c in counts.items() if c >= min_count):
            if len(counts) < 2:
                continue
            train, test = balanced_split(values, value, max_per_class, seed)
            y = torch.tensor([values[i] == value for i in range(len(values))])
            ytr, yte = y[train], y[test]
            row = dict(attribute=attr, value=value, n_train=len(train))
            row["dense"] = accuracy(fit_logistic(acts[train], ytr), acts[test], yte)
            ftr = feats[train].float()
            gap = (ftr[ytr].mean(0) - ftr[~ytr].mean(0)).abs()
            for k in ks:
                top = gap.topk(min(k, gap.numel())).indices
                row[f"k{k}"] = accuracy(fit_logistic(ftr[:, top], ytr), feats[test][:, top], yte)
            rows.append(row)
    return pd.DataFrame(rows)

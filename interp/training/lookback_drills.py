"""Lookback drills: rows of random (value, key) token pairs, then each key followed by its value, mixed into
training batches so that the lookback forms: attend to an earlier key and output the token *before* it.

Colored objects ("a black brush ... What color is the brush? It is" -> black) and multiple choice ("B. green ...
Answer:" -> B) both need it: the mirror image of induction, which outputs the token after the key. The corpus alone
did not teach it to the 4-layer studies model, nor did dense drills of natural scenes (docs/circuit-formation.md,
"The lookback"). Half the groups put a filler token between value and key ("B . green"), half the queries one
between key and value, so the circuit also works across a gap. Loss is on the values of the queries only.

>>> rows, answers = lookback_rows(vocab, n_rows=6, length=129, seed=(0, step, micro, 1))   # [6, 129] each
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from jaxtyping import Bool, Int
from torch import Tensor


def lookback_row(rng: np.random.Generator, vocab: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """One row of groups: 3-8 (value, key) pairs of distinct tokens, then every key, in a random order, followed
    by its value; cut to ``length``. Returns the tokens and where the queried values are (the tokens with a loss)."""
    ids: list[int] = []
    answer: list[bool] = []
    while len(ids) < length:
        n = int(rng.integers(3, 9))
        drawn = vocab[rng.choice(len(vocab), size=2 * n, replace=False)].tolist()
        values, keys = drawn[:n], drawn[n:]
        filler = [int(vocab[rng.integers(len(vocab))])] if rng.random() < 0.5 else []
        for v, k in zip(values, keys, strict=True):
            ids += [v, *filler, k]
            answer += [False] * (2 + len(filler))
        for j in rng.permutation(n):
            tail = [int(vocab[rng.integers(len(vocab))])] if rng.random() < 0.5 else []
            ids += [keys[j], *tail, values[j]]
            answer += [False] * (1 + len(tail)) + [True]
    return np.array(ids[:length], dtype=np.int64), np.array(answer[:length])


def lookback_rows(vocab: np.ndarray, n_rows: int, length: int, seed: Sequence[int]
                  ) -> tuple[Int[Tensor, "n_rows length"], Bool[Tensor, "n_rows length"]]:
    """``n_rows`` lookback rows and their answer masks, a function of ``seed`` alone (every process builds the same)."""
    rng = np.random.default_rng(list(seed))
    drilled = [lookback_row(rng, vocab, length) for _ in range(n_rows)]
    return (torch.from_numpy(np.stack([row for row, _ in drilled])),
            torch.from_numpy(np.stack([answer for _, answer in drilled])))

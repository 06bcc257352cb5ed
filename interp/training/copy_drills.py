"""Copy drills: rows of random tokens, each sequence followed by its exact repeat, mixed into training batches
so that an induction circuit forms within a small budget.

On the story corpus alone a 2-layer model at 32 x 128 tokens per step had no working induction circuit by step
4,500. With 40% of its rows drills (loss on the repeats only) it had one ~500 steps after the drills started. Drills
from the start held IOI back; the quickstart runs them in steps 2,000-3,249 of 4,000, after the corpus has taught
IOI, and uses 8 heads, since with 4 the new induction head also voted for the wrong name in IOI prompts
(docs/circuit-formation.md; ``TrainConfig.copy_drill_start``). Drill tokens are the tokens the training data itself
uses often, so drills teach copying, not new tokens.

>>> vocab = drill_vocab(TokenShards("runs/data/train"))
>>> rows = drill_rows(vocab, n_rows=6, length=129, seed=(0, step, micro))   # [6, 129]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.data.shards import TokenShards
from interp.errors import ConfigError

# (vocab, n_rows, length, seed) -> the rows [n_rows, length] and where their answers are (the tokens with a loss).
RowMaker = Callable[[np.ndarray, int, int, Sequence[int]], tuple[Tensor, Tensor]]


def drill_vocab(data: TokenShards, sample_tokens: int = 1_000_000, min_count: int = 20) -> np.ndarray:
    """Token ids seen at least ``min_count`` times in the first ``sample_tokens`` tokens of ``data``."""
    counts = np.bincount(data.window(0, min(sample_tokens, data.n_tokens)), minlength=data.vocab_size)
    ids = np.flatnonzero(counts >= min_count)
    if len(ids) < 2:
        raise ConfigError(f"Copy drills need tokens that the data uses at least {min_count} times; {data.path} has "
                          f"{len(ids)}. Use more data or copy_drill_frac=0.")
    return ids


def drill_row(rng: np.random.Generator, vocab: np.ndarray, length: int) -> tuple[np.ndarray, list[int]]:
    """One row: random sequences of 5 to ``length // 2`` tokens, each followed by itself, cut to ``length``;
    and the sequences' lengths."""
    parts, lengths, filled = [], [], 0
    while filled < length:
        n = int(rng.integers(5, max(5, length // 2) + 1))
        seq = vocab[rng.integers(len(vocab), size=n)]
        parts += [seq, seq]
        lengths.append(n)
        filled += 2 * n
    return np.concatenate(parts)[:length], lengths


def repeat_mask(lengths: Sequence[int], length: int) -> np.ndarray:
    """True where a drill row of sequences ``lengths`` holds a repeat (a token predictable from the context)."""
    return np.concatenate([np.repeat([False, True], n) for n in lengths])[:length]


def drill_rows(vocab: np.ndarray, n_rows: int, length: int, seed: Sequence[int]
               ) -> tuple[Int[Tensor, "n_rows length"], Bool[Tensor, "n_rows length"]]:
    """``n_rows`` drill rows and their repeat masks, a function of ``seed`` alone (every process builds the same)."""
    rng = np.random.default_rng(list(seed))
    drilled = [drill_row(rng, vocab, length) for _ in range(n_rows)]
    rows = np.stack([row for row, _ in drilled]).astype(np.int64)
    masks = np.stack([repeat_mask(lengths, length) for _, lengths in drilled])
    return torch.from_numpy(rows), torch.from_numpy(masks)


def drill_span(frac: float, global_rows: int, first_row: int, local_rows: int, offset: int = 0
               ) -> tuple[int, int, int]:
    """(n, lo, hi): a drill kind's ``round(frac * global_rows)`` rows start at global row ``offset``; of this
    process's ``local_rows`` rows (from global row ``first_row``), ``[lo, hi)`` are drills."""
    n = round(frac * global_rows)
    return n, max(0, offset - first_row), max(0, min(offset + n - first_row, local_rows))


def weighted_drill_loss(per_token: Float[Tensor, "rows pos"], targets: Int[Tensor, "rows pos"], lo: int, hi: int,
                        weight: float) -> Float[Tensor, ""]:
    """The mean loss of the tokens with a target outside rows ``[lo, hi)``, plus ``weight`` times the mean loss of
    the answers in those rows (a drill kind's): the drills' gradient no longer shrinks with their share of the
    batch's tokens. A part with no tokens adds 0.

    Averaged with the corpus, drill answers that are ~20% of a row's tokens in 30% of the rows get ~6% of the loss:
    lookback drills mixed that way never formed the circuit (docs/circuit-formation.md)."""
    in_span = torch.zeros_like(targets, dtype=torch.bool)
    in_span[lo:hi] = True
    scored = targets >= 0

    def mean(mask: Tensor) -> Tensor:
        return per_token[mask].sum() / mask.sum().clamp(min=1)

    return mean(scored & ~in_span) + weight * mean(scored & in_span)


def mix_drills(batch: Int[Tensor, "rows length"], vocab: np.ndarray, frac: float, global_rows: int, first_row: int,
               seed: Sequence[int], make_rows: RowMaker | None = None, offset: int = 0,
               targets: Int[Tensor, "rows length-1"] | None = None
               ) -> tuple[Int[Tensor, "rows length"], Int[Tensor, "rows length-1"]]:
    """Replace rows ``[offset, offset + round(frac * global_rows))`` of a micro-batch, counted across all processes,
    by drills (``make_rows``: copy drills by default; ``lookback_drills.lookback_rows``); return the batch and its
    next-token targets (``targets``: those of an earlier mix, else the batch's own). ``batch`` holds this process's
    rows, starting at global row ``first_row``.

    A drill's first copies are random tokens that nothing in the context predicts, so their targets are -1 (no
    loss): training on them only adds noise and pulls the model towards the drill vocabulary's uniform unigram
    distribution. Without them induction formed in ~1,500 steps instead of ~3,500-4,500
    (docs/circuit-formation.md)."""
    n, lo, hi = drill_span(frac, global_rows, first_row, batch.shape[0], offset)
    targets = batch[:, 1:].clone() if targets is None else targets
    if hi > lo:
        rows, answers = (make_rows or drill_rows)(vocab, n, batch.shape[1], seed)
        mine = slice(first_row + lo - offset, first_row + hi - offset)
        batch[lo:hi] = rows[mine]
        targets[lo:hi] = torch.where(answers[mine, 1:], batch[lo:hi, 1:], -1)
    return batch, targets

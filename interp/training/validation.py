"""Validation loss of a ``GPT`` on a token-shard split: the trainer's periodic evaluation and ``interp eval``'s.

>>> validation_loss(gpt, "runs/data/val", max_tokens=100_000)
"""

from __future__ import annotations

from pathlib import Path

import torch

from interp.data.shards import TokenShards
from interp.models.gpt import GPT


@torch.no_grad()
def validation_loss(gpt: GPT, val_dir: str | Path, max_tokens: int = 200_000, batch_size: int = 16) -> float:
    """Mean next-token loss over the first ``max_tokens`` tokens of a validation shard set (fixed positions)."""
    shards = TokenShards(val_dir)
    ctx = gpt.cfg.n_ctx
    n_windows = max(1, min(max_tokens, shards.n_tokens - 1) // ctx)
    starts = [i * ctx for i in range(n_windows) if i * ctx + ctx + 1 <= shards.n_tokens]
    device = next(gpt.parameters()).device
    total, count = 0.0, 0
    gpt.eval()
    for i in range(0, len(starts), batch_size):
        batch = shards.batch(starts[i : i + batch_size], ctx + 1).to(device)
        _, loss = gpt(batch[:, :-1], targets=batch[:, 1:])
        total += float(loss) * batch.shape[0]
        count += batch.shape[0]
    return total / max(count, 1)

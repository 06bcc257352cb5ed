"""``interp eval RUN_DIR``: validation loss and the probe-task scores of a run, written to ``eval.json``.

>>> results = evaluate_run("runs/quickstart/model")
>>> results["ioi"]["accuracy"]
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from interp.io import atomic_write_json, git_commit, read_json
from interp.model import GPT


@torch.no_grad()
def validation_loss(gpt: GPT, val_dir: str | Path, max_tokens: int = 200_000, batch_size: int = 16) -> float:
    """Mean next-token loss over the first ``max_tokens`` tokens of a validation shard set (fixed positions)."""
    from interp.shards import TokenShards

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


def evaluate_run(
    run_dir: str | Path, n_prompts: int = 200, seed: int = 0, tasks: list[str] | None = None,
    val_tokens: int = 200_000, device: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run directory and write ``RUN_DIR/eval.json``; returns the same dict."""
    from interp.convert import to_hooked
    from interp.evaluate import evaluate_tasks
    from interp.loading import load_gpt_and_tokenizer

    run_dir = Path(run_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.time()
    gpt, tokenizer = load_gpt_and_tokenizer(run_dir, device="cpu")
    results: dict[str, Any] = {}
    data_dir = read_json(run_dir / "train_config.json").get("data_dir") if (run_dir / "train_config.json").exists() else None
    if data_dir and (Path(data_dir) / "val").exists():
        results["val_loss"] = validation_loss(gpt.to(device), Path(data_dir) / "val", max_tokens=val_tokens)
        results["val_perplexity"] = math.exp(results["val_loss"])
    hooked = to_hooked(gpt.cpu(), tokenizer, device=device)
    results.update(evaluate_tasks(hooked, n_prompts=n_prompts, seed=seed, tasks=tasks))
    results["meta"] = {"n_prompts": n_prompts, "seed": seed, "seconds": round(time.time() - t0, 1),
                       "git_commit": git_commit()}
    atomic_write_json(run_dir / "eval.json", results)
    return results

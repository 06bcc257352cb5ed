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
from interp.training.validation import validation_loss


def evaluate_run(
    run_dir: str | Path, n_prompts: int = 200, seed: int = 0, tasks: list[str] | None = None,
    val_tokens: int = 200_000, device: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run directory and write ``RUN_DIR/eval.json``; returns the same dict."""
    from interp.models.convert import to_hooked
    from interp.models.loading import load_gpt_and_tokenizer
    from interp.tasks.suite import evaluate_tasks

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

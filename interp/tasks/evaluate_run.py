"""``interp eval RUN_DIR``: validation loss and the probe-task scores of a run, merged into ``eval.json``.

>>> results = evaluate_run("runs/quickstart/model")
>>> results["ioi"]["accuracy"]
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

from interp.devices import resolve_device
from interp.errors import RunDirError
from interp.io import atomic_write_json, git_commit, read_json
from interp.layout import DataLayout, RunLayout
from interp.training.validation import validation_loss


def score_run(
    run_dir: str | Path, n_prompts: int = 200, seed: int = 0, tasks: list[str] | None = None,
    val_tokens: int = 200_000, device: str | None = None, data_dir: str | Path | None = None, progress: bool = True,
) -> dict[str, Any]:
    """A run's validation loss and task scores, written nowhere (``evaluate_run`` merges them into ``eval.json``).

    ``meta`` says which checkpoint was scored. The validation loss is left out, with a warning, when the run's data
    is not found and no ``data_dir`` is given.
    """
    from interp.models.convert import to_hooked
    from interp.models.loading import load_gpt_and_tokenizer
    from interp.tasks.suite import score_tasks
    from interp.training.checkpoint import resolve_checkpoint

    run = RunLayout(run_dir)
    device = str(resolve_device(device))
    gpt, tokenizer = load_gpt_and_tokenizer(run.root, device="cpu")
    results: dict[str, Any] = {}
    try:
        data = Path(data_dir) if data_dir is not None else run.data_dir()
        results["val_loss"] = validation_loss(gpt.to(device), DataLayout(data).val, max_tokens=val_tokens)
        results["val_perplexity"] = math.exp(results["val_loss"])
    except RunDirError as err:
        warnings.warn(f"validation loss not computed: {err}", stacklevel=2)
    hooked = to_hooked(gpt.cpu(), tokenizer, device=device)
    results.update(score_tasks(hooked, n_prompts=n_prompts, seed=seed, tasks=tasks, progress=progress))
    return {**results, "meta": {"checkpoint": resolve_checkpoint(run.root).name}}


def evaluate_run(
    run_dir: str | Path, n_prompts: int = 200, seed: int = 0, tasks: list[str] | None = None,
    val_tokens: int = 200_000, device: str | None = None, data_dir: str | Path | None = None, progress: bool = True,
) -> dict[str, Any]:
    """Evaluate a run directory (``score_run``) and merge the results into ``RUN_DIR/eval.json``; returns the
    whole file.

    Results already in ``eval.json`` that this call does not recompute (other tasks, or the validation loss when
    the data is not found) are kept, each with its own entry in ``meta["entries"]`` saying which checkpoint,
    prompt count and seed produced it, so a subset evaluation never drops earlier results.
    """
    run = RunLayout(run_dir)
    t0 = time.time()
    results = score_run(run_dir, n_prompts, seed, tasks, val_tokens, device, data_dir, progress)
    checkpoint = results.pop("meta")["checkpoint"]
    entry = {"checkpoint": checkpoint, "n_prompts": n_prompts, "seed": seed, "git_commit": git_commit(),
             "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    merged = _merge(read_json(run.eval) if run.eval.exists() else {}, results, entry)
    merged["meta"].update({"n_prompts": n_prompts, "seed": seed, "seconds": round(time.time() - t0, 1),
                           "git_commit": entry["git_commit"], "checkpoint": checkpoint})
    stale = sorted(k for k, e in merged["meta"]["entries"].items() if e.get("checkpoint") != checkpoint)
    if stale:
        warnings.warn(f"{run.eval} keeps {stale} from an earlier checkpoint than {checkpoint}; evaluate them again "
                      "to refresh (interp eval without --tasks recomputes everything).", stacklevel=2)
    atomic_write_json(run.eval, merged)
    return merged


def _merge(old: dict[str, Any], new: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """``old`` updated with ``new``; ``meta.entries`` records what produced each result."""
    old_meta = old.get("meta", {})
    entries = dict(old_meta.get("entries") or {k: {key: old_meta.get(key) for key in ("n_prompts", "seed", "git_commit")}
                                              for k in old if k != "meta"})
    merged = {k: v for k, v in old.items() if k != "meta"}
    merged.update(new)
    entries.update({k: entry for k in new})
    return {**merged, "meta": {"entries": entries}}

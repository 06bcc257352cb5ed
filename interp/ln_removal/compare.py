"""What a LayerNorm removal is judged by: scores before and after as one table, and the direct-logit-attribution
check (on the LN-free model the components sum to the logit difference exactly, with no scale to divide out).

>>> comparison_frame(read_json("runs/quickstart/model-noLN/ln_removal.json"))
>>> dla_check("runs/quickstart/model", "runs/quickstart/model-noLN")["ln_free"]["error"]   # ~1e-6
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import torch

_COLUMNS = {"parent": "parent", "baseline_ln_kept": "fine-tuned, LN kept", "ln_free": "LN-free"}


def flat_scores(scores: dict[str, Any]) -> dict[str, float]:
    """``{"val_loss": 1.7, "ioi accuracy": 0.95, ...}`` from an ``eval.json``-shaped dict (numbers only)."""
    flat: dict[str, float] = {}
    for task, value in scores.items():
        if isinstance(value, dict):
            flat.update({f"{task} {k}": float(v) for k, v in value.items() if isinstance(v, (int, float))
                         and not isinstance(v, bool)})
        elif isinstance(value, (int, float)) and task != "meta":
            flat[task] = float(value)
    return flat


def comparison_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per metric: the parent, the fine-tune with LayerNorm kept (when run), the LN-free model, and the
    LN-free model's change against each."""
    cols = {_COLUMNS[k]: flat_scores(v) for k, v in summary["scores"].items()}
    frame = pd.DataFrame(cols).reindex(columns=[c for c in _COLUMNS.values() if c in cols])
    frame["LN-free - parent"] = frame["LN-free"] - frame["parent"]
    if "fine-tuned, LN kept" in frame:
        frame["LN-free - LN kept"] = frame["LN-free"] - frame["fine-tuned, LN kept"]
    frame.index.name = "metric"
    return frame


def ioi_batch(model, n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(tokens [b, pos], io [b], s [b])``: up to ``n`` IOI prompts of the most common token length (so they stack
    into one batch without padding), with the indirect object's and the subject's first tokens."""
    from interp.tasks.ioi import ioi_prompts
    from interp.tasks.scoring import encode, first_token_id

    data = ioi_prompts(4 * n, seed)
    seqs = [encode(model, p) for p in data.prompts]
    length = Counter(len(s) for s in seqs).most_common(1)[0][0]
    keep = [i for i, s in enumerate(seqs) if len(s) == length][:n]
    return (torch.tensor([seqs[i] for i in keep]), torch.tensor([first_token_id(model, data.io[i]) for i in keep]),
            torch.tensor([first_token_id(model, data.s[i]) for i in keep]))


@torch.no_grad()
def dla_check(parent_run: str | Path, ln_free_run: str | Path, n: int = 64, seed: int = 0) -> dict[str, Any]:
    """Direct logit attribution of IOI's logit difference (IO - S) on the parent and on the LN-free model.

    ``error`` is the largest |sum of components - logit difference| over the prompts. The LN model's sum is exact
    only after dividing each prompt by its own final-LayerNorm scale (which every component moves); with one scale
    for the batch it is approximate. The LN-free model needs no scale. ``heads`` are the mean per-head
    contributions [layer][head] (the parent's with its batch-mean scale). Prompts of the most common token length
    are used, so they stack into one batch.
    """
    from interp.analysis.attribution import direct_logit_attribution
    from interp.models.loading import load

    out: dict[str, Any] = {}
    for key, run in (("parent", parent_run), ("ln_free", ln_free_run)):
        model = load(run, device="cpu")
        tokens, io, s = ioi_batch(model, n, seed)
        exact = direct_logit_attribution(model, tokens, io, s)
        row = {"n_prompts": len(tokens), "mean_logit_diff": float(exact.target.mean()), "error": exact.error}
        if model.cfg.normalization_type is not None:
            approx = direct_logit_attribution(model, tokens, io, s, ln_scale="batch_mean")
            row.update(error_batch_mean_scale=approx.error, heads=approx.heads().tolist())
        else:
            row["heads"] = exact.heads().tolist()
        out[key] = row
    return out

"""Probe-task scores of any ``HookedTransformer``: IOI, induction, greater-than, capitals, colored objects,
multiple choice, and IOI, capitals, colored objects and multiple choice on held-out phrasing families
(``*_heldout_family``: the headline numbers).
(``interp.tasks.evaluate_run`` adds validation loss and writes a run's ``eval.json``.)

>>> scores = score_tasks(model, n_prompts=200)
>>> scores["ioi"]["accuracy"], scores["induction"]["induction_gain"]
>>> scores_frame(scores)        # one row per (task, metric), with its chance level and explanation
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from interp.errors import ConfigError
from interp.models.tl import HookedTransformer
from interp.tasks import (
    capitals,
    colored_objects,
    greater_than,
    heldout_families,
    induction,
    ioi,
    multiple_choice,
)
from interp.tasks.capitals import score_capitals
from interp.tasks.colored_objects import score_colored_objects
from interp.tasks.greater_than import score_greater_than
from interp.tasks.induction import score_induction
from interp.tasks.ioi import score_ioi
from interp.tasks.metric_info import MetricInfo
from interp.tasks.multiple_choice import score_multiple_choice

TASKS: dict[str, Callable[..., dict[str, float]]] = {
    "ioi": score_ioi,
    "ioi_heldout_family": heldout_families.score_ioi_families,
    "induction": score_induction,
    "greater_than": score_greater_than,
    "capitals": score_capitals,
    "capitals_heldout_family": heldout_families.score_capital_families,
    "colored_objects": score_colored_objects,
    "colored_objects_heldout_family": heldout_families.score_color_families,
    "multiple_choice": score_multiple_choice,
    "multiple_choice_heldout_family": heldout_families.score_mc_families,
}
# Each task's metrics (explanation, chance level), declared next to the task's scorer.
METRICS: dict[str, dict[str, MetricInfo]] = {
    "ioi": ioi.METRICS,
    "ioi_heldout_family": heldout_families.IOI_METRICS,
    "induction": induction.METRICS,
    "greater_than": greater_than.METRICS,
    "capitals": capitals.METRICS,
    "capitals_heldout_family": heldout_families.CAPITAL_METRICS,
    "colored_objects": colored_objects.METRICS,
    "colored_objects_heldout_family": heldout_families.COLOR_METRICS,
    "multiple_choice": multiple_choice.METRICS,
    "multiple_choice_heldout_family": heldout_families.MC_METRICS,
}


@torch.no_grad()
def score_tasks(
    model: HookedTransformer, n_prompts: int = 200, seed: int = 0, tasks: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Scores for each task (``n_prompts`` held-out prompts each; greater-than and induction use half)."""
    if n_prompts < 1:
        raise ConfigError(f"n_prompts (--n-prompts) must be at least 1, got {n_prompts}.")
    names = list(tasks or TASKS)
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ConfigError(f"Unknown task(s) {unknown}; choose from {sorted(TASKS)}.")
    if model.tokenizer is None:
        raise ConfigError("The model has no tokenizer; load it with interp.load(run_dir) or pass tokenizer=.")
    was_training = model.training
    model.eval()
    results = {}
    for name in tqdm(names, desc="task scores", disable=not progress):
        n = max(1, n_prompts // 2) if name in ("greater_than", "induction") else n_prompts
        results[name] = TASKS[name](model, n_prompts=n, seed=seed)
    model.train(was_training)
    return results


def scores_frame(results: Mapping[str, Any]) -> pd.DataFrame:
    """Task scores as a table: one row per (task, metric) with its value, chance level, whether the value is at or
    below chance (NA where the metric has no chance level) and a one-sentence explanation.

    Takes ``score_tasks``' result or a run's ``eval.json`` (non-task entries such as ``val_loss`` and ``meta``
    are skipped; the ``chance`` entries some tasks report become the chance column).

    >>> scores_frame(read_json("runs/quickstart/model/eval.json")).query("at_or_below_chance == True")
    """
    rows = []
    for task, metrics in results.items():
        if not isinstance(metrics, Mapping) or task == "meta":
            continue
        known = METRICS.get(task, {})
        for metric, value in metrics.items():
            if metric == "chance":
                continue
            info = known.get(metric, MetricInfo(""))
            value = float(value)
            below = pd.NA if info.chance is None or math.isnan(value) else bool(value <= info.chance + 1e-12)
            rows.append({"task": task, "metric": metric, "value": value,
                         "chance": math.nan if info.chance is None else info.chance,
                         "at_or_below_chance": below, "description": info.description})
    columns = ["task", "metric", "value", "chance", "at_or_below_chance", "description"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["at_or_below_chance"] = frame["at_or_below_chance"].astype("boolean")
    return frame


evaluate_tasks = score_tasks  # the former name, kept for one release

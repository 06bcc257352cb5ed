"""Probe-task scores of any ``HookedTransformer``: IOI, induction, greater-than, capitals, colored objects,
multiple choice. (``interp.app.evaluate_run`` adds validation loss and writes a run's ``eval.json``.)

>>> scores = score_tasks(model, n_prompts=200)
>>> scores["ioi"]["accuracy"], scores["induction"]["induction_gain"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from interp.errors import ConfigError
from interp.models.tl import HookedTransformer
from interp.tasks.capitals import score_capitals
from interp.tasks.colored_objects import score_colored_objects
from interp.tasks.greater_than import score_greater_than
from interp.tasks.induction import score_induction
from interp.tasks.ioi import score_ioi
from interp.tasks.multiple_choice import score_multiple_choice

TASKS: dict[str, Callable[..., dict[str, float]]] = {
    "ioi": score_ioi,
    "induction": score_induction,
    "greater_than": score_greater_than,
    "capitals": score_capitals,
    "colored_objects": score_colored_objects,
    "multiple_choice": score_multiple_choice,
}


@torch.no_grad()
def score_tasks(
    model: HookedTransformer, n_prompts: int = 200, seed: int = 0, tasks: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Scores for each task (``n_prompts`` held-out prompts each; greater-than and induction use half)."""
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


evaluate_tasks = score_tasks  # the former name, kept for one release

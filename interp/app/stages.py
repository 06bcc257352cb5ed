"""Fine-tunes that follow a recipe's main training: each a training run started from the previous one's weights,
on the same data, with its own settings (the drills that teach colored objects and multiple choice).

The main training alone does not form the lookback these tasks need (docs/circuit-formation.md, "Hooking the
lookback up"): random-token lookback drills in every row form it in a finished model, task drills in the corpus's
training forms hook it up to the tasks, and a last, gentler stage lets IOI and capitals recover from the first.

>>> [s.name for s in STAGES["studies"]]
['lookback', 'tasks', 'settle']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from interp.training.config import DRILL_KINDS, TrainConfig


@dataclass(frozen=True)
class Stage:
    """One fine-tune: the ``TrainConfig`` fields in which it differs from the main run (the rest it keeps)."""

    name: str
    """Its run's directory name (``stages/<name>``; the last stage writes ``model/``)."""
    summary: str
    """What it teaches, in a sentence (the report shows it)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """TrainConfig overrides: steps, learning rates and the drills."""


# Measured as fine-tunes of a seed-0 studies model (6,000 main steps; 2-core CPU, 200 held-out prompts per task;
# docs/circuit-formation.md): colored objects 0.27 -> 0.65 and multiple choice 0.34 -> 0.56 after "tasks", at a
# cost to IOI and capitals that "settle" wins back; its items are mostly fact questions, the part the model lacked
# (finding the letter of an answer named in the question it had learnt).
STAGES: dict[str, tuple[Stage, ...]] = {
    "studies": (
        Stage("lookback", "random-token lookback drills in every row: attend to the key a query repeats and output "
                          "the token before it (the lookup colored objects and multiple choice need)",
              {"max_steps": 750, "lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 20, "lookback_drill_frac": 1.0}),
        Stage("tasks", "task drills (colored-object scenes and multiple-choice items in training forms, their answers' "
                       "own loss, weight 2) in 30% of the rows and copy drills in 20%, beside the corpus",
              {"max_steps": 1000, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 20, "task_drill_frac": 0.3,
               "task_drill_weight": 2.0, "copy_drill_frac": 0.2}),
        Stage("settle", "fewer drills (20% task, 70% of them multiple-choice items, mostly fact questions; 10% copy) "
                        "at a lower learning rate, so IOI and capitals recover and the fact questions are learnt",
              {"max_steps": 1000, "lr": 5e-4, "min_lr": 5e-5, "warmup_steps": 20, "task_drill_frac": 0.2,
               "task_drill_weight": 2.0, "task_drill_mc_share": 0.7, "task_drill_lookup_share": 0.2,
               "copy_drill_frac": 0.1}),
    ),
}

# The main run's drill settings that a stage does not inherit (every TrainConfig field of a drill kind): each stage
# names the drills it uses.
DRILL_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name.startswith(tuple(f"{k}_drill_" for k in DRILL_KINDS)))


def stage_config(main: Mapping[str, Any], stage: Stage, parent: str, out_dir: str) -> dict[str, Any]:
    """The ``TrainConfig`` fields of ``stage``'s run: the main run's ``main`` (its data, preset, batch, seed,
    device), no drills but the stage's own, its settings, started from ``parent``'s weights."""
    kept = {k: v for k, v in main.items() if k not in DRILL_FIELDS}
    steps = stage.settings["max_steps"]
    return {**kept, **stage.settings, "init_from": parent, "out_dir": out_dir,
            "val_interval": max(1, steps // 4), "ckpt_interval": max(1, steps // 4)}

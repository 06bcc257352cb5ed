"""Fine-tunes that follow a recipe's main training: each a training run started from the previous one's weights,
on the same data, with its own settings (the drills that teach colored objects and multiple choice).

The main training alone does not form the lookback these tasks need (docs/circuit-formation.md, "Hooking the
lookback up"): random-token lookback drills in every row form it in a finished model, task drills in the corpus's
training forms hook it up to the tasks, and two last, gentler stages let IOI and capitals recover from the first
and the fact questions be learnt.

>>> [s.name for s in STAGES["studies"]]
['lookback', 'tasks', 'settle', 'settle-again']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from interp.errors import RunDirError
from interp.io import read_json
from interp.layout import RunLayout
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
# A second settle stage: after "settle", multiple choice was 0.70 (seed 0) and 0.475 (seed 1); the settle stage
# repeated took it to 0.955 and 0.61, but seed 1's IOI stayed at 0.805 (it was 0.845 after the main training). With
# IOI sentences among the task drills, seed 1 reached IOI 0.93 and multiple choice 0.66 (held-out families;
# docs/circuit-formation.md, "Seed 1, a fourth stage, and prompts from outside the lists"). Seed 0's capitals were
# then 0.845. With capitals among the drills too, from one seed-0 settle model: capitals 0.88 -> 0.90 (0.854 ->
# 0.867 on 1,000 prompts); with task drills in 35% of the rows multiple choice fell 0.869 -> 0.778, with 40% (more
# item rows than before) it held at 0.843 ("Capitals in the drills").
# The 3,000-step main training at half the rate (interp.app.quickstart.RECIPES) left multiple choice at 0.37 after
# both settle stages with 20% task drills (70% items) in "settle"; with 40% (85% items), as in "settle-again", it
# reached 0.934 / 0.929 on seeds 0 / 1, all four targets met ("Scaled fine-tunes on the half-rate main training").
# The lookback and tasks stages run at half their old rates after it: "tasks" at 1e-3 left colored objects at 0.37.
_SETTLE = {"max_steps": 1000, "lr": 5e-4, "min_lr": 5e-5, "warmup_steps": 20, "task_drill_frac": 0.4,
           "task_drill_weight": 2.0, "task_drill_mc_share": 0.85, "task_drill_lookup_share": 0.2,
           "copy_drill_frac": 0.1}
STAGES: dict[str, tuple[Stage, ...]] = {
    "studies": (
        Stage("lookback", "random-token lookback drills in every row: attend to the key a query repeats and output "
                          "the token before it (the lookup colored objects and multiple choice need)",
              {"max_steps": 750, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 20, "lookback_drill_frac": 1.0}),
        Stage("tasks", "task drills (colored-object scenes and multiple-choice items in training forms, their answers' "
                       "own loss, weight 2) in 30% of the rows and copy drills in 20%, beside the corpus",
              {"max_steps": 1000, "lr": 5e-4, "min_lr": 5e-5, "warmup_steps": 20, "task_drill_frac": 0.3,
               "task_drill_weight": 2.0, "copy_drill_frac": 0.2}),
        Stage("settle", "task drills in 40% of the rows, 85% of them multiple-choice items (mostly fact questions), "
                        "10% copy drills, at a lower learning rate: IOI and capitals recover and the fact questions "
                        "are learnt",
              _SETTLE),
        Stage("settle-again", "the settle stage once more from its weights, a fifth of its task drills IOI "
                              "sentences and 15% capitals: multiple choice keeps rising, IOI and capitals generalise",
              {**_SETTLE, "task_drill_ioi_share": 0.2, "task_drill_capital_share": 0.15}),
    ),
}

# The main run's drill settings that a stage does not inherit (every TrainConfig field of a drill kind): each stage
# names the drills it uses.
DRILL_FIELDS = tuple(f.name for f in fields(TrainConfig)
                     if f.name.startswith(tuple(f"{k}_drill_" for k in DRILL_KINDS)))


def stage_config(main: Mapping[str, Any], stage: Stage, parent: str, out_dir: str) -> dict[str, Any]:
    """The ``TrainConfig`` fields of ``stage``'s run: the main run's ``main`` (its data, preset, batch, seed,
    device), no drills but the stage's own, its settings, started from ``parent``'s weights."""
    kept = {k: v for k, v in main.items() if k not in DRILL_FIELDS}
    steps = stage.settings["max_steps"]
    return {**kept, **stage.settings, "init_from": parent, "out_dir": out_dir,
            "val_interval": max(1, steps // 4), "ckpt_interval": max(1, steps // 4)}


def check_parent(out_dir: str | Path, parent: str | Path) -> None:
    """Refuse to resume a stage's directory that a different parent trained: after the stage list changed, the old
    last stage's ``model/`` would otherwise pass for the new last stage, finished. Parents are told apart by their
    directory's name (``base``, a stage's name), so a run that was moved or copied still resumes."""
    saved = RunLayout(out_dir).train_config
    if not saved.exists():
        return
    was = read_json(saved).get("init_from") or ""
    if Path(was).name != Path(parent).name:
        raise RunDirError(
            f"{out_dir} was fine-tuned from {was!r}, but this stage now starts from {str(parent)!r}: the recipe's "
            f"stages changed since the run was made. Move {out_dir} to stages/NAME, NAME the stage that follows "
            f"{Path(was).name!r} in the run's quickstart.json, and --resume (finished stages are kept), or start "
            "again with --overwrite.")

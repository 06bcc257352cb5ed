"""``run_steering`` (``interp steer``): every method at every strength on one corpus concept, a strength chosen per
method on the dev split and reported on the test split, written to results.json and report.html.

>>> result = run_steering(SteerConfig(run_dir="runs/quickstart/model", concept="sea"))
>>> result.test          # a DataFrame: goal, method, chosen strength, concept rate, fluency cost, harmonic mean
>>> result.dev           # every method x strength on the dev split (the concept-against-fluency curves)

Directions are fitted on texts of the concept's ``fit`` split (story openings' last tokens, or whole stories), strengths chosen on ``dev`` prompts (the highest
AxBench-style harmonic mean of concept and fluency scores), and the chosen strengths measured on ``test`` prompts:
three disjoint draws of stories (``interp.tasks.concepts``).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from interp.analysis.hooks import resolve_hook_names
from interp.data.corpus.concepts import CONCEPTS
from interp.errors import RunDirError
from interp.io import atomic_write_json, git_commit, read_json, to_jsonable
from interp.layout import SteeringLayout
from interp.steering.config import SteerConfig
from interp.steering.evaluate import best_strengths, steerability, sweep
from interp.steering.methods import MethodInputs, methods_for
from interp.tasks.concepts import actadd_pair, concept_prefixes, concept_texts, steering_prompts

TABLE_COLUMNS = ["goal", "method", "strength", "concept_rate", "base_rate", "fluency_cost", "harmonic", "val_loss",
                 "steerability"]


@dataclass
class SteeringResult:
    out: Path
    results: dict[str, Any]

    @property
    def dev(self) -> pd.DataFrame:
        """Every goal x method x strength on the dev split."""
        return pd.DataFrame(self.results["dev"])

    @property
    def test(self) -> pd.DataFrame:
        """Each goal x method at its chosen strength on the test split, with the unsteered rate beside it."""
        return pd.DataFrame(self.results["test"])[TABLE_COLUMNS]


def default_hook(model) -> str:
    """The residual stream before the middle block (``blocks.1.hook_resid_pre`` for 2 layers)."""
    return f"blocks.{model.cfg.n_layers // 2}.hook_resid_pre"


def run_steering(cfg: SteerConfig) -> SteeringResult:
    """Run the harness for ``cfg`` (see the module docstring); returns the tables and writes OUT."""
    from interp.models.loading import load, run_data

    cfg.validate()
    concept_texts(cfg.concept, 1)  # an unknown concept fails here, before any work
    out = SteeringLayout(cfg.out_dir or Path(cfg.run_dir) / "steering" / cfg.concept)
    if out.results.exists() and not cfg.overwrite:
        raise RunDirError(f"{out.root} already holds a steering result ({out.results.name}); give --overwrite to "
                          "replace it or --out-dir for a new directory.")
    t0 = time.time()
    model = load(cfg.run_dir, device=cfg.device)
    (hook,) = resolve_hook_names(model, cfg.hook or default_hook(model))
    goals = {goal: methods_for(goal, cfg.method_names(), with_sae=bool(cfg.sae_dir)) for goal in cfg.goals()}
    detector = CONCEPTS[cfg.concept].detect
    fit_texts = concept_prefixes if cfg.fit == "prefixes" else concept_texts
    with_c, without = fit_texts(cfg.concept, cfg.n_fit, "fit")
    val = run_data(cfg.run_dir, "val").first_windows(cfg.val_windows, model.cfg.n_ctx) if cfg.val_windows else None
    strengths, cache = cfg.strength_list(), {}
    common = dict(detector=detector, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                  temperature=cfg.temperature, val_tokens=val, progress=cfg.progress)
    dev_rows, test_rows, unsteered, chosen, steerings = [], [], [], {}, {}
    for goal, methods in goals.items():
        inputs = MethodInputs(model, hook, cfg.positions, goal, with_c, without, actadd_pair(cfg.concept),
                              cfg.sae_dir, cfg.sae_features, "last" if cfg.fit == "prefixes" else "all", cache)
        built = {m.name: m.build(inputs) for m in methods}
        dev = sweep(model, built, strengths, steering_prompts(cfg.concept, goal, cfg.n_prompts, "dev"), goal=goal,
                    **common)
        best = best_strengths(dev[dev.strength > 0]) if (dev.strength > 0).any() else {}
        test = sweep(model, built, {m: [0.0, s] for m, s in best.items()},
                     steering_prompts(cfg.concept, goal, cfg.n_prompts, "test"), goal=goal, **common)
        slopes = {m: steerability(g) for m, g in dev.groupby("method")}
        base = test[test.strength == 0].iloc[0]
        unsteered.append({"goal": goal, "concept_rate": float(base.concept_rate), "val_loss": base.val_loss,
                          "samples": base.samples})
        test = test[test.strength > 0].assign(base_rate=float(base.concept_rate))
        for frame, rows in ((dev, dev_rows), (test, test_rows)):
            rows += frame.assign(goal=goal, steerability=frame.method.map(slopes)).to_dict("records")
        chosen[goal] = best
        steerings.update({(goal, m): built[m].scaled(s) for m, s in best.items()})
    results = {"config": to_jsonable(cfg), "concept": cfg.concept, "hook": hook, "chosen_strengths": chosen,
               "dev": dev_rows, "test": test_rows, "unsteered": unsteered, "seconds": round(time.time() - t0, 1), "git_commit": git_commit()}
    _write(out, results, steerings)
    return SteeringResult(out.root, results)


def _write(out: SteeringLayout, results: dict[str, Any], steerings: dict) -> None:
    from interp.steering.report import write_steering_report

    out.root.mkdir(parents=True, exist_ok=True)
    if (out.root / "steering").exists():
        shutil.rmtree(out.root / "steering")
    for (goal, method), steering in steerings.items():
        steering.save(out.steering(goal, method))
    atomic_write_json(out.results, to_jsonable(results))
    write_steering_report(out, results)


def load_result(out_dir: str | Path) -> SteeringResult:
    """A finished ``interp steer`` result, read back."""
    out = SteeringLayout(out_dir)
    if not out.results.exists():
        raise RunDirError(f"{out.root} holds no steering result ({out.results.name}); run interp steer first.")
    return SteeringResult(out.root, read_json(out.results))

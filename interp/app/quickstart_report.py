"""The quickstart's HTML report for a trained and evaluated run: what each score means, chance levels, the loss
curve with the copy-drill steps, the model's shape, samples and what to run next (with this run's paths).

Chance levels and metric explanations come from the task definitions (``interp.tasks.suite.METRICS``).

>>> write_quickstart_report("runs/quickstart/report.html", "runs/quickstart/model", read_json(".../eval.json"))
"""

from __future__ import annotations

import html
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from interp.app.stages import Stage
from interp.io import read_json
from interp.layout import RunLayout
from interp.models.config import ModelConfig
from interp.plots import loss_curve, read_metrics
from interp.report import samples_html, table_html, write_report
from interp.tasks.suite import scores_frame

# Per recipe, (task, metric, target) shown as pass/below in the report; the rest is reported as measured. The
# targets are on held-out phrasing families (issue 16): the in-distribution scores can be reached by learning the
# training templates, so they are reported but not targets.
TARGETS = {
    "quickstart": (("ioi_heldout_family", "accuracy", 0.85), ("capitals_heldout_family", "accuracy", 0.75),
                   ("induction", "induction_gain", 2.0)),
    "studies": (("ioi_heldout_family", "accuracy", 0.9), ("capitals_heldout_family", "accuracy", 0.85),
                ("colored_objects_heldout_family", "accuracy", 0.6),
                ("multiple_choice_heldout_family", "accuracy", 0.6), ("induction", "induction_gain", 2.0)),
}
# (held-out-family task, its in-distribution counterpart): the headline numbers, shown first with the gap.
HEADLINE = (("ioi_heldout_family", "ioi"), ("capitals_heldout_family", "capitals"),
            ("colored_objects_heldout_family", "colored_objects"), ("multiple_choice_heldout_family", "multiple_choice"))
VALIDATION = {
    "val_loss": "Mean cross-entropy of the next token on held-out corpus text, in nats (lower is better).",
    "val_perplexity": "exp(validation loss): the model is as unsure as a uniform choice among this many tokens.",
}
FLAG = "at or below chance"


def drill_steps(train_config: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Per drill kind that a saved ``train_config.json`` used, the steps ``[start, stop)`` that mixed it into the
    batches (``TrainConfig.drill_windows``); empty without drills."""
    from interp.app.args import dataclass_from_dict
    from interp.training.config import TrainConfig

    return dataclass_from_dict(TrainConfig, dict(train_config)).drill_windows()


DRILL_TEXT = {
    "copy": "{frac:.0%} of the rows a random token sequence, then the same again, which make an induction circuit "
            "form sooner",
    "lookback": "{frac:.0%} of the rows random (value, key) pairs, then each key and its value, which form the "
                "lookback that colored objects and multiple choice need",
    "task": "{frac:.0%} of the rows colored-object scenes and multiple-choice items in training forms, loss on the "
            "answers, which hook the lookback up to the tasks",
}


def next_steps(run_dir: str | Path) -> list[tuple[str, str]]:
    """(command, what it does) pairs for what to try after the quickstart, with this run's real paths."""
    run = Path(run_dir).resolve()
    q = shlex.quote(str(run))
    layout = RunLayout(run)
    cfg = ModelConfig.from_dict(read_json(layout.model_config)) if layout.model_config.exists() else None
    hook = f"blocks.{(cfg.n_layers // 2) if cfg else 0}.hook_resid_pre"
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    return [
        (f"interp analyze {q} --task ioi", f"patching, attribution, attention patterns of the IOI circuit: writes "
                                           f"{layout.analysis('ioi') / 'report.html'}"),
        (f"interp analyze {q} --task induction", "the same for the induction circuit"),
        (f"interp train-sae {q} --hook {hook} --architecture topk --k 32 --out-dir "
         f"{shlex.quote(str(run.parent / 'saes'))}", "a sparse autoencoder on the middle residual stream"),
        (f"interp eval {q}", "re-run the task evaluation (writes eval.json)"),
        (f"python -c \"import interp; m = interp.load('{run}'); print(m.cfg)\"", "the model as a HookedTransformer"),
        (f"interp export {q} --out-dir {shlex.quote(str(run.parent / 'hf-model'))}", "the model in Hugging Face GPT-2 format"),
        (f"jupyter lab {shlex.quote(str(notebooks))}", "the tutorials (logit lens, patching IOI, SAEs) on this model"),
    ]


def _fmt(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def tasks_html(results: Mapping[str, Any], targets: Sequence[tuple[str, str, float]] = TARGETS["quickstart"]) -> str:
    """The probe-task table: value, chance and a visible flag at or below chance, a verdict against ``targets``
    ((task, metric, target) triples), and the metric's explanation."""
    frame = scores_frame(results)
    targets = {(t, m): v for t, m, v in targets}
    rows = []
    for r in frame.itertuples(index=False):
        target = targets.get((r.task, r.metric))
        verdict = "" if target is None else f"target ≥ {target}: " + ("pass" if r.value >= target else "below")
        flag = f'<span class="flag">⚠ {FLAG}</span> ' if r.at_or_below_chance is not pd.NA and r.at_or_below_chance else ""
        rows.append(
            "<tr>" + f"<td>{html.escape(r.task)}</td><td><code>{html.escape(r.metric)}</code></td>"
            f'<td class="num">{_fmt(r.value)}</td><td class="num">{_fmt(r.chance) or "—"}</td>'
            f'<td class="verdict">{flag}{html.escape(verdict)}</td>'
            f'<td class="explain">{html.escape(r.description)}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("task", "metric", "value", "chance", "verdict", "what it measures"))
    n_flag = int(frame["at_or_below_chance"].fillna(False).sum())
    note = ("<p class='explain'>Chance: what a model without the skill scores, guessing uniformly among the "
            "task's options (— where no such level exists). "
            + (f"<b class='bad'>{n_flag} score(s) {FLAG}</b>: the model has not learned that skill (yet)."
               if n_flag else "Every score with a chance level is above it.") + "</p>")
    return f"{note}<table id='tasks'><tr>{head}</tr>{''.join(rows)}</table>"


def headline_html(results: Mapping[str, Any]) -> str:
    """The headline scores: each task's accuracy on held-out phrasing families, next to the in-distribution
    accuracy (a large gap: the model learnt the training templates rather than the task). Empty without them."""
    items = []
    for family, base in HEADLINE:
        if family in results and "accuracy" in results[family]:
            seen = (f" (in-distribution prompts: {_fmt(float(results[base]['accuracy']))})"
                    if base in results and "accuracy" in results[base] else "")
            items.append(f"<li><b>{html.escape(base)}</b> accuracy on held-out phrasing families: "
                         f"<b>{_fmt(float(results[family]['accuracy']))}</b>{html.escape(seen)}</li>")
    if not items:
        return ""
    return ("<p class='explain'>Headline: sentence forms the training corpus never produces, so these measure the "
            f"task rather than the templates.</p><ul id='headline'>{''.join(items)}</ul>")


def model_shape_rows(run_dir: str | Path) -> list[list[object]]:
    """Layers, heads, widths, vocabulary, context and parameter counts from the run's ``model_config.json``."""
    cfg = ModelConfig.from_dict(read_json(RunLayout(run_dir).model_config))
    return [["layers (n_layers)", cfg.n_layers], ["heads per layer (n_heads)", cfg.n_heads],
            ["residual width (d_model)", cfg.d_model], ["head width (d_head)", cfg.d_head],
            ["MLP width (d_mlp)", cfg.d_mlp], ["vocabulary (d_vocab)", cfg.d_vocab],
            ["context length (n_ctx)", cfg.n_ctx],
            ["parameters", f"{cfg.n_params(include_embeddings=True):,}"],
            ["parameters without embeddings", f"{cfg.n_params():,}"]]


def _loss_section(layout: RunLayout, train_cfg: Mapping[str, Any]) -> list[tuple[str, Any]]:
    drills = drill_steps(train_cfg)
    fig = loss_curve(read_metrics(layout.metrics), title="Training and validation loss", drills=drills)
    kinds = "; ".join(f"{kind} drills: " + DRILL_TEXT[kind].format(frac=train_cfg.get(f"{kind}_drill_frac", 0))
                      for kind in drills)
    caption = (f"<p class='explain'>Shaded bands mark the steps whose batches mixed in drills ({kinds}); the loss on "
               "those batches is not comparable with the rest.</p>" if drills
               else "<p class='explain'>No drills were used in this run.</p>")
    return [("Loss", fig), ("", caption)]


def fine_tunes_html(stages: Sequence[Stage], before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """The fine-tunes that followed the main training, and the headline scores before (the main run's evaluation)
    and after them."""
    rows = [[s.name, s.settings["max_steps"], s.summary] for s in stages]
    scores = [[f"{base} (held-out families)", _fmt(float(before[family]["accuracy"])),
               _fmt(float(after[family]["accuracy"]))]
              for family, base in HEADLINE if family in before and family in after]
    return (table_html(rows, ["stage", "steps", "what it does"])
            + "<p class='explain'>Headline accuracies of the main training alone and after the fine-tunes:</p>"
            + table_html(scores, ["task", "main training", "after the fine-tunes"]))


def write_quickstart_report(path: str | Path, run_dir: str | Path, results: Mapping[str, Any],
                            samples: Sequence[tuple[str, str]] = (), summary: Sequence[Sequence[object]] = (),
                            title: str = "interp-workbench quickstart",
                            targets: Sequence[tuple[str, str, float]] = TARGETS["quickstart"],
                            fine_tunes: str = "") -> Path:
    """Write the report page; ``results`` is the run's evaluation (``eval.json``), ``summary`` extra rows for the
    Run table (e.g. the preset and the time taken), ``targets`` the verdicts' (task, metric, target) triples and
    ``fine_tunes`` the ``fine_tunes_html`` section (none when empty)."""
    layout = RunLayout(run_dir)
    train_cfg = read_json(layout.train_config) if layout.train_config.exists() else {}
    metrics = read_metrics(layout.metrics)
    last = metrics[-1] if metrics else {}
    run_rows = [["run directory", str(Path(run_dir).resolve())], *summary,
                ["training steps", last.get("step", "")], ["tokens seen", f"{last.get('tokens', 0):,}"]]
    val_rows = [[name, float(results[name]), VALIDATION[name]] for name in VALIDATION if name in results]
    sections: list[tuple[str, Any]] = [
        ("Run", table_html(run_rows, ["", "value"])),
        ("Model shape", table_html(model_shape_rows(run_dir), ["", "value"])),
        ("Validation", table_html(val_rows, ["metric", "value", "what it measures"]) if val_rows
         else "<p>No validation loss: the run's data directory was not found.</p>"),
        ("Probe tasks (held-out prompts)", headline_html(results) + tasks_html(results, targets)),
        *([("Fine-tunes after the main training", fine_tunes)] if fine_tunes else []),
        *_loss_section(layout, train_cfg),
    ]
    if samples:
        sections.append(("Samples (temperature 0.7, top-k 20)", samples_html(samples)))
    steps = "".join(f"<li><code>{html.escape(cmd)}</code><br><span class='explain'>{html.escape(what)}</span></li>"
                    for cmd, what in next_steps(run_dir))
    sections.append(("Next steps", f"<ol id='next-steps'>{steps}</ol>"))
    intro = ("<p class='summary'>A small GPT-2-style model trained on the built-in story corpus and scored on "
             "held-out probe prompts. Each score below says what it measures and what chance would be; scores "
             f"{FLAG} are flagged.</p>")
    return write_report(path, title, sections, intro=intro)

"""The quickstart report explains every score, shows chance levels from the task definitions, flags scores at or
below chance, marks the copy-drill steps, shows the model's shape and ends with next steps for this run."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from interp.app.quickstart_report import FLAG, VALIDATION, drill_steps, write_quickstart_report
from interp.io import read_json
from interp.layout import RunLayout
from interp.plots import loss_curve, read_metrics
from interp.tasks.suite import METRICS, scores_frame

DRILLS = (10, 20)


@pytest.fixture(scope="module")
def drilled_run(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny run with copy drills in steps 10-19, evaluated on a few prompts (about half a minute)."""
    from interp.tasks.evaluate_run import evaluate_run
    from interp.training.trainer import train
    from tests.fixtures.runs import tiny_train_config

    run = tmp_path_factory.mktemp("drilled") / "model"
    train(tiny_train_config(tiny_data_dir, run, max_steps=30, eval_interval=15, ckpt_interval=30,
                            copy_drill_frac=0.3, copy_drill_start=DRILLS[0], copy_drill_stop=DRILLS[1]))
    return run, evaluate_run(run, n_prompts=8, val_tokens=4_000, device="cpu")


def _task_rows(page: str) -> dict[tuple[str, str], str]:
    """(task, metric) -> the HTML of that row of the probe-task table."""
    table = page[page.index("<table id='tasks'>"):]
    table = table[: table.index("</table>")]
    rows = {}
    for row in table.split("<tr>")[2:]:
        task, metric = re.findall(r"<td>([^<]*)</td><td><code>([^<]*)</code>", row)[0]
        rows[(task, metric)] = row
    return rows


def test_report_explains_scores_and_flags_those_at_or_below_chance(drilled_run, tmp_path) -> None:
    run, results = drilled_run
    page = write_quickstart_report(tmp_path / "report.html", run, results).read_text()
    frame = scores_frame(results)
    rows = _task_rows(page)
    assert set(rows) == set(zip(frame["task"], frame["metric"], strict=True)) and len(rows) >= 13
    for r in frame.itertuples(index=False):
        row = rows[(r.task, r.metric)]
        assert html.escape(METRICS[r.task][r.metric].description) in row
        chance = METRICS[r.task][r.metric].chance
        assert (f"{chance:.4g}" if chance is not None else "—") in row
        assert (FLAG in row) == (chance is not None and r.value <= chance), row
    for name, text in VALIDATION.items():
        assert name in results and html.escape(text) in page
    # A score pushed below chance gets the flag; the same score above chance does not.
    capitals_chance = METRICS["capitals"]["accuracy"].chance
    for value, flagged in ((capitals_chance / 2, True), (min(1.0, capitals_chance * 3), False)):
        changed = {**results, "capitals": {**results["capitals"], "accuracy": value}}
        page = write_quickstart_report(tmp_path / "r2.html", run, changed).read_text()
        assert (FLAG in _task_rows(page)[("capitals", "accuracy")]) == flagged


def test_chance_levels_come_from_the_number_of_options() -> None:
    from interp.tasks import capitals, colored_objects, multiple_choice

    assert METRICS["capitals"]["accuracy"].chance == 1 / len(capitals.CAPITALS)
    assert METRICS["colored_objects"]["accuracy"].chance == 1 / len(colored_objects.COLOR_ANSWERS)
    assert METRICS["multiple_choice"]["accuracy"].chance == 1 / len(multiple_choice.LETTERS)
    assert METRICS["ioi"]["accuracy"].chance == 0.5 and METRICS["induction"]["induction_gain"].chance == 0.0
    frame = scores_frame({"capitals": {"accuracy": 0.5, "chance": 0.2}, "val_loss": 3.0, "meta": {"seed": 0}})
    assert list(frame["metric"]) == ["accuracy"]  # the chance entry is a column, not a metric; val_loss is no task
    assert frame.loc[0, "chance"] == METRICS["capitals"]["accuracy"].chance and not frame.loc[0, "at_or_below_chance"]


def test_loss_curve_marks_the_drill_steps(drilled_run, tiny_run_dir, tmp_path) -> None:
    run, results = drilled_run
    cfg = read_json(RunLayout(run).train_config)
    assert drill_steps(cfg) == {"copy": DRILLS}
    fig = loss_curve(read_metrics(RunLayout(run).metrics), drills=drill_steps(cfg))
    band = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(band) == 1 and (band[0].x0, band[0].x1) == DRILLS
    assert [r["step"] for r in read_metrics(RunLayout(run).metrics) if "loss" in r] == list(fig.data[0].x)
    page = write_quickstart_report(tmp_path / "report.html", run, results).read_text()
    assert f"copy drills (steps {DRILLS[0]}-{DRILLS[1]})" in page and "Shaded bands" in page
    # Each kind of drill gets its own band.
    both = {**cfg, "lookback_drill_frac": 1.0, "lookback_drill_start": 1, "lookback_drill_stop": 2,
            "task_drill_frac": 0.25, "task_drill_start": 2}
    windows = drill_steps(both)
    assert windows == {"copy": DRILLS, "lookback": (1, 2), "task": (2, both["max_steps"])}
    fig = loss_curve(read_metrics(RunLayout(run).metrics), drills=windows)
    assert sorted((s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect") == sorted(windows.values())
    # A run without drills has no band and says so.
    assert drill_steps(read_json(RunLayout(tiny_run_dir).train_config)) == {}
    plain = write_quickstart_report(tmp_path / "plain.html", tiny_run_dir, {}).read_text()
    assert "copy drills (steps" not in plain and "No drills" in plain


def test_report_shows_the_model_shape_and_next_steps_for_this_run(drilled_run, tmp_path) -> None:
    from interp.models.loading import load_gpt_and_tokenizer

    run, results = drilled_run
    page = write_quickstart_report(tmp_path / "report.html", run, results).read_text()
    shape = read_json(RunLayout(run).model_config)
    for field in ("n_layers", "n_heads", "d_model", "d_mlp", "d_vocab", "n_ctx"):
        assert re.search(rf"\({field}\)</td><td>{shape[field]}</td>", page), field
    gpt, _ = load_gpt_and_tokenizer(run, device="cpu")
    assert f"<td>parameters</td><td>{sum(p.numel() for p in gpt.parameters()):,}</td>" in page
    steps = page[page.index("<ol id='next-steps'>"):]
    where = str(run.resolve())
    assert f"interp analyze {where} --task ioi" in steps and f"interp train-sae {where} --hook" in steps
    assert "jupyter lab" in steps and (Path(__file__).parents[1] / "notebooks").is_dir()
    assert page.count("plotly.js v") == 1 and "<script src=" not in page  # plotly.js inlined once: works offline


def test_verdicts_follow_the_recipe_targets(drilled_run, tmp_path) -> None:
    from interp.app.quickstart_report import TARGETS

    run, results = drilled_run
    key = ("colored_objects_heldout_family", "accuracy")
    quick = _task_rows(write_quickstart_report(tmp_path / "q.html", run, results).read_text())
    assert "target" not in quick[key] and "target ≥ 0.85" in quick[("ioi_heldout_family", "accuracy")]
    for value, verdict in ((0.7, "pass"), (0.5, "below")):
        changed = {**results, key[0]: {**results[key[0]], "accuracy": value}}
        rows = _task_rows(write_quickstart_report(tmp_path / "s.html", run, changed,
                                                  targets=TARGETS["studies"]).read_text())
        assert f"target ≥ 0.6: {verdict}" in rows[key] and "target ≥ 0.9" in rows[("ioi_heldout_family", "accuracy")]

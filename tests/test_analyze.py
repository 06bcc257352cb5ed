"""`interp analyze`: the end-to-end task analysis finds planted and trained circuits and writes its report."""

from __future__ import annotations

import html
import json
import re

import plotly.graph_objects as go
import pytest
import torch

from interp.app.analyze import analyze, load_findings
from interp.app.analyze.findings import WEAK_GAP_ABSOLUTE, weak_contrast
from interp.models.planted import planted_induction_model
from interp.tasks.pairs import build_pairs


def _heads_table(page: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the report's important-heads table."""
    table = page[page.index('<table id="important-heads">'):]
    table = table[: table.index("</table>")]
    header = re.findall(r"<th>([^<]*)</th>", table)
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.split("<tr>")[2:]]
    return header, rows


def _layer_axis_heatmaps(fig: go.Figure) -> list[tuple[list[str], object]]:
    """(row labels bottom to top, y axis) of every heatmap in ``fig`` that has a layer axis."""
    out = []
    for trace in fig.data:
        if not isinstance(trace, go.Heatmap):
            continue
        axis = fig.layout["yaxis" + (trace.yaxis or "y")[1:]]
        if "query" in (axis.title.text or ""):  # attention patterns: positions, not layers
            continue
        labels = list(axis.categoryarray) if axis.categoryarray is not None else list(trace.y)
        out.append((labels, axis))
    return out


def test_analyze_ranks_the_planted_circuit_first(tmp_path) -> None:
    model, circuit = planted_induction_model()
    findings = analyze(model, "induction", tmp_path, n_prompts=8, progress=False)
    top2 = {(h["layer"], h["index"]) for h in findings["top_heads"][:2]}
    assert top2 == set(circuit.values())
    # Breaking either planted head loses the whole effect; the distractors do nothing.
    assert all(h["noise_patch_effect"] < -0.8 for h in findings["top_heads"][:2])
    assert all(h["importance"] == 0 for h in findings["top_heads"][2:])
    # The last lens reading is the model's own output, so it equals the clean metric.
    assert findings["metric_through_layers"][-1] == pytest.approx(findings["clean_metric"], abs=1e-5)
    saved = json.loads((tmp_path / "findings.json").read_text())
    assert saved["top_heads"] == findings["top_heads"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("plotly-graph-div") >= 6 and "L1H0" in page
    # A written summary naming the top head, and no weak-contrast warning (clean -0.96 vs corrupted -5.7).
    assert findings["warning"] is None and 'class="warn"' not in page
    assert findings["top_heads"][0]["head"] in findings["summary"] and html.escape(findings["summary"]) in page
    # The heads table is sorted by its visible importance column, as the DataFrame view is.
    header, rows = _heads_table(page)
    col = next(i for i, h in enumerate(header) if h.startswith("importance"))
    shown = [float(r[col]) for r in rows]
    assert shown == sorted(shown, reverse=True) and "Sorted by <b>importance</b>" in page
    assert [r[0] for r in rows] == list(findings.heads["head"])
    assert load_findings(tmp_path).heads.equals(findings.heads)
    # Head x position patching: the planted induction head matters at the repeated half only.
    cells = findings["top_head_positions"]
    assert cells[0]["head"] == "L1H0" and all(c["label"].startswith("B") for c in cells)


def test_analyze_finds_the_trained_induction_head(induction_model) -> None:
    from interp.analysis.heads import head_scores

    findings = analyze(induction_model, "induction", None, n_prompts=16, progress=False)
    scores = head_scores(induction_model)["induction"]
    best = divmod(int(scores.argmax()), scores.shape[1])
    assert best in {(h["layer"], h["index"]) for h in findings["top_heads"][:3]}, findings["top_heads"]


@pytest.mark.parametrize("task", ["ioi", "capitals"])
def test_analyze_command_on_a_trained_run(tiny_run_dir, tmp_path, task) -> None:
    from interp.app.cli import main

    out = tmp_path / task
    assert main(["analyze", str(tiny_run_dir), "--task", task, "--n-prompts", "8", "--out-dir", str(out),
                 "--device", "cpu"]) == 0
    findings = json.loads((out / "findings.json").read_text())
    grid = torch.tensor(findings["head_patching"])
    top = findings["top_heads"][0]
    assert top["importance"] >= grid.abs().max().item() - 5e-5  # findings.json rounds to 4 decimals
    assert findings["metric_through_layers"][-1] == pytest.approx(findings["clean_metric"], abs=1e-4)
    assert len(findings["position_labels"]) == findings["n_tokens"]


def test_facts_is_a_deprecated_alias_of_capitals(capsys) -> None:
    from interp.app.cli import build_parser
    from interp.app.commands.analyze import task_name

    args = build_parser().parse_args(["analyze", "RUN", "--task", "facts"])  # still accepted
    assert task_name(args.task) == "capitals"
    assert "--task facts is deprecated; use --task capitals" in capsys.readouterr().err
    assert task_name("ioi") == "ioi" and capsys.readouterr().err == ""


def test_lens_command_trains_saves_and_compares(tiny_run_dir, tmp_path) -> None:
    from interp.app.cli import main

    out = tmp_path / "lens"
    assert main(["lens", str(tiny_run_dir), "--out-dir", str(out), "--steps", "150", "--n-tokens", "4096",
                 "--device", "cpu"]) == 0
    curves = json.loads((out / "lens.json").read_text())
    tuned, plain = curves["tuned_lens_kl"], curves["logit_lens_kl"]
    assert all(t < p for t, p in zip(tuned[:-1], plain[:-1], strict=True)), curves
    assert (out / "tuned_lens.safetensors").exists() and (out / "lens.html").stat().st_size > 10_000


def test_every_layer_heatmap_puts_layer_0_at_the_bottom(tmp_path) -> None:
    model, _ = planted_induction_model()
    findings = analyze(model, "induction", None, n_prompts=4, top_k=2, progress=False)
    layer_maps = [(name, labels, axis) for name, fig in findings.figures.items()
                  for labels, axis in _layer_axis_heatmaps(fig)]
    assert len(layer_maps) >= 10  # DLA, 3 detectors, 3 head patchings, heads x positions, resid, attn_out
    for name, labels, axis in layer_maps:
        layers = [int(re.match(r"L(\d+)", label).group(1)) for label in labels if label != "final"]
        assert layers[0] == 0 and layers == sorted(layers), (name, labels)  # first category: the bottom row
        assert axis.autorange != "reversed", name
    patterns = [n for n in findings.figures if n.startswith("Attention pattern")]
    assert len(patterns) == 2
    for name, fig in findings.figures.items():  # every plot has axis titles and every colour bar a unit
        assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text, name
        for trace in fig.data:
            if isinstance(trace, go.Heatmap) and trace.showscale is not False:
                assert trace.colorbar.title.text, name
    labels = findings.figures[patterns[0]].data[0].x
    assert len(labels) == findings["n_tokens"] and labels[0].startswith("0:")


def test_equal_clean_and_corrupted_metrics_give_a_warning_not_a_crash(tmp_path) -> None:
    model, _ = planted_induction_model()
    pairs = build_pairs(model, "induction", n=4)
    pairs.corrupt = pairs.clean.clone()
    findings = analyze(model, pairs, tmp_path, top_k=2, progress=False)
    assert findings["clean_metric"] == findings["corrupted_metric"]
    assert "barely differ" in findings["warning"] and findings["patch_unit"].startswith("change of")
    page = (tmp_path / "report.html").read_text()
    assert '<div class="warn">' in page and "barely differ" in page
    assert json.loads((tmp_path / "findings.json").read_text())["warning"] == findings["warning"]
    # Patching a run into an identical run changes nothing.
    assert findings.head_grid["patch_effect"].abs().max() < 1e-5


def test_weak_contrast_threshold() -> None:
    assert weak_contrast(2.0, 0.0) is None and weak_contrast(-0.96, -5.7) is None
    assert weak_contrast(1.0, 1.0 - WEAK_GAP_ABSOLUTE / 2) is not None  # under the absolute floor
    assert weak_contrast(10.0, 9.5) is not None  # 0.5 apart but under 10% of 10
    assert weak_contrast(10.0, 8.9) is None


def test_head_scores_frame_matches_the_dict() -> None:
    from interp.analysis.heads import head_scores, head_scores_frame

    model, circuit = planted_induction_model()
    scores = head_scores(model)
    frame = head_scores_frame(model)
    L, H = scores["induction"].shape
    assert len(frame) == L * H and list(frame.columns) == ["name", "layer", "head", *scores]
    for row in frame.itertuples(index=False):
        for kind, grid in scores.items():
            assert getattr(row, kind) == pytest.approx(float(grid[row.layer, row.head]))
    best = frame.sort_values("induction").iloc[-1]
    assert best["name"] == f"L{best['layer']}H{best['head']}"
    assert (best["layer"], best["head"]) == circuit["induction"]

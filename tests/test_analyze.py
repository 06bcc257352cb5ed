"""`interp analyze`: the end-to-end task analysis finds planted and trained circuits and writes its report."""

from __future__ import annotations

import json

import pytest
import torch

from interp.app.analyze import analyze, build_pairs
from interp.errors import InputError
from interp.models.planted import planted_induction_model


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


def test_analyze_finds_the_trained_induction_head(induction_model) -> None:
    from interp.analysis.heads import head_scores

    findings = analyze(induction_model, "induction", None, n_prompts=16, progress=False)
    scores = head_scores(induction_model)["induction"]
    best = divmod(int(scores.argmax()), scores.shape[1])
    assert best in {(h["layer"], h["index"]) for h in findings["top_heads"][:3]}, findings["top_heads"]


def test_ioi_pairs_are_aligned_and_labelled(tiny_run_dir) -> None:
    import interp

    model = interp.load(tiny_run_dir, device="cpu")
    pairs = build_pairs(model, "ioi", n=10, seed=3)
    assert pairs.clean.shape == pairs.corrupt.shape
    for row, io, s in zip(pairs.clean, pairs.answer, pairs.wrong, strict=True):
        labels = dict(zip(pairs.labels, row.tolist(), strict=True))
        assert {labels["name1"], labels["name2"]} == {int(io), int(s)} and labels["S2"] == int(s)
    # ABC corruption: no clean name survives in the corrupted prompt.
    for clean, bad, io, s in zip(pairs.clean, pairs.corrupt, pairs.answer, pairs.wrong, strict=True):
        assert int(io) not in bad.tolist() and int(s) not in bad.tolist()
        assert (clean != bad).sum() == 3


@pytest.mark.parametrize("task", ["ioi", "facts"])
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


def test_unknown_task_is_a_clear_error() -> None:
    model, _ = planted_induction_model()
    with pytest.raises(InputError, match="Unknown task"):
        build_pairs(model, "greater-than")
    with pytest.raises(InputError, match="tokenizer"):
        build_pairs(model, "ioi")


def test_lens_command_trains_saves_and_compares(tiny_run_dir, tmp_path) -> None:
    from interp.app.cli import main

    out = tmp_path / "lens"
    assert main(["lens", str(tiny_run_dir), "--out-dir", str(out), "--steps", "150", "--n-tokens", "4096",
                 "--device", "cpu"]) == 0
    curves = json.loads((out / "lens.json").read_text())
    tuned, plain = curves["tuned_lens_kl"], curves["logit_lens_kl"]
    assert all(t < p for t, p in zip(tuned[:-1], plain[:-1], strict=True)), curves
    assert (out / "tuned_lens.safetensors").exists() and (out / "lens.html").stat().st_size > 10_000

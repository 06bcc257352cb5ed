"""Runs work from anywhere: a copied or moved run finds its data, resume compares data by content, eval.json
merges, and a run whose checkpoint pointer is lost never starts over silently."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from interp.errors import RunDirError
from interp.layout import RunLayout
from interp.models.loading import run_data
from interp.training.checkpoint import latest_checkpoint
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config


@pytest.fixture()
def moved_run(tiny_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run trained as ``a/model`` on ``a/data`` (relative paths, started in ``tmp_path``), then the whole
    ``a/`` directory moved to ``b/`` so that every path recorded at training time is gone."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_data_dir, "a/data")
    train(tiny_train_config(Path("a/data"), Path("a/model"), max_steps=20, ckpt_interval=10))
    shutil.move("a", "b")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "b" / "model"


def test_moved_run_finds_its_data_from_any_directory(moved_run: Path, tmp_path: Path) -> None:
    import interp
    from interp.tasks.evaluate_run import evaluate_run

    assert RunLayout(moved_run).data_dir().resolve() == (tmp_path / "b" / "data").resolve()
    assert run_data(moved_run, "val").n_tokens > 0
    assert interp.load(moved_run, device="cpu").tokenizer is not None
    results = evaluate_run(moved_run, n_prompts=4, tasks=["ioi"])
    assert results["val_loss"] > 0  # the validation loss is not silently dropped


def test_moved_run_resumes_under_any_spelling_of_its_paths(moved_run: Path, tmp_path: Path) -> None:
    data = tmp_path / "b" / "data"
    rel_out = os.path.relpath(moved_run, Path.cwd()) + "/"  # "../b/model/": another spelling, another cwd
    result = train(tiny_train_config(data, Path(rel_out), max_steps=30, ckpt_interval=10, resume=True))
    assert result.step == 30
    steps = [json.loads(line)["step"] for line in RunLayout(moved_run).metrics.read_text().splitlines()]
    assert steps == sorted(steps) and steps[0] <= 10 and steps[-1] == 30  # history kept, not restarted


def test_missing_data_error_lists_every_path_tried(moved_run: Path, tmp_path: Path) -> None:
    shutil.rmtree(tmp_path / "b" / "data")
    with pytest.raises(RunDirError) as err:
        run_data(moved_run)
    msg = str(err.value)
    assert "data_dir_relative" in msg and str(moved_run / "../data") in msg and "a/data" in msg
    assert "--data-dir" in msg


def test_resume_refuses_other_data(tiny_run_dir: Path, tmp_path: Path) -> None:
    from interp.data.prepare import DataConfig, prepare_data

    other = tmp_path / "other-data"  # another tokenizer: 512 tokens instead of 1024
    prepare_data(DataConfig(out_dir=str(other), n_tokens=100_000, val_tokens=10_000, vocab_size=512,
                            bpe_train_chars=200_000, seed=1))
    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    with pytest.raises(RunDirError, match="not the data run .* was trained on.*tokenizer_hash"):
        train(tiny_train_config(other, run, max_steps=70, resume=True))


def test_resume_allows_recovery_settings_and_records_them(tiny_run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    data = RunLayout(run).data_dir()
    with pytest.raises(RunDirError, match=r"seed: 0 -> 1"):
        train(tiny_train_config(data, run, max_steps=70, seed=1, resume=True))
    train(tiny_train_config(data, run, max_steps=70, lr=1e-3, resume=True))
    resumes = json.loads(RunLayout(run).run_info.read_text())["resumes"]
    assert resumes == [{"step": 60, "changed": {"lr": [3e-3, 1e-3]}}]


def test_dangling_latest_resumes_from_newest_complete_checkpoint(tiny_data_dir: Path, tmp_path: Path) -> None:
    run = RunLayout(tmp_path / "run")
    train(tiny_train_config(tiny_data_dir, run.root, max_steps=20, ckpt_interval=10, keep_checkpoints=2))
    run.latest.write_text("step_000999\n")
    result = train(tiny_train_config(tiny_data_dir, run.root, max_steps=30, ckpt_interval=10, resume=True))
    assert result.step == 30 and latest_checkpoint(run.root).name == "step_000030"
    assert sorted(p.name for p in run.checkpoints.glob("step_*")) == ["step_000020", "step_000030"]
    run.latest.unlink()
    shutil.rmtree(run.checkpoints)
    with pytest.raises(RunDirError, match="records training up to step 30.*no checkpoint"):
        train(tiny_train_config(tiny_data_dir, run.root, max_steps=40, resume=True))


def test_eval_of_a_subset_merges_into_eval_json(tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    from interp.tasks.evaluate_run import evaluate_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    first = evaluate_run(run, n_prompts=4, tasks=["ioi", "capitals"])
    assert "task scores" in capsys.readouterr().err  # a progress bar by default; none when asked (--no-progress)
    second = evaluate_run(run, n_prompts=6, seed=1, tasks=["ioi"], progress=False)
    assert "task scores" not in capsys.readouterr().err
    saved = json.loads(RunLayout(run).eval.read_text())
    assert saved == second
    assert saved["capitals"] == first["capitals"] and "val_loss" in saved  # kept
    entries = saved["meta"]["entries"]
    assert entries["capitals"]["n_prompts"] == 4 and entries["ioi"]["n_prompts"] == 6 and entries["ioi"]["seed"] == 1


def test_eval_json_is_strict(tiny_run_dir: Path, tmp_path: Path) -> None:
    from interp.io import atomic_write_json

    atomic_write_json(tmp_path / "x.json", {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=pytest.fail) == {"a": None, "b": [None, 1.5]}


def test_notebooks_find_the_quickstart_run_from_a_subdirectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              tiny_run_dir: Path) -> None:
    from interp.app.examples import example_run, find_quickstart_run

    shutil.copytree(tiny_run_dir, tmp_path / "runs" / "quickstart" / "model")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where Jupyter starts a notebook's kernel
    assert find_quickstart_run() == tmp_path / "runs" / "quickstart" / "model"
    assert example_run("auto") == example_run("quickstart") == find_quickstart_run()

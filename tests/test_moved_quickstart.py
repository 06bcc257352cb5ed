"""A new user copies ``runs/quickstart`` anywhere and runs every README command on it from another directory.

The fixture lays a tiny model out as ``interp quickstart`` does (``runs/quickstart/{data,model}``, paths relative
to where training started), copies the whole folder elsewhere, deletes the original, and runs the commands from a
third directory, so every path recorded at training time is gone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interp.app.cli import main
from interp.layout import RunLayout
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config


@pytest.fixture(scope="module")
def copied_quickstart(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(tiny_data_dir, home / "runs" / "quickstart" / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        train(tiny_train_config(Path("runs/quickstart/data"), Path("runs/quickstart/model"), max_steps=20))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(home / "runs" / "quickstart", elsewhere / "copied" / "qs")
    shutil.rmtree(home)
    return elsewhere / "copied" / "qs" / "model"


def test_every_readme_command_works_on_a_copied_run(copied_quickstart: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    run = str(copied_quickstart)
    saes = tmp_path / "saes"
    sae = saes / "topk-blocks.1.hook_resid_pre"
    commands = [
        ["eval", run, "--n-prompts", "4"],
        ["analyze", run, "--task", "ioi", "--n-prompts", "4"],
        ["cache", run, "--hooks", "blocks.*.hook_resid_post", "--n-tokens", "2048", "--out-dir", "cache"],
        ["lens", run, "--n-tokens", "2048", "--steps", "5"],
        ["train-sae", run, "--hook", "blocks.1.hook_resid_pre", "--architecture", "topk", "--k", "8",
         "--n-tokens", "4096", "--batch-size", "512", "--out-dir", str(saes)],
        ["eval-sae", str(sae), "--run-dir", run, "--n-tokens", "1024"],
        ["dashboard", str(sae), "--run-dir", run, "--n-features", "3", "--n-tokens", "1024"],
        ["export", run, "--out-dir", "hf"],
    ]
    for argv in commands:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 0, (argv, err)
        assert "error" not in err.lower(), (argv, err)
    results = json.loads(RunLayout(run).eval.read_text())
    assert results["val_loss"] > 0 and "ioi" in results  # the data was found: validation loss not dropped
    assert (RunLayout(run).analysis("ioi") / "report.html").exists() and (sae / "cfg.json").exists()

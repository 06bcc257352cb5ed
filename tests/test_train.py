"""The trainer: learning, exact resume after SIGKILL, NaN handling, run-directory safety, checkpoint errors."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.errors import CheckpointError, NonFiniteLossError, RunDirError
from interp.training.checkpoint import latest_checkpoint, load_model
from interp.training.config import TrainConfig
from interp.training.trainer import lr_at, train
from tests.fixtures.runs import TINY_STEPS, tiny_train_config

ROOT = Path(__file__).resolve().parent.parent


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path).state_dict()


def test_tiny_run_learns_and_writes_its_files(tiny_run_dir: Path) -> None:
    rows = [json.loads(x) for x in (tiny_run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == TINY_STEPS
    uniform = math.log(json.loads((tiny_run_dir / "model_config.json").read_text())["d_vocab"])
    assert rows[-1]["loss"] < uniform - 1.0  # it learns: a nat below predicting uniformly (log 1024 = 6.93)
    assert "val_loss" in rows[-1] and rows[-1]["val_loss"] < 6.0
    for name in ("train_config.json", "model_config.json", "run_info.json", "loss_curve.html", "tokenizer"):
        assert (tiny_run_dir / name).exists(), name
    info = json.loads((tiny_run_dir / "run_info.json").read_text())
    assert info["tokenizer_hash"] and info["data_config_sha256"]


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=1.0, min_lr=0.1, warmup_steps=10, max_steps=110)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55) and lr_at(110, cfg) == pytest.approx(0.1)


def test_resume_after_sigkill_matches_uninterrupted(tiny_data_dir: Path, tmp_path: Path) -> None:
    steps = 120
    ref = tiny_train_config(tiny_data_dir, tmp_path / "ref", max_steps=steps, batch_size=8, ckpt_interval=10,
                            val_interval=10**6)
    train(ref)
    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "interp.app.commands.train", "--config", str(tmp_path / "cfg.json")]
    (tmp_path / "cfg.json").write_text(json.dumps({**ref.__dict__, "out_dir": str(killed)}))
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    deadline = time.time() + 120
    while time.time() < deadline:
        ckpt = latest_checkpoint(killed)
        if ckpt is not None and int(ckpt.name.split("_")[1]) >= 20:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    at_kill = int(latest_checkpoint(killed).name.split("_")[1])
    assert 20 <= at_kill < steps
    train(tiny_train_config(tiny_data_dir, killed, **{**{k: v for k, v in ref.__dict__.items()
                                                         if k not in ("out_dir", "data_dir")}, "resume": True}))
    a, b = _weights(tmp_path / "ref"), _weights(killed)
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6


def test_import_fixes_mkl_thread_counts() -> None:
    """MKL's dynamic threading made a resume beside a busy process miss by float rounding (docs/reliability.md):
    ``import interp`` turns it off before torch first calls MKL, unless the user chose otherwise."""
    code = "import os, interp; print(os.environ['MKL_DYNAMIC'])"
    env = {k: v for k, v in os.environ.items() if k != "MKL_DYNAMIC"}
    run = [sys.executable, "-c", code]
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip() == "FALSE"
    mine = subprocess.run(run, env={**env, "MKL_DYNAMIC": "TRUE"}, capture_output=True, text=True, check=True)
    assert mine.stdout.strip() == "TRUE"


def test_nan_loss_stops_and_keeps_last_checkpoint(tiny_data_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    cfg = tiny_train_config(tiny_data_dir, tmp_path / "nan", ckpt_interval=10, val_interval=10**6, batch_size=8,
                            max_steps=10)
    train(cfg)  # a healthy start, checkpointed at step 10
    diverging = dataclasses.replace(cfg, lr=1e4, min_lr=1e4, max_steps=30, resume=True)
    with pytest.raises(NonFiniteLossError, match="Non-finite loss.*lower --lr"):
        train(diverging)
    last = latest_checkpoint(tmp_path / "nan")
    assert last is not None and last.name == "step_000010"
    model = load_model(last)  # intact and loadable, with finite weights
    assert all(torch.isfinite(p).all() for p in model.parameters())
    result = train(dataclasses.replace(cfg, max_steps=30, resume=True))  # the advice works: a lower lr, --resume
    assert result.step == 30 and math.isfinite(result.final_loss)


def test_run_dir_refused_unless_resume_or_overwrite(tiny_data_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_train_config(tiny_data_dir, tmp_path / "run", max_steps=5, val_interval=10**6)
    train(cfg)
    with pytest.raises(RunDirError, match="already holds a run.*--resume.*--overwrite"):
        train(cfg)
    other = tiny_train_config(tiny_data_dir, tmp_path / "run", max_steps=5, batch_size=8, resume=True)
    with pytest.raises(RunDirError, match=r"different run \(batch_size: 16 -> 8\)"):
        train(other)
    train(tiny_train_config(tiny_data_dir, tmp_path / "run", max_steps=5, lr=1e-3, overwrite=True))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not empty"):
        train(tiny_train_config(tiny_data_dir, tmp_path / "junk", max_steps=5))


def test_checkpoint_errors(tiny_run_dir: Path, tmp_path: Path) -> None:
    import shutil

    from interp.models.convert import export_hf

    ckpt = tmp_path / "ckpt"
    shutil.copytree(latest_checkpoint(tiny_run_dir), ckpt)
    weights = ckpt / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="has changed since it was written"):  # its recorded sha256
        load_model(ckpt)
    state = json.loads((ckpt / "trainer_state.json").read_text())  # a checkpoint from before hashes were recorded:
    (ckpt / "trainer_state.json").write_text(json.dumps({k: v for k, v in state.items() if k != "sha256"}))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):  # the loader's own checks still name it
        load_model(ckpt)
    weights.write_bytes(data)
    cfg = json.loads((ckpt / "model_config.json").read_text())
    (ckpt / "model_config.json").write_text(json.dumps({**cfg, "d_mlp": 128}))
    with pytest.raises(CheckpointError, match=r"tensor blocks.0.mlp.c_fc.bias has shape \(256,\) but model_config.json implies \(128,\)"):
        load_model(ckpt)
    (ckpt / "model_config.json").write_text(json.dumps(cfg))
    hf = export_hf(load_model(tiny_run_dir), tmp_path / "hf")
    shutil.copy(hf / "model.safetensors", weights)
    with pytest.raises(CheckpointError, match="not an interp-workbench checkpoint.*import_hf"):
        load_model(ckpt)
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_model(tmp_path)

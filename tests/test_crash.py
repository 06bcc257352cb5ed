"""Crash tests: a real training process killed (SIGKILL) at a random moment, including in the middle of writing a
checkpoint, resumes to exactly the weights of an uninterrupted run (bit for bit)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.io import load_safetensors
from interp.layout import RunLayout
from interp.training.checkpoint import latest_checkpoint
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config

ROOT = Path(__file__).resolve().parent.parent
STEPS = 80


@pytest.fixture(scope="module")
def reference(tiny_data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    cfg = tiny_train_config(tiny_data_dir, tmp_path_factory.mktemp("ref") / "run", max_steps=STEPS, batch_size=8,
                            ckpt_interval=5, val_interval=40, keep_checkpoints=2)
    train(cfg)
    return cfg


def _start(cfg_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "interp.app.commands.train", "--config", str(cfg_path)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "the kill point never came"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_safetensors(latest_checkpoint(run) / "model.safetensors")


@pytest.mark.parametrize("when", ["random", "during-checkpoint-write"])
def test_killed_training_resumes_bit_for_bit(reference, tmp_path: Path, when: str) -> None:
    run = RunLayout(tmp_path / "run")
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps({**reference.__dict__, "out_dir": str(run.root)}))
    proc = _start(cfg_path)
    if when == "random":  # a seeded moment between the first logged step and the end
        _kill_when(proc, lambda: run.metrics.exists() and run.metrics.stat().st_size > 0)
        time.sleep(random.Random(0).uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    else:  # a checkpoint directory under construction: .step_NNNNNN.* beside the finished ones
        _kill_when(proc, lambda: run.checkpoints.exists() and any(run.checkpoints.glob(".step_*")))
    assert proc.returncode == -signal.SIGKILL
    resumed = train(tiny_train_config(reference.data_dir, run.root, **{
        k: v for k, v in reference.__dict__.items() if k not in ("out_dir", "data_dir")} | {"resume": True}))
    assert resumed.step == STEPS
    ref, got = _weights(Path(reference.out_dir)), _weights(run.root)
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    steps = [json.loads(line)["step"] for line in run.metrics.read_text().splitlines()]
    assert steps == sorted(set(steps))  # no duplicated or lost history rows
    assert not list(run.checkpoints.glob(".step_*"))  # the killed save's leftovers are gone

"""Nothing lost, nothing silently wrong in model runs: content-hashed checkpoints, a lock per run directory, a
full disk reported as such with the previous checkpoint intact, and clear errors for damaged optimizer state."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interp.errors import CheckpointError, ConfigError, RunDirError
from interp.layout import RunLayout
from interp.training.checkpoint import latest_checkpoint, load_model
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config


def _copy_run(tiny_run_dir: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(tiny_run_dir, run)
    return run


def test_flipped_bits_in_tensor_data_are_caught(tiny_run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(tiny_run_dir, tmp_path)
    weights = latest_checkpoint(run) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # inside the tensor data: the header still parses, so safetensors alone loads it
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="has changed since it was written"):
        load_model(run)


def test_damaged_optimizer_state_is_a_named_error(tiny_run_dir: Path, tmp_path: Path) -> None:
    run = _copy_run(tiny_run_dir, tmp_path)
    opt = latest_checkpoint(run) / "optimizer.pt"
    opt.write_bytes(opt.read_bytes()[:1000])
    cfg = tiny_train_config(RunLayout(run).data_dir(), run, max_steps=70, resume=True)
    with pytest.raises(CheckpointError, match="optimizer.pt has changed since it was written"):
        train(cfg)
    state = latest_checkpoint(run) / "trainer_state.json"  # an old checkpoint without hashes: still a named error
    state.write_text(state.read_text().replace('"sha256"', '"sha256_unused"'))
    with pytest.raises(CheckpointError, match="optimizer.pt is truncated, corrupt"):
        train(cfg)


def test_keep_checkpoints_must_keep_one() -> None:
    with pytest.raises(ConfigError, match="keep_checkpoints must be positive"):
        tiny_train_config(Path("d"), Path("o"), keep_checkpoints=0).validate()


def test_second_training_into_a_locked_run_is_refused(tiny_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = ("import sys; from tests.fixtures.runs import tiny_train_config; from interp.training.trainer import train; "
            "train(tiny_train_config(sys.argv[1], sys.argv[2], max_steps=100000, ckpt_interval=100000, "
            "val_interval=100000))")
    first = subprocess.Popen([sys.executable, "-c", code, str(tiny_data_dir), str(out)],
                             cwd=Path(__file__).parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not RunLayout(out).train_config.exists():  # the first run holds the lock from here on
            assert first.poll() is None and time.time() < deadline, "the first training did not start"
            time.sleep(0.2)
        for flags in ({}, {"resume": True}, {"overwrite": True}):
            with pytest.raises(RunDirError, match=f"is being written by process {first.pid}"):
                train(tiny_train_config(tiny_data_dir, out, max_steps=5, **flags))
    finally:
        first.kill()
        first.wait()
    train(tiny_train_config(tiny_data_dir, out, max_steps=5, overwrite=True))  # a killed holder leaves no lock


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 16 MB tmpfs (needs root, as in CI; skipped elsewhere): two tiny checkpoints and two loss plots."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16M", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_keeps_the_previous_checkpoint(tiny_data_dir: Path, small_disk: Path) -> None:
    from interp.app.cli import explain

    run = small_disk / "run"
    train(tiny_train_config(tiny_data_dir, run, max_steps=10, ckpt_interval=10, val_interval=10))
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * max(0, free - 16_384))  # room for the logs, not for another checkpoint
    with pytest.raises(CheckpointError, match="the disk is full") as err:
        train(tiny_train_config(tiny_data_dir, run, max_steps=20, ckpt_interval=10, val_interval=10, resume=True))
    assert "--resume" in explain(err.value)
    assert latest_checkpoint(run).name == "step_000010" and load_model(run) is not None
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no half-written leftovers
    filler.unlink()
    assert train(tiny_train_config(tiny_data_dir, run, max_steps=20, ckpt_interval=10, val_interval=10,
                                   resume=True)).step == 20

"""interp.io temp handling: a directory swap shows the old or the new directory, and a later run removes a killed
writer's temp files (pid gone) but not a live writer's, and puts back a directory a cut-short swap set aside."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import interp.io as io


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("exchange", [True, False])
def test_atomic_dir_replaces_whole_directory(tmp_path: Path, monkeypatch, exchange: bool) -> None:
    if not exchange:
        monkeypatch.setattr(io, "_exchange", lambda a, b: False)  # filesystems without renameat2
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with io.atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
        assert tmp.name.startswith(".d.tmp") and sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    with pytest.raises(RuntimeError), io.atomic_dir(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"] and (target / "new.txt").exists()


def test_remove_stale_temps(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale_file = tmp_path / f".shard_00003.safetensors.tmp{dead}.ab12.safetensors.tmp"
    stale_dir = tmp_path / f".data.tmp{dead}.xy"
    live_file = tmp_path / f".shard_00004.safetensors.tmp{io.os.getpid()}.cd34.safetensors.tmp"
    set_aside = tmp_path / f".moved.old{dead}.zz"  # a swap killed between its two renames
    for f in (stale_file, live_file):
        f.write_bytes(b"x" * 100)
    stale_dir.mkdir()
    (stale_dir / "tokenizer.json").write_text("{}")
    set_aside.mkdir()
    (set_aside / "keep.txt").write_text("old data")
    removed = io.remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert live_file.exists() and (tmp_path / "moved" / "keep.txt").read_text() == "old data"

"""``interp cache`` with two processes under torchrun: one cache, shard for shard the one a single process writes;
a rank killed mid-way leaves an incomplete cache that a rerun finishes, its unrecorded shard written again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interp.analysis.activations import ActivationStore, cache_activations
from interp.analysis.activations.manifest import CacheError, open_cache, read_meta

ROOT = Path(__file__).resolve().parent.parent
HOOKS = "blocks.0.hook_resid_post,blocks.1.hook_mlp_out"


def _args(run_dir: Path, out: Path) -> list[str]:
    return [str(run_dir), "--hooks", HOOKS, "--n-tokens", "6144", "--out-dir", str(out), "--shard-tokens", "1024",
            "--batch-size", "4", "--device", "cpu"]


def _torchrun(run_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(ROOT / "tests" / "dist_worker.py"), "cache", *extra, "--", *_args(run_dir, out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})


def _hashes(out: Path) -> list[tuple[str, str]]:
    return [(r["file"], r["sha256"]) for r in read_meta(out)["shards"]]


@pytest.fixture(scope="module")
def one_process(tiny_run_dir, tmp_path_factory):
    import interp
    from interp.models.loading import run_data

    out = tmp_path_factory.mktemp("cache-one") / "cache"
    cache_activations(interp.load(tiny_run_dir, device="cpu"), run_data(tiny_run_dir, "val"), HOOKS.split(","), 6144,
                      out, shard_tokens=1024, batch_size=4, progress=False)
    return out


def test_two_ranks_write_the_cache_one_process_writes(tiny_run_dir, one_process, tmp_path):
    proc = _torchrun(tiny_run_dir, tmp_path / "two")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(_hashes(one_process)) >= 4 and _hashes(tmp_path / "two") == _hashes(one_process)
    assert not list((tmp_path / "two").glob("meta.rank*.json"))  # journals merged
    store = ActivationStore.from_cache(tmp_path / "two", batch_size=512, buffer_size=1024)
    assert sum(len(b["blocks.0.hook_resid_post"]) for b in store) == read_meta(one_process)["n_rows"]


def test_a_killed_rank_is_finished_by_a_rerun(tiny_run_dir, one_process, tmp_path):
    out = tmp_path / "killed"
    proc = _torchrun(tiny_run_dir, out, "--die-at", "1")  # rank 1 dies after its first shard, before recording it
    assert proc.returncode != 0
    with pytest.raises(CacheError, match="incomplete"):
        open_cache(out)
    proc = _torchrun(tiny_run_dir, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _hashes(out) == _hashes(one_process)

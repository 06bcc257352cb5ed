"""SAE training under torchrun with two CPU processes (gloo), against one process on the same cached activations:
data-parallel and module-parallel runs reach the same SAE weights; a run whose rank dies mid-way and is resumed
equals an uninterrupted one; a world size that does not divide the SAEs and ranks with other settings are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from saes.format import load_sae
from saes.train import train_saes
from saes.train_config import SAETrainConfig

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ["blocks.1.hook_resid_pre", "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"]


@pytest.fixture(scope="module")
def cache_dir(tiny_run_dir, tmp_path_factory):
    import interp
    from interp.analysis.activations import cache_activations
    from interp.models.loading import run_data

    out = tmp_path_factory.mktemp("dist") / "cache"
    cache_activations(interp.load(tiny_run_dir, device="cpu"), run_data(tiny_run_dir, "val"), HOOKS, 8192, out,
                      progress=False)
    return out


def _cfg(run_dir, cache, out, **kw) -> dict:
    base = dict(run_dir=str(run_dir), cache_dir=str(cache), out_dir=str(out), n_tokens=6144, batch_size=256,
                lr=2e-3, progress=False, buffer_size=2048, ckpt_interval=8, log_interval=4, dead_tokens=1000,
                saes=[{"name": "sae", "hook": HOOKS[0], "architecture": "topk", "k": 8, "expansion": 4},
                      {"name": "tc", "hook": HOOKS[1], "hook_out": HOOKS[2], "architecture": "topk", "k": 8,
                       "expansion": 4}])
    return {**SAETrainConfig(**base).to_dict(), **kw}


def _torchrun(cfg: dict, tmp_path: Path, *extra: str, nproc: int = 2) -> subprocess.CompletedProcess:
    path = tmp_path / f"cfg-{Path(cfg['out_dir']).name}.json"
    path.write_text(json.dumps(cfg))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), str(ROOT / "tests" / "dist_worker.py"), str(path), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})


def _weights(out: Path, name: str) -> dict[str, torch.Tensor]:
    return load_sae(out / name).state_dict()


def _assert_same(a: Path, b: Path, atol: float) -> None:
    for name in ("sae", "tc"):
        one, two = _weights(a, name), _weights(b, name)
        worst = max(float((one[k] - two[k]).abs().max()) for k in one)
        assert worst <= atol, (name, worst)


@pytest.fixture(scope="module")
def one_process(tiny_run_dir, cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    train_saes(SAETrainConfig.from_dict(_cfg(tiny_run_dir, cache_dir, out)))
    return out


def test_data_parallel_matches_one_process(tiny_run_dir, cache_dir, one_process, tmp_path):
    cfg = _cfg(tiny_run_dir, cache_dir, tmp_path / "dp", distribute="data")
    proc = _torchrun(cfg, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # each rank averages half of the batch and gloo averages the two gradients: float additions in another order
    _assert_same(one_process, tmp_path / "dp", atol=1e-4)
    untrained = SAETrainConfig.from_dict(_cfg(tiny_run_dir, cache_dir, tmp_path / "short", n_tokens=256 * 2))
    train_saes(untrained)
    with pytest.raises(AssertionError):  # the comparison can fail: two steps are far from sixteen
        _assert_same(one_process, tmp_path / "short", atol=1e-4)
    lines = (tmp_path / "dp" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 24 // 4 and set(json.loads(lines[-1])["saes"]) == {"sae", "tc"}  # one writer


def test_module_parallel_on_the_fly_matches_one_process(tiny_run_dir, cache_dir, tmp_path):
    """No cache: the two ranks share the model's forward passes (each runs every other one) and still serve the
    batches one process serves."""
    one = _cfg(tiny_run_dir, "", tmp_path / "one-fly", n_tokens=2048)
    train_saes(SAETrainConfig.from_dict(one))
    proc = _torchrun({**one, "out_dir": str(tmp_path / "mp"), "distribute": "modules"}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same(tmp_path / "one-fly", tmp_path / "mp", atol=1e-6)  # each SAE trained on whole batches by one rank
    lines = (tmp_path / "mp" / "metrics.jsonl").read_text().splitlines()
    assert set(json.loads(lines[-1])["saes"]) == {"sae", "tc"}  # rank 0 logs the SAE rank 1 trained


@pytest.mark.parametrize("mode", ["data", pytest.param("modules", marks=pytest.mark.slow)])
def test_a_run_whose_rank_died_resumes_to_the_same_weights(tiny_run_dir, cache_dir, one_process, tmp_path, mode):
    cfg = _cfg(tiny_run_dir, cache_dir, tmp_path / "killed", distribute=mode)
    proc = _torchrun(cfg, tmp_path, "--die-at", "13")  # last checkpoint: step 8
    assert proc.returncode != 0
    assert (tmp_path / "killed" / "checkpoints" / "step_000008").is_dir()
    assert not (tmp_path / "killed" / "sae").exists()
    proc = _torchrun({**cfg, "resume": True}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_same(one_process, tmp_path / "killed", atol=1e-4)


def test_bad_worlds_are_refused(tiny_run_dir, cache_dir, tmp_path):
    from interp.training.distributed import DistInfo
    from saes.distributed import SAEWorld
    from saes.errors import SAEConfigError

    two = SAEWorld(DistInfo(rank=1, world_size=2), "modules", "cpu")
    assert two.share(["a", "b", "c", "d"], 256) == ["c", "d"]
    with pytest.raises(SAEConfigError, match="3 SAEs do not divide over 2 processes"):
        two.share(["a", "b", "c"], 256)
    with pytest.raises(SAEConfigError, match="batch_size=255 does not split over 2 processes"):
        SAEWorld(DistInfo(rank=0, world_size=2), "data", "cpu").share(["a"], 255)
    proc = _torchrun(_cfg(tiny_run_dir, cache_dir, tmp_path / "disagree"), tmp_path, "--rank1", "lr=0.001")
    assert proc.returncode != 0 and "another settings than rank 0" in proc.stderr

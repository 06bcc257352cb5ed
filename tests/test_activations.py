"""Activation cache and store: exact values, early stop, flat memory, atomic resume, mismatch errors, and a
store that serves every row exactly once, aligned across hooks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.analysis.activations import ActivationStore, cache_activations, open_cache
from interp.analysis.activations.cache import read_shard, run_to_hooks
from interp.errors import CheckpointError, HookNameError, InputError
from tests.cache_worker import seeded_model, seeded_tokens

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_pre", "blocks.1.attn.hook_z"]


@pytest.fixture(scope="module")
def model():
    return seeded_model()


def _all_rows(path: Path, hook: str) -> torch.Tensor:
    return torch.cat([read_shard(p, [hook])[hook] for p in sorted(path.glob("shard_*.safetensors"))])


def test_cached_values_equal_run_with_cache(model, tmp_path) -> None:
    tokens = seeded_tokens(64 * 40)
    info = cache_activations(model, tokens, HOOKS, 64 * 40, tmp_path / "c", shard_tokens=64 * 16, batch_size=8,
                             progress=False)
    assert info.n_shards == 3 and info.widths["blocks.1.attn.hook_z"] == 64
    _, ref = model.run_with_cache(tokens)
    for hook in HOOKS:
        assert torch.equal(_all_rows(tmp_path / "c", hook), ref[hook].reshape(40 * 64, -1))
    half = cache_activations(model, tokens, HOOKS[0], 64 * 40, tmp_path / "h", dtype="float16", progress=False)
    assert half.n_rows == 2560
    got = _all_rows(tmp_path / "h", HOOKS[0])
    assert got.dtype == torch.float16
    assert torch.allclose(got.float(), ref[HOOKS[0]].reshape(-1, 64), atol=2e-3, rtol=1e-3)


def test_forward_stops_after_the_last_needed_block(model, tmp_path) -> None:
    calls = []
    model.add_hook("blocks.2.hook_resid_pre", lambda act, hook: calls.append(1), is_permanent=True)
    try:
        cache_activations(model, seeded_tokens(64 * 8), "blocks.0.hook_resid_post", 64 * 8, tmp_path / "c",
                          progress=False)
        assert calls == []  # block 2 never ran
        cache_activations(model, seeded_tokens(64 * 8), "blocks.2.hook_resid_post", 64 * 8, tmp_path / "d",
                          progress=False)
        assert calls  # ...but does when a hook there is needed
    finally:
        model.reset_hooks(including_permanent=True)


def test_resid_pre_hook_skips_its_block_and_matches(model) -> None:
    """blocks.2.hook_resid_pre is the residual after block 1: block 2 must not run, and the values must equal a
    full run's (alone, and together with a shallower hook)."""
    tokens = seeded_tokens(64 * 4).view(4, 64)
    _, ref = model.run_with_cache(tokens)
    ran = []
    model.add_hook("blocks.2.hook_attn_in" if model.cfg.use_attn_in else "blocks.2.ln1.hook_normalized",
                   lambda act, hook: ran.append(1), is_permanent=True)
    try:
        for names in (["blocks.2.hook_resid_pre"], ["blocks.0.hook_mlp_out", "blocks.2.hook_resid_pre"]):
            got = run_to_hooks(model, tokens, names)
            for n in names:
                assert torch.equal(got[n], ref[n]), n
        assert ran == []
    finally:
        model.reset_hooks(including_permanent=True)


def _worker(n_tokens: int, out: Path, shard_tokens: int = 2**14) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "cache_worker.py"), str(n_tokens), str(out),
                             str(shard_tokens)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_peak_memory_stays_flat(tmp_path) -> None:
    small, large = 64 * 1000, 64 * 4000  # 3 x 64k and 3 x 256k rows of 64 floats: 49 MB vs 197 MB
    rss = []
    for n, name in ((small, "s"), (large, "l")):
        out, err = _worker(n, tmp_path / name).communicate(timeout=300)
        assert err == "" or "Warning" in err or "warn" in err.lower(), err[-2000:]
        rss.append(float(out.strip().splitlines()[-1]))
    grown_mb = rss[1] - rss[0]
    held_if_unbounded = (large - small) * 3 * 64 * 4 / 2**20  # ~147 MB more if activations were all held
    assert grown_mb < 0.25 * held_if_unbounded, (rss, held_if_unbounded)


def test_killed_run_resumes(tmp_path) -> None:
    n, shard = 64 * 1200, 64 * 40
    ref = _worker(n, tmp_path / "ref", shard)
    ref.communicate(timeout=300)
    proc = _worker(n, tmp_path / "killed", shard)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "killed").glob("shard_*.safetensors"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    done = len(list((tmp_path / "killed").glob("shard_*.safetensors")))
    assert 3 <= done < 30, "the run was not killed part-way"
    for p in (tmp_path / "killed").glob("shard_*.safetensors"):
        read_shard(p, ["blocks.0.hook_resid_post"])  # every visible shard is complete
    out, err = _worker(n, tmp_path / "killed", shard).communicate(timeout=300)
    for hook in ("blocks.0.hook_resid_post", "blocks.2.hook_resid_post"):
        assert torch.equal(_all_rows(tmp_path / "killed", hook), _all_rows(tmp_path / "ref", hook))


def test_cache_errors(model, tmp_path) -> None:
    cache_activations(model, seeded_tokens(64 * 4), HOOKS[0], 256, tmp_path / "c", progress=False)
    other = seeded_model()
    with torch.no_grad():
        other.blocks[0].attn.W_Q.add_(0.01)
    with pytest.raises(CheckpointError, match="activations of model"):
        cache_activations(other, seeded_tokens(64 * 4), HOOKS[0], 256, tmp_path / "c", progress=False)
    with pytest.raises(CheckpointError, match="made by model"):
        open_cache(tmp_path / "c", other)
    with pytest.raises(InputError, match="empty"):
        cache_activations(model, torch.zeros(0, 64, dtype=torch.long), HOOKS[0], 256, tmp_path / "e", progress=False)
    with pytest.raises(HookNameError, match="Close matches: blocks.0.hook_resid_post"):
        cache_activations(model, seeded_tokens(256), "blocks.0.hook_resid_pots", 256, tmp_path / "f", progress=False)


def test_store_serves_each_row_once_aligned(model, tmp_path) -> None:
    tokens = seeded_tokens(64 * 20)
    cache_activations(model, tokens, HOOKS, 64 * 20, tmp_path / "c", shard_tokens=64 * 4, batch_size=4,
                      progress=False)
    store = ActivationStore.from_cache(tmp_path / "c", batch_size=100, buffer_size=400, seed=0)
    batches = list(store)
    got = {h: torch.cat([b[h] for b in batches]) for h in HOOKS}
    ref = _all_rows(tmp_path / "c", HOOKS[0])
    assert len(got[HOOKS[0]]) == len(ref) == store.rows_served
    key = lambda t: t[:, 0] * 1e3 + t[:, 1]  # noqa: E731  (rows are distinct float vectors)
    assert torch.equal(key(got[HOOKS[0]]).sort().values, key(ref).sort().values)  # a permutation
    assert not torch.equal(got[HOOKS[0]], ref)  # ...that is shuffled
    assert torch.equal(got[HOOKS[0]], got[HOOKS[1]])  # resid_post 0 == resid_pre 1: aligned rows
    live = ActivationStore.from_model(model, tokens, HOOKS[:2], batch_size=100, buffer_size=400, seed=0)
    live_rows = torch.cat([b[HOOKS[0]] for b in live])
    assert torch.allclose(key(live_rows).sort().values, key(ref).sort().values, atol=1e-3)
    no_bos = ActivationStore.from_cache(tmp_path / "c", batch_size=100, buffer_size=400, exclude_bos=True)
    assert sum(len(b[HOOKS[0]]) for b in no_bos) == 20 * 63

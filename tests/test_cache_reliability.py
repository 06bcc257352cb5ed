"""An activation cache cut short (killed, disk full) or damaged later is never read as a whole one: readers refuse
it, naming the shard and the fix; a rerun of the same command verifies what is there, rewrites what is bad and
removes killed runs' temp files. Bad arguments give named errors before anything is written."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.analysis.activations import ActivationStore, CacheError, cache_activations, open_cache
from interp.analysis.activations.cache import read_shard
from interp.analysis.hooks import resolve_hook_names
from interp.errors import HookNameError, InputError, RunDirError
from interp.layout import RunLayout
from tests.cache_worker import seeded_model, seeded_tokens

ROOT = Path(__file__).resolve().parent.parent
HOOK = "blocks.2.hook_resid_post"


@pytest.fixture(scope="module")
def model():
    return seeded_model()


def _worker(n_tokens: int, out: Path, shard_tokens: int, preexec=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "cache_worker.py"), str(n_tokens), str(out),
                             str(shard_tokens)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec)


def _rows(path: Path, hook: str) -> torch.Tensor:
    meta = open_cache(path)
    return torch.cat([read_shard(path / r["file"], [hook], r, checksum=True)[hook] for r in meta["shards"]])


def _reference(model, n_seqs: int) -> torch.Tensor:
    with torch.no_grad():
        _, ref = model.run_with_cache(seeded_tokens(64 * n_seqs), names_filter=HOOK)
    return ref[HOOK].reshape(n_seqs * 64, -1)


def test_killed_cache_is_refused_then_finished_by_a_rerun(model, tmp_path: Path) -> None:
    n, shard, out = 64 * 320, 64 * 16, tmp_path / "c"
    proc = _worker(n, out, shard)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(list(out.glob("shard_*.safetensors"))) < 3:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the cache run ended before it was killed"
    with pytest.raises(CacheError, match=r"incomplete \(\d+ of 20 shards\).*rerunning .*--n-tokens 20480"):
        open_cache(out)
    with pytest.raises(CacheError, match="incomplete"):
        ActivationStore.from_cache(out, batch_size=64, buffer_size=256)  # what SAE training and the lens read
    stale = out / f".shard_00005.safetensors.tmp{proc.pid}.k1ll.safetensors.tmp"  # the killed writer's temp file
    live = out / f".shard_00005.safetensors.tmp{os.getpid()}.l1ve.safetensors.tmp"  # a live writer's
    stale.write_bytes(b"\0" * 4096)
    live.write_bytes(b"\0" * 4096)
    rerun = _worker(n, out, shard)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    assert not stale.exists() and live.exists()
    meta = open_cache(out)
    assert meta["complete"] and meta["n_rows"] == n and len(meta["shards"]) == 20
    assert torch.allclose(_rows(out, HOOK), _reference(model, 320), atol=1e-5)


def test_cache_cut_by_a_full_disk_is_refused(model, tmp_path: Path) -> None:
    """A file-size limit makes the shard write fail as a full disk would (ENOSPC and EFBIG end the same way)."""
    n, shard, out = 64 * 32, 64 * 16, tmp_path / "c"

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get the write error rather than the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # meta.json fits, a shard (1 MB) does not

    proc = _worker(n, out, shard, preexec=small_disk)
    proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the half-written temp shard is gone
    with pytest.raises(CacheError, match=r"incomplete \(0 of 2 shards\).*ran out of disk"):
        open_cache(out)
    assert _worker(n, out, shard).wait(timeout=300) == 0
    assert torch.allclose(_rows(out, HOOK), _reference(model, 32), atol=1e-5)


def test_damaged_shards_are_named_and_rewritten(model, tmp_path: Path) -> None:
    tokens, out = seeded_tokens(64 * 20), tmp_path / "c"
    kw = dict(shard_tokens=64 * 4, batch_size=4, progress=False)
    cache_activations(model, tokens, HOOK, 64 * 20, out, **kw)
    good = _rows(out, HOOK)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    cache_activations(model, tokens, HOOK, 64 * 20, out, **kw)  # a rerun of a complete cache verifies, rewrites nothing
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes

    s1, s2 = out / "shard_00001.safetensors", out / "shard_00002.safetensors"
    s1.write_bytes(s1.read_bytes()[:5000])  # truncated from outside
    for reader in (lambda: open_cache(out), lambda: ActivationStore.from_cache(out, batch_size=64, buffer_size=256)):
        with pytest.raises(CacheError, match=r"Shard .*shard_00001.safetensors .* damaged: it has 5000 bytes.*rerunning"):
            reader()
    with pytest.raises(CacheError, match=r"shard_00001.safetensors of the activation cache cannot be read .*truncated"):
        read_shard(s1, [HOOK])  # even without its record, the reader names the shard and the fix
    cache_activations(model, tokens, HOOK, 64 * 20, out, **kw)
    assert torch.equal(_rows(out, HOOK), good)

    data = bytearray(s2.read_bytes())
    data[-7] ^= 0xFF  # one flipped bit pattern in the tensor data, size unchanged
    s2.write_bytes(bytes(data))
    store = ActivationStore.from_cache(out, batch_size=64, buffer_size=256)
    with pytest.raises(CacheError, match=r"shard_00002.safetensors .* sha256 differs"):
        list(store)
    cache_activations(model, tokens, HOOK, 64 * 20, out, **kw)
    assert torch.equal(_rows(out, HOOK), good)
    assert sum(len(b[HOOK]) for b in ActivationStore.from_cache(out, batch_size=64, buffer_size=256)) == 64 * 20


def test_cache_from_an_older_workbench_is_refused(model, tmp_path: Path) -> None:
    out = tmp_path / "c"
    cache_activations(model, seeded_tokens(64 * 4), HOOK, 256, out, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    legacy = {k: v for k, v in meta.items() if k not in ("complete", "shards", "n_shards", "n_rows")}
    (out / "meta.json").write_text(json.dumps(legacy))
    with pytest.raises(CacheError, match="incomplete .*older workbench.*rerunning"):
        open_cache(out)
    cache_activations(model, seeded_tokens(64 * 4), HOOK, 256, out, progress=False)  # the rerun finishes it
    assert open_cache(out)["complete"]


def test_bad_arguments_are_named_errors(model, tmp_path: Path) -> None:
    tokens, out = seeded_tokens(64 * 4), tmp_path / "c"
    for kw, match in ((dict(batch_size=0), "batch_size=0: must be a whole number of at least 1"),
                      (dict(n_tokens=0), "n_tokens=0: must be .* at least 1"),
                      (dict(n_tokens=-5), "n_tokens=-5"),
                      (dict(shard_tokens=0), "shard_tokens=0"),
                      (dict(context_size=0), "context_size=0: must be between 1 and .* 64")):
        args = {"n_tokens": 256, **kw}
        with pytest.raises(InputError, match=match):
            cache_activations(model, tokens, HOOK, args.pop("n_tokens"), out, progress=False, **args)
    with pytest.raises(HookNameError, match=r"No hook names in ','.*glob.*re:REGEX"):
        cache_activations(model, tokens, ",", 256, out, progress=False)  # used to write an empty cache
    with pytest.raises(HookNameError, match=r"'re:blocks\.\(' is not a valid regular expression"):
        resolve_hook_names(model, "re:blocks.(")
    assert resolve_hook_names(model, "re:blocks\\.[01]\\.hook_resid_post") == ["blocks.0.hook_resid_post",
                                                                               "blocks.1.hook_resid_post"]
    assert not out.exists()  # nothing written for bad arguments
    with pytest.raises(RunDirError, match=r"Run directory .*nosuch does not exist"):
        RunLayout(tmp_path / "nosuch").data_dir()  # what `interp cache nosuch` reads first
    with pytest.raises(CacheError, match="does not exist"):
        open_cache(tmp_path / "nosuch")

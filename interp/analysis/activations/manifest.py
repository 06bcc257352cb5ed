"""An activation cache's ``meta.json``: what the cache is, which shards it must hold, and whether it is complete.

``cache_activations`` records each shard (rows, bytes, sha256) as it is written and sets ``complete`` last, so a
cache cut short (killed, disk full) is never read as a whole one: ``open_cache`` refuses it and says how to finish
it, and a rerun of the same command verifies the shards already there and rewrites the bad ones.

>>> meta = open_cache("runs/cache/resid1")            # raises CacheError when incomplete or damaged
>>> [r["file"] for r in meta["shards"]]
['shard_00000.safetensors', 'shard_00001.safetensors']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interp.errors import CheckpointError
from interp.io import atomic_write_json, hash_state_dict, read_json, sha256_file

FORMAT = "interp-activation-cache/2"
META = "meta.json"
IDENTITY = ("model_hash", "hooks", "widths", "dtype", "context_size", "seqs_per_shard", "n_seqs")
"""The fields that say which activations a cache holds: a rerun must match them to resume."""


class CacheError(CheckpointError):
    """An activation cache that is incomplete, damaged, or not the one asked for; the message says how to fix it."""


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.safetensors"


def journal_name(rank: int) -> str:
    """A rank's record of the shards it has written, while several processes write one cache."""
    return f"meta.rank{rank}.json"


def finish_hint(path: Path, meta: dict[str, Any]) -> str:
    """How to complete or repair the cache at ``path``: rerun the command that wrote it (it resumes)."""
    hooks = ",".join(meta.get("hooks", [])) or "HOOKS"
    rows = meta.get("n_rows") or meta.get("n_seqs", 0) * meta.get("context_size", 0) or "N"
    return (f"Finish it by rerunning the `interp cache` command that wrote it (`interp cache RUN_DIR --hooks {hooks} "
            f"--n-tokens {rows} --out-dir {path}`): it keeps the shards that verify and writes the rest.")


def shard_record(path: Path, rows: int) -> dict[str, Any]:
    """What ``meta.json`` records of a written shard, to verify it later."""
    return {"file": path.name, "rows": rows, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def shard_problem(path: Path, record: dict[str, Any] | None, checksum: bool = True) -> str | None:
    """Why the shard at ``path`` does not match its ``record`` (None: it does)."""
    if record is None:
        return "it is not recorded in meta.json (its writer was killed before recording it)"
    if not path.exists():
        return "it is missing"
    size = path.stat().st_size
    if size != record["bytes"]:
        return f"it has {size} bytes, meta.json records {record['bytes']} (truncated or overwritten)"
    if checksum and sha256_file(path) != record["sha256"]:
        return "its sha256 differs from the one recorded when it was written (the file was changed or corrupted)"
    return None


def write_meta(out: Path, meta: dict[str, Any]) -> None:
    atomic_write_json(out / META, meta)


def read_meta(path: Path) -> dict[str, Any] | None:
    return read_json(path / META) if (path / META).exists() else None


def open_cache(path: str | Path, model=None) -> dict[str, Any]:
    """The metadata of a complete cache whose shards all have their recorded sizes; with ``model``, also checks
    the cache was made by that model. Checksums are verified as shards are read (``ActivationStore``)."""
    path = Path(path)
    if not path.is_dir():
        raise CacheError(f"Activation cache {path} does not exist; write one with `interp cache`.")
    meta = read_meta(path)
    if meta is None:
        raise CacheError(f"{path} is not an activation cache (no {META}); write one with `interp cache`.")
    if not meta.get("complete"):
        done = len(meta.get("shards", []))
        of = f"{done} of {meta['n_shards']} shards" if "n_shards" in meta else "written by an older workbench"
        raise CacheError(f"The activation cache in {path} is incomplete ({of}): its writer was killed or ran out of "
                         f"disk. {finish_hint(path, meta)}")
    for record in meta["shards"]:
        problem = shard_problem(path / record["file"], record, checksum=False)
        if problem:
            raise CacheError(f"Shard {path / record['file']} of the activation cache is damaged: {problem}. "
                             f"{finish_hint(path, meta)}")
    if model is not None and meta["model_hash"] != hash_state_dict(model.state_dict()):
        raise CacheError(f"The cache in {path} was made by model {meta['model_hash']}, not this one.")
    return meta

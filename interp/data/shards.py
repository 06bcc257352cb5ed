"""Token shards: flat token arrays on disk, memory-mapped, with a JSON index written last.

Shards and index are written into a temporary directory beside the target, which replaces the target only
once complete: a killed writer leaves the previous directory (or none) intact, never half of one.

>>> shards = write_shards([np.arange(1000)], "runs/data/train", vocab_size=4096)
>>> shards.batch([0, 100], 65).shape
torch.Size([2, 65])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interp.errors import WorkbenchError
from interp.io import atomic_dir, atomic_path, atomic_write_json, read_json, sha256_file

INDEX = "index.json"


class ShardError(WorkbenchError):
    """A token-shard directory that is missing, corrupt or truncated."""


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)


def write_shards(
    chunks: Iterable[Sequence[int] | np.ndarray], out_dir: str | Path, *, vocab_size: int,
    shard_tokens: int = 2**24, metadata: dict[str, Any] | None = None,
) -> TokenShards:
    """Write token ``chunks`` (concatenated in order) as shards of ``shard_tokens`` tokens into ``out_dir``."""
    final_dir = Path(out_dir)
    dtype = _dtype_for(vocab_size)
    shards: list[dict[str, Any]] = []
    buf: list[np.ndarray] = []
    buffered = 0

    def flush(final: bool) -> None:
        nonlocal buf, buffered
        data = np.concatenate(buf) if buf else np.zeros(0, dtype)
        while len(data) >= shard_tokens or (final and len(data)):
            part, data = data[:shard_tokens], data[shard_tokens:]
            name = f"shard_{len(shards):05d}.bin"
            with atomic_path(out / name) as tmp:
                part.astype(dtype).tofile(tmp)
                digest = sha256_file(tmp)
            shards.append({"file": name, "n_tokens": int(len(part)), "sha256": digest})
            _write_index(out, shards, vocab_size, dtype, metadata, complete=False)
        buf, buffered = [data] if len(data) else [], len(data)

    with atomic_dir(final_dir) as out:  # swapped in only once complete: a killed writer leaves the old one intact
        for chunk in chunks:
            arr = np.asarray(chunk)
            if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
                raise ShardError(f"Token ids outside [0, {vocab_size}) in the data: tokenizer and vocab_size disagree.")
            buf.append(arr.astype(dtype, copy=False))
            buffered += arr.size
            if buffered >= shard_tokens:
                flush(final=False)
        flush(final=True)
        if not shards:
            raise ShardError(f"No tokens to write to {final_dir}: the token dataset is empty.")
        _write_index(out, shards, vocab_size, dtype, metadata, complete=True)
    return TokenShards(final_dir)


def _write_index(out: Path, shards: list, vocab_size: int, dtype: np.dtype, metadata: dict | None,
                 complete: bool) -> None:
    atomic_write_json(out / INDEX, {
        "format": "interp-token-shards/1", "complete": complete, "vocab_size": vocab_size, "dtype": dtype.name,
        "n_tokens": sum(s["n_tokens"] for s in shards), "shards": shards, "metadata": metadata or {},
    })


class TokenShards:
    """Read-only view of a shard directory: ``window``, ``batch`` and sequential ``iter_chunks``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        index_path = self.path / INDEX
        if not index_path.exists():
            raise ShardError(f"{self.path} holds no {INDEX}: it is not a token-shard directory, or its writer "
                             "was killed before finishing. Re-run `interp corpus` to write it.")
        try:
            index = read_json(index_path)
            self.vocab_size = int(index["vocab_size"])
            self.dtype = np.dtype(index["dtype"])
            entries = index["shards"]
        except (ValueError, KeyError, TypeError) as err:
            raise ShardError(f"{index_path} is corrupt ({err}); re-run `interp corpus`.") from err
        if not index.get("complete", False):
            raise ShardError(f"{self.path} was left incomplete by a killed writer; re-run `interp corpus`.")
        self.metadata: dict[str, Any] = index.get("metadata", {})
        self._arrays: list[np.ndarray] = []
        for entry in entries:
            f = self.path / entry["file"]
            expected = entry["n_tokens"] * self.dtype.itemsize
            size = f.stat().st_size if f.exists() else -1
            if size != expected:
                raise ShardError(f"Shard {f} has {size} bytes, the index says {expected}: it is truncated or "
                                 "missing. Re-run `interp corpus`.")
            self._arrays.append(np.memmap(f, dtype=self.dtype, mode="r"))
        self._offsets = np.cumsum([0] + [len(a) for a in self._arrays])
        self.n_tokens = int(self._offsets[-1])
        if self.n_tokens == 0:
            raise ShardError(f"{self.path} holds no tokens: the token dataset is empty.")

    def __len__(self) -> int:
        return self.n_tokens

    def __repr__(self) -> str:
        return f"TokenShards({str(self.path)!r}, n_tokens={self.n_tokens}, vocab_size={self.vocab_size})"

    def window(self, start: int, length: int) -> np.ndarray:
        """Tokens ``[start, start + length)``, crossing shard boundaries when needed."""
        if start < 0 or start + length > self.n_tokens:
            raise IndexError(f"window [{start}, {start + length}) outside [0, {self.n_tokens})")
        i = int(np.searchsorted(self._offsets, start, side="right") - 1)
        parts, pos, need = [], start, length
        while need > 0:
            local = pos - self._offsets[i]
            take = min(need, len(self._arrays[i]) - local)
            parts.append(self._arrays[i][local : local + take])
            pos, need, i = pos + take, need - take, i + 1
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def batch(self, starts: Sequence[int] | np.ndarray, length: int) -> torch.Tensor:
        """LongTensor ``[len(starts), length]`` of windows at ``starts``."""
        out = np.empty((len(starts), length), dtype=np.int64)
        for row, s in enumerate(starts):
            out[row] = self.window(int(s), length)
        return torch.from_numpy(out)

    def first_windows(self, n: int, length: int) -> torch.Tensor:
        """``[min(n, n_tokens // length), length]``: the first consecutive non-overlapping windows."""
        n = min(n, self.n_tokens // length)
        return self.batch(range(0, n * length, length), length)

    def iter_chunks(self, length: int, start: int = 0) -> Iterator[np.ndarray]:
        """Consecutive non-overlapping windows of ``length`` tokens (the tail that does not fill one is dropped)."""
        for s in range(start, self.n_tokens - length + 1, length):
            yield self.window(s, length)

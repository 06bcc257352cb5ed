"""Token shards: windows across shard boundaries, atomic writes, and clear errors for damaged directories."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interp.data.shards import ShardError, TokenShards, write_shards

REF = np.random.default_rng(0).integers(0, 5000, 10_000)


def _write(path, shard_tokens=1024):
    return write_shards([REF[:3000], REF[3000:7001], REF[7001:]], path, vocab_size=5000, shard_tokens=shard_tokens)


def test_windows_and_batches_match_numpy(tmp_path) -> None:
    shards = _write(tmp_path / "s")
    assert len(shards) == 10_000 and len(shards._arrays) == 10
    for start in (0, 1000, 1020, 1023, 5000, 9900):
        assert np.array_equal(shards.window(start, 100), REF[start : start + 100])
    batch = shards.batch(np.array([0, 1020, 9935]), 65)
    assert batch.dtype.is_floating_point is False
    assert np.array_equal(batch.numpy(), np.stack([REF[s : s + 65] for s in (0, 1020, 9935)]))
    chunks = list(shards.iter_chunks(3000))
    assert len(chunks) == 3 and np.array_equal(np.concatenate(chunks), REF[:9000])
    with pytest.raises(IndexError):
        shards.window(9990, 20)


def test_killed_writer_leaves_previous_directory(tmp_path) -> None:
    _write(tmp_path / "s")

    def dying():
        yield REF[:4000]
        raise KeyboardInterrupt  # the writer dies after a few shards were written

    with pytest.raises(KeyboardInterrupt):
        write_shards(dying(), tmp_path / "s", vocab_size=5000, shard_tokens=1024)
    assert np.array_equal(TokenShards(tmp_path / "s").window(0, 10_000), REF)  # old data intact
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary directory left behind


def test_truncated_shard(tmp_path) -> None:
    _write(tmp_path / "s")
    f = tmp_path / "s" / "shard_00003.bin"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(ShardError, match="shard_00003.bin has 2038 bytes, the index says 2048"):
        TokenShards(tmp_path / "s")


def test_missing_and_corrupt_index(tmp_path) -> None:
    with pytest.raises(ShardError, match="no index.json"):
        TokenShards(tmp_path)
    _write(tmp_path / "s")
    (tmp_path / "s" / "index.json").write_text("{not json")
    with pytest.raises(ShardError, match="corrupt"):
        TokenShards(tmp_path / "s")
    index = {"vocab_size": 10, "dtype": "uint16", "shards": [], "complete": False}
    (tmp_path / "s" / "index.json").write_text(json.dumps(index))
    with pytest.raises(ShardError, match="incomplete"):
        TokenShards(tmp_path / "s")


def test_bad_tokens_and_empty_dataset(tmp_path) -> None:
    with pytest.raises(ShardError, match=r"outside \[0, 100\)"):
        write_shards([np.array([1, 2, 300])], tmp_path / "a", vocab_size=100)
    with pytest.raises(ShardError, match="empty"):
        write_shards([], tmp_path / "b", vocab_size=100)
    assert not any(tmp_path.iterdir())


def test_large_vocab_uses_uint32(tmp_path) -> None:
    shards = write_shards([np.array([70_000, 1, 65_535])], tmp_path / "s", vocab_size=100_000)
    assert shards.dtype == np.uint32 and shards.window(0, 3).tolist() == [70_000, 1, 65_535]

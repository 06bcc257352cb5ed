"""Copy drills: the repeat structure, the vocabulary taken from the data, the same rows on every process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.checkpoint import load_model
from interp.copy_drills import drill_row, drill_rows, drill_vocab, mix_drills
from interp.errors import ConfigError
from interp.shards import write_shards
from interp.train import train
from tests.fixtures.runs import tiny_train_config


def test_every_sequence_is_followed_by_its_repeat() -> None:
    vocab = np.array([3, 5, 8, 13, 21, 34])
    rng = np.random.default_rng(0)
    for _ in range(20):
        row, lengths = drill_row(rng, vocab, 129)
        assert len(row) == 129 and set(row.tolist()) <= set(vocab.tolist())
        start = 0
        for n in lengths:
            first, second = row[start : start + n], row[start + n : start + 2 * n]
            assert np.array_equal(first[: len(second)], second)
            assert 5 <= n <= 64
            start += 2 * n
        assert start >= 129


def test_rows_depend_on_the_seed_only() -> None:
    vocab = np.arange(10, 60)
    a, b = drill_rows(vocab, 4, 33, (0, 7, 0)), drill_rows(vocab, 4, 33, (0, 7, 0))
    assert torch.equal(a, b) and a.dtype == torch.int64
    assert not torch.equal(a, drill_rows(vocab, 4, 33, (0, 8, 0)))


def test_vocab_is_the_tokens_the_data_uses_often(tmp_path: Path) -> None:
    tokens = np.array([1] * 30 + [2] * 25 + [3] * 5 + [4] * 19)
    np.random.default_rng(0).shuffle(tokens)
    shards = write_shards([tokens], tmp_path / "d", vocab_size=8)
    assert drill_vocab(shards, min_count=20).tolist() == [1, 2]
    with pytest.raises(ConfigError, match="copy_drill_frac=0"):
        drill_vocab(shards, min_count=26)


def test_processes_together_see_the_single_process_batch() -> None:
    vocab = np.arange(100, 200)
    data = torch.arange(8 * 17).view(8, 17)  # 8 rows of "corpus"
    whole = mix_drills(data.clone(), vocab, 0.375, 8, 0, seed=(1, 2, 3))  # 3 drill rows
    assert torch.equal(whole[3:], data[3:]) and (whole[:3] >= 100).all()
    halves = [mix_drills(data[r * 4 : (r + 1) * 4].clone(), vocab, 0.375, 8, r * 4, seed=(1, 2, 3)) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), whole)


def test_trainer_mixes_drills_in(tiny_data_dir: Path, tmp_path: Path) -> None:
    for frac in (0.0, 0.5):
        train(tiny_train_config(tiny_data_dir, tmp_path / f"run{frac}", max_steps=4, copy_drill_frac=frac))
    assert json.loads((tmp_path / "run0.5" / "train_config.json").read_text())["copy_drill_frac"] == 0.5
    with_drills, without = (load_model(tmp_path / f"run{f}").state_dict() for f in (0.5, 0.0))
    assert not torch.equal(with_drills["wte.weight"], without["wte.weight"])  # same seed: only the rows differ
    with pytest.raises(ConfigError, match="copy_drill_frac"):
        tiny_train_config(tiny_data_dir, tmp_path / "bad", copy_drill_frac=1.0).validate()

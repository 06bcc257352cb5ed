"""Copy drills: the repeat structure, the vocabulary taken from the data, the same rows on every process."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.data.shards import write_shards
from interp.errors import ConfigError
from interp.training.checkpoint import load_model
from interp.training.copy_drills import drill_row, drill_rows, drill_vocab, mix_drills, repeat_mask
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config


def test_every_sequence_is_followed_by_its_repeat() -> None:
    vocab = np.array([3, 5, 8, 13, 21, 34])
    rng = np.random.default_rng(0)
    for _ in range(20):
        row, lengths = drill_row(rng, vocab, 129)
        repeat = repeat_mask(lengths, 129)
        assert len(row) == len(repeat) == 129 and set(row.tolist()) <= set(vocab.tolist())
        start = 0
        for n in lengths:
            first, second = row[start : start + n], row[start + n : start + 2 * n]
            assert np.array_equal(first[: len(second)], second)
            assert not repeat[start : start + n].any() and repeat[start + n : start + 2 * n].all()
            assert 5 <= n <= 64
            start += 2 * n
        assert start >= 129


def test_repeat_mask_by_hand() -> None:
    assert repeat_mask([2, 3], 9).tolist() == [False, False, True, True, False, False, False, True, True]


def test_rows_depend_on_the_seed_only() -> None:
    vocab = np.arange(10, 60)
    (a, ma), (b, mb) = drill_rows(vocab, 4, 33, (0, 7, 0)), drill_rows(vocab, 4, 33, (0, 7, 0))
    assert torch.equal(a, b) and torch.equal(ma, mb) and a.dtype == torch.int64 and ma.dtype == torch.bool
    assert not torch.equal(a, drill_rows(vocab, 4, 33, (0, 8, 0))[0])


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
    whole, targets = mix_drills(data.clone(), vocab, 0.375, 8, 0, seed=(1, 2, 3))  # 3 drill rows
    assert torch.equal(whole[3:], data[3:]) and (whole[:3] >= 100).all()
    halves = [mix_drills(data[r * 4 : (r + 1) * 4].clone(), vocab, 0.375, 8, r * 4, seed=(1, 2, 3)) for r in (0, 1)]
    assert torch.equal(torch.cat([h[0] for h in halves]), whole)
    assert torch.equal(torch.cat([h[1] for h in halves]), targets)


def test_only_repeats_carry_loss() -> None:
    """Corpus rows keep every next-token target; a drill row's target is its next token where that token is a
    repeat, and -1 (ignored by the loss) where it is a first copy."""
    vocab = np.arange(100, 200)
    data = torch.arange(4 * 33).view(4, 33)
    batch, targets = mix_drills(data.clone(), vocab, 0.5, 4, 0, seed=(0, 0, 0))
    assert torch.equal(targets[2:], data[2:, 1:])
    rows, repeats = drill_rows(vocab, 2, 33, (0, 0, 0))
    for r in range(2):
        for t in range(32):
            assert targets[r, t] == (rows[r, t + 1] if repeats[r, t + 1] else -1)
    assert (targets[:2] == -1).any() and (targets[:2] >= 100).any()


def test_trainer_mixes_drills_in(tiny_data_dir: Path, tmp_path: Path) -> None:
    for frac in (0.0, 0.5):
        train(tiny_train_config(tiny_data_dir, tmp_path / f"run{frac}", max_steps=4, copy_drill_frac=frac))
    assert json.loads((tmp_path / "run0.5" / "train_config.json").read_text())["copy_drill_frac"] == 0.5
    with_drills, without = (load_model(tmp_path / f"run{f}").state_dict() for f in (0.5, 0.0))
    assert not torch.equal(with_drills["wte.weight"], without["wte.weight"])  # same seed: only the rows differ
    with pytest.raises(ConfigError, match="copy_drill_frac"):
        tiny_train_config(tiny_data_dir, tmp_path / "bad", copy_drill_frac=1.5).validate()


def test_drills_run_between_start_and_stop(tiny_data_dir: Path, tmp_path: Path) -> None:
    """Drills in steps [0, 4) of 4 are drills throughout; drills in [0, 2) or [2, 4) differ from that, from each other
    and from no drills (same seed, so only the drilled steps' rows differ)."""
    runs = {"all": dict(copy_drill_frac=0.5), "to4": dict(copy_drill_frac=0.5, copy_drill_stop=4),
            "to2": dict(copy_drill_frac=0.5, copy_drill_stop=2), "from2": dict(copy_drill_frac=0.5, copy_drill_start=2),
            "none": {}}
    for name, kw in runs.items():
        train(tiny_train_config(tiny_data_dir, tmp_path / name, max_steps=4, **kw))
    w = {name: load_model(tmp_path / name).state_dict()["wte.weight"] for name in runs}
    assert torch.equal(w["all"], w["to4"])
    for a, b in itertools.combinations(("all", "to2", "from2", "none"), 2):
        assert not torch.equal(w[a], w[b]), (a, b)
    cfg = tiny_train_config(tiny_data_dir, tmp_path / "c", copy_drill_frac=0.5, copy_drill_start=2, copy_drill_stop=5)
    assert [cfg.drills_at(s) for s in range(7)] == [False, False, True, True, True, False, False]
    for start, stop in ((-1, 0), (3, 3), (4, 2)):
        with pytest.raises(ConfigError, match="copy_drill_start"):
            tiny_train_config(tiny_data_dir, tmp_path / "bad", copy_drill_start=start, copy_drill_stop=stop).validate()

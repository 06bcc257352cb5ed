"""Lookback drills: every answer is the token before its key's earlier occurrence; rows after the copy drills; the
same rows on every process; the trainer's windows and their checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.errors import ConfigError
from interp.training.checkpoint import load_model
from interp.training.copy_drills import mix_drills
from interp.training.lookback_drills import lookback_row, lookback_rows
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config


def _looked_back(row: list[int], t: int) -> bool:
    """Whether the answer at ``t`` is the token one or two before an earlier occurrence of the query's key (the
    token one or two before ``t``): value, [filler], key ... key, [tail], value."""
    for key_at in (t - 1, t - 2):
        for p in range(key_at):
            if row[p] == row[key_at] and row[t] in row[max(0, p - 2) : p]:
                return True
    return False


def test_every_answer_is_the_token_before_its_key() -> None:
    vocab = np.arange(40, 90)
    rng = np.random.default_rng(0)
    for _ in range(20):
        row, answer = lookback_row(rng, vocab, 129)
        assert len(row) == len(answer) == 129 and set(row.tolist()) <= set(vocab.tolist())
        assert answer.sum() >= 3 and not answer[:6].any()  # 3+ pairs come before the first query
        assert all(_looked_back(row.tolist(), t) for t in np.flatnonzero(answer))
    # The check itself fails on a row whose answers are shifted by one.
    row, answer = lookback_row(np.random.default_rng(1), vocab, 129)
    assert not all(_looked_back(row.tolist(), t + 1) for t in np.flatnonzero(answer) if t + 1 < 129)


def test_lookback_rows_follow_the_copy_drills_and_match_across_processes() -> None:
    vocab = np.arange(100, 200)
    data = torch.arange(8 * 17).view(8, 17)
    copy, targets = mix_drills(data.clone(), vocab, 0.25, 8, 0, seed=(1, 2, 3))  # rows 0-1
    whole, whole_targets = mix_drills(copy, vocab, 0.375, 8, 0, seed=(1, 2, 3, 1), make_rows=lookback_rows,
                                      offset=2, targets=targets)  # rows 2-4
    assert torch.equal(whole[5:], data[5:]) and torch.equal(whole_targets[5:], data[5:, 1:])
    rows, answers = lookback_rows(vocab, 3, 17, (1, 2, 3, 1))
    assert torch.equal(whole[2:5], rows)
    assert torch.equal(whole_targets[2:5], torch.where(answers[:, 1:], rows[:, 1:], -1))
    halves = []
    for r in (0, 1):  # two processes of four rows each
        part, part_targets = mix_drills(data[r * 4 : (r + 1) * 4].clone(), vocab, 0.25, 8, r * 4, seed=(1, 2, 3))
        halves.append(mix_drills(part, vocab, 0.375, 8, r * 4, seed=(1, 2, 3, 1), make_rows=lookback_rows, offset=2,
                                 targets=part_targets))
    assert torch.equal(torch.cat([h[0] for h in halves]), whole)
    assert torch.equal(torch.cat([h[1] for h in halves]), whole_targets)


def test_trainer_windows_and_checks(tiny_data_dir: Path, tmp_path: Path) -> None:
    runs = {"none": {}, "lookback": dict(lookback_drill_frac=0.5, lookback_drill_start=2),
            "both": dict(copy_drill_frac=0.25, lookback_drill_frac=0.5, lookback_drill_start=2)}
    for name, kw in runs.items():
        train(tiny_train_config(tiny_data_dir, tmp_path / name, max_steps=4, **kw))
    saved = json.loads((tmp_path / "lookback" / "train_config.json").read_text())
    assert saved["lookback_drill_frac"] == 0.5 and saved["lookback_drill_start"] == 2
    w = {name: load_model(tmp_path / name).state_dict()["wte.weight"] for name in runs}
    assert not torch.equal(w["none"], w["lookback"]) and not torch.equal(w["lookback"], w["both"])
    cfg = tiny_train_config(tiny_data_dir, tmp_path / "c", lookback_drill_frac=0.5, lookback_drill_start=1,
                            lookback_drill_stop=3)
    assert [cfg.drills_at(s, "lookback") for s in range(5)] == [False, True, True, False, False]
    assert cfg.drill_window() is None and cfg.drill_window("lookback") == (1, 3)
    with pytest.raises(ConfigError, match="lookback_drill_frac"):
        tiny_train_config(tiny_data_dir, tmp_path / "bad", lookback_drill_frac=1.5).validate()
    with pytest.raises(ConfigError, match="lookback_drill_start"):
        tiny_train_config(tiny_data_dir, tmp_path / "bad", lookback_drill_frac=0.2, lookback_drill_start=3,
                          lookback_drill_stop=2).validate()
    with pytest.raises(ConfigError, match="at most 1"):  # both at once would need more rows than the batch has
        tiny_train_config(tiny_data_dir, tmp_path / "bad", copy_drill_frac=0.6, lookback_drill_frac=0.5).validate()
    tiny_train_config(tiny_data_dir, tmp_path / "ok", copy_drill_frac=0.5, copy_drill_stop=2, lookback_drill_frac=0.5,
                      lookback_drill_start=2).validate()  # one after the other


def test_a_run_saved_before_the_lookback_fields_resumes(tiny_data_dir: Path, tmp_path: Path) -> None:
    train(tiny_train_config(tiny_data_dir, tmp_path / "old", max_steps=2))
    saved = tmp_path / "old" / "train_config.json"
    config = {k: v for k, v in json.loads(saved.read_text()).items() if not k.startswith("lookback_")}
    saved.write_text(json.dumps(config))
    train(tiny_train_config(tiny_data_dir, tmp_path / "old", max_steps=3, resume=True))
    assert json.loads(saved.read_text())["max_steps"] == 3
    with pytest.raises(Exception, match="lookback_drill_frac"):  # a changed setting still refuses to resume
        train(tiny_train_config(tiny_data_dir, tmp_path / "old", max_steps=4, resume=True, lookback_drill_frac=0.2))

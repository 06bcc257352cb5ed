"""Task drills: every answer is the asked object's colour or the right option's letter; rows are a function of their
seed; the weighted loss is the hand-computed one; the trainer runs them (with their own loss term, and in every
row)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.data.tokenizer import load_tokenizer
from interp.errors import ConfigError
from interp.layout import DataLayout
from interp.training.checkpoint import load_model
from interp.training.copy_drills import weighted_drill_loss
from interp.training.task_drills import (
    CAPITAL_QUESTIONS,
    capital_segments,
    color_segments,
    ioi_segments,
    mc_segments,
    task_row_maker,
)
from interp.training.trainer import train
from tests.fixtures.runs import tiny_train_config


def test_a_scene_asks_one_object_and_the_answer_is_its_colour() -> None:
    for seed in range(200):
        segments = color_segments(random.Random(seed))
        replay = random.Random(seed)
        pairs = probes.color_scene(replay, replay.randint(3, 5))[1]  # the scene color_segments drew
        answers = [text.strip() for text, is_answer in segments if is_answer]
        assert len(answers) == 1 and answers[0] in lx.COLORS
        asked = " ".join(text for text, is_answer in segments[1:] if not is_answer)
        named = [obj for _, obj in pairs if re.search(rf"\b{obj}\b", asked)]
        assert named == [dict(pairs)[answers[0]]]  # the question names the object of that colour, and no other


def test_a_multiple_choice_answer_is_the_letter_of_the_right_option() -> None:
    oracle = {**{c: cap for c, cap in lx.COUNTRIES}, **{t: c for t, c in lx.THING_COLORS},
              **{s: f"the {a}" for a, s in lx.ANIMALS}}
    seen = set()
    for seed in range(300):
        (prompt, _), (letter, is_answer), _ = mc_segments(random.Random(seed))
        assert is_answer and letter.strip() in sp.MC_LETTERS
        options = dict(re.findall(r"(?:^|[\n ;])([ABC])(?:\.|:| -) ([^\n;]+?)(?=\.?\n|; |\.\n|$)", prompt))
        said = re.search(r"Which option says (.+)\?", prompt)
        subject = re.search(r"(?:capital of|color is|animal says) (.+?)\?", prompt)
        if said:
            right = said.group(1)
        elif subject and subject.group(1) in oracle:
            right = oracle[subject.group(1)]
        else:  # an opposite: either word of a pair may be asked
            continue
        assert options[letter.strip()] == right, prompt
        seen.add(bool(said))
    assert seen == {True, False}  # both kinds of item occur


def test_task_rows_are_a_function_of_their_seed(tiny_data_dir: Path) -> None:
    tok = load_tokenizer(DataLayout(tiny_data_dir).tokenizer)
    make = task_row_maker(tok)
    rows, answers = make(np.arange(5), 4, 65, (0, 3, 1, 2))
    again, _ = make(np.arange(5), 4, 65, (0, 3, 1, 2))
    other, _ = make(np.arange(5), 4, 65, (0, 4, 1, 2))
    assert rows.shape == answers.shape == (4, 65) and torch.equal(rows, again) and not torch.equal(rows, other)
    assert (rows[:, 0] == tok.bos_token_id).all() and answers.sum(1).min() >= 1
    answered = {tok.decode([t]).strip() for t in rows[answers].tolist()}
    assert answered <= set(sp.MC_LETTERS) | {piece for c in lx.COLORS for piece in
                                             (c, *(tok.decode([t]).strip() for t in tok.encode(" " + c)))}


def test_the_shares_choose_the_pieces(tiny_data_dir: Path) -> None:
    tok = load_tokenizer(DataLayout(tiny_data_dir).tokenizer)
    letters = {tok.encode(" " + x, add_special_tokens=False)[0] for x in sp.MC_LETTERS}

    def answered(mc_share: float, lookup_share: float = 0.5) -> tuple[float, str]:
        rows, answers = task_row_maker(tok, mc_share, lookup_share)(np.arange(5), 8, 257, (1, 2))
        share = float(np.mean([t in letters for t in rows[answers].tolist()]))
        return share, tok.decode(rows.flatten().tolist())

    assert answered(1.0)[0] == 1.0 and answered(0.0)[0] == 0.0  # letters only / colours only
    assert 0.5 < answered(0.7)[0] < 0.9
    assert "Which option says" not in answered(1.0, 0.0)[1] and "Which option says" in answered(1.0, 1.0)[1]
    assert "What color is" not in answered(1.0, 1.0)[1].replace("Which option says", "")
    with pytest.raises(ConfigError, match="task_drill_mc_share"):
        tiny_train_config(tiny_data_dir, Path("x"), task_drill_frac=0.2, task_drill_mc_share=1.5).validate()
    with pytest.raises(ConfigError, match="task_drill_ioi_share"):
        tiny_train_config(tiny_data_dir, Path("x"), task_drill_frac=0.2, task_drill_ioi_share=-0.1).validate()
    # IOI pieces: every answer a name, none with ioi_share 0
    names = {tok.encode(" " + x, add_special_tokens=False)[0] for x in lx.NAMES}
    rows, answers = task_row_maker(tok, ioi_share=1.0)(np.arange(5), 8, 257, (1, 2))
    assert answers.sum() >= 8 and all(t in names for t in rows[answers].tolist())
    rows, answers = task_row_maker(tok, mc_share=0.0)(np.arange(5), 8, 257, (1, 2))
    assert not any(t in names for t in rows[answers].tolist())
    # capitals: every answer a capital's first token or later pieces of one; IOI and capitals share the pieces
    capitals = {tok.encode(" " + cap, add_special_tokens=False)[0] for _, cap in lx.COUNTRIES}
    rows, answers = task_row_maker(tok, capital_share=1.0)(np.arange(5), 8, 257, (1, 2))
    first = answers & ~torch.roll(answers, 1, dims=1)  # the first token of each answer
    assert first.sum() >= 8 and all(t in capitals for t in rows[first].tolist())
    rows, answers = task_row_maker(tok, ioi_share=0.5, capital_share=0.5)(np.arange(5), 8, 257, (1, 2))
    first = rows[answers & ~torch.roll(answers, 1, dims=1)].tolist()
    assert all(t in names or t in capitals for t in first) and 0.3 < np.mean([t in names for t in first]) < 0.7
    with pytest.raises(ConfigError, match="at most 1"):
        tiny_train_config(tiny_data_dir, Path("x"), task_drill_frac=0.2, task_drill_ioi_share=0.6,
                          task_drill_capital_share=0.5).validate()


def test_ioi_pieces_answer_the_indirect_object() -> None:
    rng = random.Random(0)
    for _ in range(200):
        (text, _), (answer, is_answer), _ = ioi_segments(rng)
        others = [n for n in lx.NAMES if re.search(rf"\b{n}\b", text) and n != answer.strip()]
        assert is_answer and len(others) == 1  # two people: the answer and the subject
        assert len(re.findall(rf"\b{answer.strip()}\b", text)) == 1  # the indirect object, named once
        assert len(re.findall(rf"\b{others[0]}\b", text)) == 2  # the subject, named again in the action


def test_capital_pieces_name_the_country_and_answer_its_capital() -> None:
    rng, asked = random.Random(0), 0
    capital_of = dict(lx.COUNTRIES)
    for _ in range(300):
        (text, _), (answer, is_answer), (after, _) = capital_segments(rng)
        countries = [c for c in capital_of if re.search(rf"\b{c}\b", text)]
        assert is_answer and len(countries) == 1 and answer == " " + capital_of[countries[0]]
        assert answer.strip() not in text + after  # recalled, never read
        asked += "?" in text
    assert 100 < asked < 200 and len(CAPITAL_QUESTIONS) >= 3  # half the pieces ask for the capital


def test_weighted_drill_loss_by_hand() -> None:
    per_token = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    targets = torch.tensor([[5, 5, -1], [-1, 5, 5], [5, -1, -1]])
    # rows [1, 2) are drills: their answers 5 and 6 (mean 5.5); the rest: 1, 2, 7 (mean 10/3)
    assert weighted_drill_loss(per_token, targets, 1, 2, 2.0).item() == pytest.approx(10 / 3 + 2 * 5.5)
    assert weighted_drill_loss(per_token, targets, 0, 3, 1.0).item() == pytest.approx((1 + 2 + 5 + 6 + 7) / 5)
    assert weighted_drill_loss(per_token, targets, 0, 0, 3.0).item() == pytest.approx((1 + 2 + 5 + 6 + 7) / 5)


def test_the_trainer_runs_task_drills(tiny_data_dir: Path, tmp_path: Path) -> None:
    runs = {"none": {}, "mixed": dict(task_drill_frac=0.25, task_drill_start=2),
            "weighted": dict(task_drill_frac=0.25, task_drill_start=2, task_drill_weight=2.0),
            "every_row": dict(task_drill_frac=1.0, task_drill_weight=1.0)}
    w = {}
    for name, kw in runs.items():
        train(tiny_train_config(tiny_data_dir, tmp_path / name, max_steps=4, **kw))
        w[name] = load_model(tmp_path / name).wte.weight
        losses = [json.loads(line)["loss"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        assert all(np.isfinite(losses))
    assert json.loads((tmp_path / "weighted" / "train_config.json").read_text())["task_drill_weight"] == 2.0
    assert len({tuple(v[:3, :3].flatten().tolist()) for v in w.values()}) == 4  # each setting trains differently
    with pytest.raises(ConfigError, match="task_drill_weight"):
        tiny_train_config(tiny_data_dir, tmp_path / "bad", task_drill_frac=0.2, task_drill_weight=-1).validate()
    with pytest.raises(ConfigError, match="at most 1"):
        tiny_train_config(tiny_data_dir, tmp_path / "bad", copy_drill_frac=0.4, task_drill_frac=0.7).validate()

"""Task prompt pairs (``interp.tasks.pairs``): every builder gives token-aligned clean/corrupted prompts whose
metric is one number, and ``check_pairs`` names what is wrong with pairs that are not."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.errors import InputError
from interp.models.planted import planted_induction_model
from interp.tasks.pairs import PAIR_BUILDERS, build_pairs, check_pairs, prob_mass_diff, tokenize_pairs

ROLE = {"capitals": "country", "greater_than": "YY", "colored_objects": "obj", "multiple_choice": "country"}


@pytest.fixture(scope="module")
def tiny_model(tiny_run_dir):
    import interp

    return interp.load(tiny_run_dir, device="cpu")


def test_registry_has_one_name_per_task() -> None:
    assert list(PAIR_BUILDERS) == ["ioi", "induction", "capitals", "greater_than", "colored_objects",
                                   "multiple_choice"]


def test_ioi_pairs_are_aligned_and_labelled(tiny_model) -> None:
    pairs = build_pairs(tiny_model, "ioi", n=10, seed=3)
    assert pairs.clean.shape == pairs.corrupt.shape
    for row, io, s in zip(pairs.clean, pairs.answer, pairs.wrong, strict=True):
        labels = dict(zip(pairs.labels, row.tolist(), strict=True))
        assert {labels["name1"], labels["name2"]} == {int(io), int(s)} and labels["S2"] == int(s)
    # ABC corruption: no clean name survives in the corrupted prompt.
    for clean, bad, io, s in zip(pairs.clean, pairs.corrupt, pairs.answer, pairs.wrong, strict=True):
        assert int(io) not in bad.tolist() and int(s) not in bad.tolist()
        assert (clean != bad).sum() == 3


@pytest.mark.parametrize("task", ["capitals", "greater_than", "colored_objects", "multiple_choice"])
def test_pairs_are_aligned_with_a_numeric_metric(tiny_model, task) -> None:
    pairs = build_pairs(tiny_model, task, n=12, seed=1)
    assert pairs.task == task and pairs.clean.shape == pairs.corrupt.shape == (12, len(pairs.labels))
    assert (pairs.clean != pairs.corrupt).any(1).all()  # every corrupted prompt differs from its clean one
    assert "end" in pairs.labels
    check_pairs(tiny_model, pairs)
    with torch.no_grad():
        clean_value = pairs.metric(tiny_model(pairs.clean))
        corrupt_value = pairs.metric(tiny_model(pairs.corrupt))
    assert clean_value.dim() == 0 and torch.isfinite(clean_value) and torch.isfinite(corrupt_value)
    assert pairs.answer.shape == pairs.wrong.shape == (12,) and (pairs.answer != pairs.wrong).all()
    again = build_pairs(tiny_model, task, n=12, seed=1)
    assert torch.equal(again.clean, pairs.clean) and torch.equal(again.corrupt, pairs.corrupt)  # seeded


@pytest.mark.parametrize("task", list(ROLE))
def test_corrupt_differs_exactly_at_the_answer_determining_words(tiny_model, task) -> None:
    """Each corrupted prompt differs from its clean one somewhere, only at positions labelled with the task's role,
    and there the clean tokens spell the word that decides the answer (a country, the year's YY, an object)."""
    pairs = build_pairs(tiny_model, task, n=12, seed=2)
    role_positions = {p for p, label in enumerate(pairs.labels) if label == ROLE[task]}
    words = {"capitals": [c for c, _ in lx.COUNTRIES], "multiple_choice": [c for c, _ in lx.COUNTRIES],
             "colored_objects": list(probes.SCENE_OBJECTS), "greater_than": [f"{y:02d}" for y in range(100)]}[task]
    for clean, bad in zip(pairs.clean, pairs.corrupt, strict=True):
        differs = (clean != bad).nonzero().flatten().tolist()
        assert differs and set(differs) <= role_positions, (differs, pairs.labels)
        span = slice(differs[0], differs[-1] + 1)
        clean_word, bad_word = tiny_model.to_string(clean[span]).strip(), tiny_model.to_string(bad[span]).strip()
        assert any(clean_word in w for w in words), clean_word
        assert any(bad_word in w for w in words), bad_word
        if task == "greater_than":
            assert "01".endswith(bad_word), bad_word


@pytest.mark.parametrize("task", ["capitals", "colored_objects", "multiple_choice"])
def test_choice_metric_is_the_logit_difference_against_the_corrupted_answer(tiny_model, task) -> None:
    pairs = build_pairs(tiny_model, task, n=8, seed=4)
    with torch.no_grad():
        logits = tiny_model(pairs.clean)
    rows = torch.arange(len(pairs.answer))
    by_hand = (logits[rows, -1, pairs.answer] - logits[rows, -1, pairs.wrong]).mean()
    assert float(pairs.metric(logits)) == pytest.approx(float(by_hand), abs=1e-4)
    if task == "colored_objects":  # the wrong colour is the colour of the object the corrupted question asks about
        for bad, wrong in zip(pairs.corrupt, pairs.wrong, strict=True):
            text = tiny_model.to_string(bad[1:])
            asked = text.split("Which color does the ")[1].split(" ")[0]
            color = re.search(rf"(\w+) {asked}\b", text).group(1)  # its colour in the scene
            assert color.startswith(tiny_model.to_string([int(wrong)]).strip()), (text, color)


def test_greater_than_corrupts_the_start_year_to_01(tiny_model) -> None:
    pairs = build_pairs(tiny_model, "greater_than", n=8)
    texts = [tiny_model.to_string(row[1:]) for row in pairs.corrupt]
    assert all("01 to" in t for t in texts), texts
    assert all(t.split(" from ")[1][2:4] != "01" for t in (tiny_model.to_string(r[1:]) for r in pairs.clean))
    # The metric is a probability difference: between -1 and 1.
    with torch.no_grad():
        assert -1 <= float(pairs.metric(tiny_model(pairs.clean))) <= 1


def test_prob_mass_diff_by_hand() -> None:
    logits = torch.full((2, 1, 5), -1e9)
    logits[0, 0, 1], logits[1, 0, 3] = 0.0, 0.0  # all mass on token 1 (prompt 0), on token 3 (prompt 1)
    ids = torch.tensor([1, 2, 3])
    later = torch.tensor([[False, True, True], [False, False, True]])
    assert float(prob_mass_diff(ids, later)(logits)) == pytest.approx(0.0)  # (-1 + 1) / 2


def test_check_pairs_names_the_problem(tiny_model) -> None:
    pairs = build_pairs(tiny_model, "capitals", n=4)
    with pytest.raises(InputError, match="not token-aligned.*one template with single-token fillers"):
        check_pairs(tiny_model, dataclasses.replace(pairs, corrupt=pairs.corrupt[:, :-1]))
    with pytest.raises(InputError, match="single number"):
        check_pairs(tiny_model, dataclasses.replace(pairs, metric=lambda logits: logits[:, -1, 0]))


def test_check_pairs_wants_a_label_per_position_and_an_answer_per_prompt(tiny_model) -> None:
    pairs = build_pairs(tiny_model, "greater_than", n=4)
    with pytest.raises(InputError, match="position labels for"):
        check_pairs(tiny_model, dataclasses.replace(pairs, labels=pairs.labels[:-1]))
    with pytest.raises(InputError, match="answer tokens have shape"):
        check_pairs(tiny_model, dataclasses.replace(pairs, answer=pairs.answer[:2]))


def test_a_misaligned_pair_is_named_with_its_lengths(tiny_model) -> None:
    clean = ["The capital city of France is", "The capital city of Spain is"]
    with pytest.raises(InputError, match=r"Prompt pair 1 is not token-aligned.* is \d+ tokens long, the corrupted "
                                         r".* \d+\. Fill one template"):
        tokenize_pairs(tiny_model, clean, [clean[0], "The capital city of the United Kingdom of Great Britain is"])
    with pytest.raises(InputError, match="as many corrupted prompts as clean ones"):
        tokenize_pairs(tiny_model, clean, clean[:1])
    clean_t, corrupt_t = tokenize_pairs(tiny_model, clean[:1], clean[:1])
    assert clean_t.shape == corrupt_t.shape == (1, len(tiny_model.to_tokens(clean[0])[0]))


def test_unknown_task_is_a_clear_error() -> None:
    model, _ = planted_induction_model()
    with pytest.raises(InputError, match="Unknown task 'greater-than'.*greater_than"):
        build_pairs(model, "greater-than")
    with pytest.raises(InputError, match="'facts' is now called 'capitals'"):
        build_pairs(model, "facts")
    with pytest.raises(InputError, match="tokenizer"):
        build_pairs(model, "ioi")

"""Colored objects and multiple choice on held-out phrasing families (issue 16): one-token answers, and scores
equal to the hand-computed ones on hand-made models that read the prompt's text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import Tensor

from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.data.tokenizer import gpt2_tokenizer, load_tokenizer
from interp.layout import DataLayout
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from interp.tasks import heldout_families as hf
from interp.tasks.colored_objects import COLOR_ANSWERS
from interp.tasks.multiple_choice import LETTERS, letter_scores
from interp.tasks.scoring import encode
from interp.tasks.suite import METRICS, TASKS, score_tasks, scores_frame

_TRUTH = {  # multiple-choice kind -> subject -> the right option, from the lexicon (not from the prompt builder)
    "capital": dict(lx.COUNTRIES), "color": dict(lx.THING_COLORS),
    "sound": {s: f"the {a}" for a, s in lx.ANIMALS},
    "opposite": {**dict(lx.OPPOSITES), **{b: a for a, b in lx.OPPOSITES}},
}
_ASKS = {kind: re.compile(re.escape(q).replace(re.escape("{subject}"), "(.+?)"))
         for kind, q in sp.TRAIN_MC_QUESTIONS.items()}


def _right_color(text: str) -> str:
    """The colour of the scene object that the text names again after the scene's list of coloured objects."""
    found = [m for m in re.finditer(r"\b(?:a|an) (\w+) (\w+)\b", text) if m.group(1) in lx.COLORS]
    after = text[found[-1].end():]
    asked = [m.groups() for m in found if re.search(rf"\b{m.group(2)}\b", after)]
    assert len(asked) == 1, text
    return asked[0][0]


def _right_letter(text: str) -> str:
    """The letter of the right option: the question's answer looked up in the lexicon, found among the options."""
    kind, match = next((k, m) for k, r in _ASKS.items() if (m := r.search(text)))
    answer = _TRUTH[kind][match.group(1)]
    options = dict(re.findall(r"\(?([ABC])[.)] ([^,\n(]+?)(?=, |\.?\n| \()", text))
    assert sorted(options) == ["A", "B", "C"], text
    return next(letter for letter, opt in options.items() if opt == answer)


class Oracle(HookedTransformer):
    """A hand-made model: logit ``margin`` on ``" " + pick(prompt text)`` at every position, 0 elsewhere."""

    def __init__(self, tok, pick, margin: float = 4.0) -> None:
        super().__init__(HookedTransformerConfig(n_layers=1, d_model=8, n_ctx=256, d_head=4, n_heads=2,
                                                 d_vocab=len(tok), act_fn="gelu_new", seed=0), tokenizer=tok)
        self.pick, self.margin = pick, margin

    def forward(self, tokens: Tensor, return_type: str = "logits", **_) -> Tensor:
        last = torch.zeros(tokens.shape[0], self.cfg.d_vocab)  # [batch, d_vocab]
        for row, seq in enumerate(tokens.tolist()):
            text = self.tokenizer.decode(seq).replace("<|endoftext|>", "")
            last[row, encode(self, " " + self.pick(text), False)[0]] = self.margin
        return last[:, None, :].expand(-1, tokens.shape[1], -1)  # the same logits at every position


@pytest.fixture(scope="module")
def gpt2():
    return gpt2_tokenizer()


def _single(tok, answer: str) -> bool:
    return len(tok(answer, add_special_tokens=False)["input_ids"]) == 1


def test_answers_are_one_token_and_not_given_away(gpt2, tiny_data_dir: Path) -> None:
    tiny = load_tokenizer(DataLayout(tiny_data_dir).tokenizer)
    assert all(_single(gpt2, c) for c in COLOR_ANSWERS)
    assert all(_single(gpt2, x) and _single(tiny, x) for x in LETTERS)
    colors = hf.color_family_prompts(150, seed=2)
    assert set(colors) == {"new_scenes", "question", "narrative"}
    for prompts, answers in colors.values():
        assert len(prompts) == 50 and len(set(answers)) > 5
        for p, a in zip(prompts, answers, strict=True):  # the asked colour is in the scene, not after it
            assert _right_color(p) == COLOR_ANSWERS[a].strip() and not p.endswith(" ")
    items = hf.mc_family_prompts(150, seed=2)
    assert set(items) == set(sp.HELD_OUT_MC_FAMILIES)
    for prompts, answers in items.values():
        assert {LETTERS[a] for a in answers} == set(LETTERS)
        assert [_right_letter(p) for p in prompts] == [LETTERS[a].strip() for a in answers]
        assert not any(p.rstrip().endswith(("A", "B", "C")) for p in prompts)


def test_color_families_on_hand_made_models(gpt2) -> None:
    right = hf.score_color_families(Oracle(gpt2, _right_color), n_prompts=60)
    assert right == {"accuracy": 1.0, **{f"accuracy_{f}": 1.0 for f in hf.COLOR_FAMILIES},
                     "chance": 1 / len(lx.COLORS)}
    red = hf.score_color_families(Oracle(gpt2, lambda _: "red"), n_prompts=60)
    per = {f: sum(COLOR_ANSWERS[a] == " red" for a in answers) / len(answers)
           for f, (_, answers) in hf.color_family_prompts(60).items()}
    assert 0 < sum(per.values()) < 3  # the fixed colour is right on some prompts, not all
    assert red == pytest.approx({"accuracy": sum(per.values()) / 3, **{f"accuracy_{f}": v for f, v in per.items()},
                                 "chance": 1 / len(lx.COLORS)})


def test_mc_families_and_letter_bias_on_hand_made_models(gpt2) -> None:
    right = hf.score_mc_families(Oracle(gpt2, _right_letter), n_prompts=90)
    answers = [a for _, truth in hf.mc_family_prompts(90).values() for a in truth]
    shares = {f"share_{x.strip()}": answers.count(k) / len(answers) for k, x in enumerate(LETTERS)}
    assert right == pytest.approx({"accuracy": 1.0, **{f"accuracy_{f}": 1.0 for f in sp.HELD_OUT_MC_FAMILIES},
                                   **shares, "letter_bias": max(shares.values()) - 1 / 3, "chance": 1 / 3})
    always_b = hf.score_mc_families(Oracle(gpt2, lambda _: "B"), n_prompts=90)
    per = {f"accuracy_{f}": truth.count(1) / len(truth) for f, (_, truth) in hf.mc_family_prompts(90).items()}
    assert always_b == pytest.approx({"accuracy": answers.count(1) / 90, **per, "share_A": 0.0, "share_B": 1.0,
                                      "share_C": 0.0, "letter_bias": 2 / 3, "chance": 1 / 3})
    assert letter_scores([0, 0, 1, 0], [0, 1, 1, 2]) == pytest.approx(
        {"accuracy": 0.5, "letter_bias": 3 / 4 - 1 / 3, "share_A": 0.75, "share_B": 0.25, "share_C": 0.0})


def test_registered_with_explained_metrics(gpt2) -> None:
    from interp.app.quickstart_report import headline_html

    tasks = ["colored_objects_heldout_family", "multiple_choice_heldout_family", "multiple_choice"]
    results = score_tasks(Oracle(gpt2, lambda _: "A"), n_prompts=6, tasks=tasks, progress=False)
    assert results["multiple_choice"]["share_A"] == 1.0 and results["multiple_choice"]["letter_bias"] == pytest.approx(2 / 3)
    frame = scores_frame(results).set_index(["task", "metric"])
    assert frame.loc[("multiple_choice_heldout_family", "accuracy_inline_options"), "chance"] == 1 / 3
    assert frame.loc[("colored_objects_heldout_family", "accuracy_narrative"), "chance"] == 1 / len(lx.COLORS)
    assert frame.loc[("multiple_choice_heldout_family", "letter_bias"), "value"] == pytest.approx(2 / 3)
    assert frame["description"].str.len().gt(0).all()
    assert all(set(METRICS[t]) >= set(results[t]) - {"chance"} for t in tasks) and set(tasks) <= set(TASKS)
    assert "<b>multiple_choice</b> accuracy on held-out phrasing families" in headline_html(results)



_FACT_ASKS = [(kind, re.compile(re.escape(sp.FACT_RECALL_PROMPTS[kind]).replace(re.escape("{subject}"), "(.+?)")
                                .replace(re.escape("{Subject}"), "(.+?)")))
              for kind in ("capital", "sound", "opposite", "color")]  # the colour form ("X is") last: it matches all


class FactOracle(HookedTransformer):
    """A hand-made model that answers "A" to every lettered item and knows the facts of the kinds ``knows``: after a
    plain fact question (and any part of its answer) the next token of the right answer gets logit 4; all logits
    are 0 elsewhere."""

    def __init__(self, tok, knows: set[str]) -> None:
        super().__init__(HookedTransformerConfig(n_layers=1, d_model=8, n_ctx=256, d_head=4, n_heads=2,
                                                 d_vocab=len(tok), act_fn="gelu_new", seed=0), tokenizer=tok)
        self.knows = knows

    def _next(self, text: str) -> int | None:
        if text.endswith("Answer:"):
            return encode(self, " A", False)[0]
        kind, match = next((k, m) for k, r in _FACT_ASKS if (m := r.match(text)))
        if kind not in self.knows:
            return None
        subject = match.group(1) if kind != "color" else match.group(1)[0].lower() + match.group(1)[1:]
        answer = encode(self, " " + _TRUTH[kind][subject].removeprefix("the "), False)
        done = encode(self, text[match.end():], False) if match.end() < len(text) else []
        return answer[len(done)] if answer[: len(done)] == done and len(done) < len(answer) else None

    def forward(self, tokens: Tensor, return_type: str = "logits", **_) -> Tensor:
        last = torch.zeros(tokens.shape[0], self.cfg.d_vocab)
        for row, seq in enumerate(tokens.tolist()):
            if (token := self._next(self.tokenizer.decode(seq).replace("<|endoftext|>", ""))) is not None:
                last[row, token] = 4.0
        return last[:, None, :].expand(-1, tokens.shape[1], -1)


def test_mc_fact_recall_splits_knowing_from_the_letter_lookup(gpt2) -> None:
    from interp.tasks.multiple_choice import fact_prompts, mc_items, score_multiple_choice

    items = mc_items(60)
    assert {item.kind for item in items} == set(sp.FACT_RECALL_PROMPTS)
    answers = [sp.MC_LETTERS.index(item.letter) for item in items]
    # Knows every fact, answers "A": it knows all, and its accuracy on them is the share of A answers.
    everything = score_multiple_choice(FactOracle(gpt2, set(sp.FACT_RECALL_PROMPTS)), n_prompts=60)
    assert everything["fact_known"] == 1.0
    assert everything["accuracy_fact_known"] == everything["accuracy"] == answers.count(0) / 60
    # Knows colours only: the other items are known where the answer is the option of fewest tokens (all options
    # alike at logit 0, each further token costs log-probability; the first such option wins a tie).
    oracle = FactOracle(gpt2, {"color"})
    colors = score_multiple_choice(oracle, n_prompts=60)
    _, candidates, truth = fact_prompts(items)
    lengths = [[len(encode(oracle, c, False)) for c in cands] for cands in candidates]
    known = [item.kind == "color" or a == n.index(min(n)) for item, a, n in zip(items, truth, lengths, strict=True)]
    assert sum(item.kind == "color" for item in items) < sum(known) < 60
    assert colors["fact_known"] == pytest.approx(sum(known) / 60)
    right = sum(a == 0 for a, k in zip(answers, known, strict=True) if k)
    assert colors["accuracy_fact_known"] == pytest.approx(right / sum(known))

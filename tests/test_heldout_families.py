"""Held-out phrasing families (issue 16): never produced by the corpus, single-token answers, and scores that
equal the hand-computed ones on hand-made models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import Tensor

from interp.data.corpus import generate_text
from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.data.tokenizer import gpt2_tokenizer, load_tokenizer, train_bpe
from interp.layout import DataLayout
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from interp.tasks import heldout_families as hf
from interp.tasks.capitals import CAPITALS
from interp.tasks.scoring import encode
from interp.tasks.suite import METRICS, TASKS, score_tasks, scores_frame

_ALT = {  # each slot of a template -> the words the corpus can put there
    "S": r"\w+", "A": r"\w+", "B": r"\w+", "Name": r"\w+",
    "obj": "(?:" + "|".join(map(re.escape, lx.OBJECTS)) + ")",
    "a_obj": "(?:a|an) (?:" + "|".join(map(re.escape, lx.OBJECTS)) + ")",
    "place": "(?:" + "|".join(lx.PLACES) + ")", "day": "(?:" + "|".join(lx.DAYS) + ")",
    "country": "(?:" + "|".join(c for c, _ in lx.COUNTRIES) + ")",
    "capital": "(?:" + "|".join(c for _, c in lx.COUNTRIES) + ")",
    "Other": r"\w+", "color": "(?:" + "|".join(lx.COLORS) + ")",
    "items": r"(?:a|an) \w+ \w+(?:, (?:a|an) \w+ \w+)* and (?:a|an) \w+ \w+",  # a scene's coloured objects
}


def _clause(template: str) -> re.Pattern[str]:
    """The whole clause of ``template`` as a regex: its fixed words verbatim, each slot any word that fits it."""
    parts = re.split(r"\{(\w+)\}", template)
    body = "".join(re.escape(p) if i % 2 == 0 else _ALT[p] for i, p in enumerate(parts))
    return re.compile(r"(?<!\w)" + body + (r"(?!\w)" if template[-1].isalnum() else ""))


@pytest.fixture(scope="module")
def corpus() -> str:
    """About 300k words of generated stories (two seeds)."""
    return "\n".join(generate_text(150_000, seed=0) + generate_text(150_000, seed=1))


def _item(layout: tuple[str, str, str]) -> re.Pattern[str]:
    """A whole multiple-choice item in ``layout`` (frame, option, separator) as a regex: any question, any options."""
    frame, option, sep = layout
    any_text = r"[^\n]+?"
    opts = re.escape(sep).join(re.escape(option).replace(re.escape("{letter}"), x)
                               .replace(re.escape("{option}"), any_text) for x in sp.MC_LETTERS)
    return re.compile(re.escape(frame).replace(re.escape("{options}"), opts)
                      .replace(re.escape("{question}"), any_text))


def _held_out_frames() -> list[str]:
    return [*(a for family in sp.HELD_OUT_IOI_ACTION_FAMILIES.values() for a in family), *sp.HELD_OUT_IOI_INTROS,
            *(t for family in sp.HELD_OUT_CAPITAL_FAMILIES.values() for t in family),
            *sp.HELD_OUT_COLOR_SCENES, *(t for family in sp.HELD_OUT_COLOR_FAMILIES.values() for t in family)]


def test_held_out_families_never_occur_in_the_corpus(corpus: str) -> None:
    assert len(corpus.split()) >= 300_000
    found = {t: _clause(t).search(corpus) for t in _held_out_frames()}
    assert not {t: m.group(0) for t, m in found.items() if m}, "held-out frames the corpus produces"
    layouts = [layout for family in sp.HELD_OUT_MC_FAMILIES.values() for layout in family]
    assert [layout for layout in layouts if _item(layout).search(corpus)] == [], "held-out item layouts produced"
    # The search is not vacuous: every training form is found by the same clause search.
    training = [*sp.TRAIN_IOI_ACTIONS, *sp.TRAIN_IOI_INTROS, *sp.TRAIN_CAPITAL_TEMPLATES,
                *sp.COLOR_SCENES, *sp.TRAIN_COLOR_QUESTIONS]
    assert [t for t in training if not _clause(t).search(corpus)] == []
    assert _item(sp.TRAIN_MC_FORMAT).search(corpus)
    # ... and the held-out searches find every held-out prompt, so they would find the frames in the corpus.
    color_frames = [*sp.HELD_OUT_COLOR_SCENES, *(t for f in sp.HELD_OUT_COLOR_FAMILIES.values() for t in f)]
    assert all(any(_clause(t).search(p) for t in color_frames)
               for prompts, _ in hf.color_family_prompts(60).values() for p in prompts)
    assert all(any(_item(layout).search(p) for layout in sp.HELD_OUT_MC_FAMILIES[family])
               for family, (prompts, _) in hf.mc_family_prompts(60).items() for p in prompts)
    assert _clause("{S} thanked").search("Then Mia thanked Tom.") and not _clause("{S} hugged").search("Mia hugs")


def test_held_out_families_never_occur_in_the_tasks_mix() -> None:
    """The studies recipe's corpus ("builtin:tasks": multi-question scenes, lookup items) keeps them out too."""
    text = "\n".join(generate_text(100_000, seed=0, mix="tasks"))
    found = {t: _clause(t).search(text) for t in _held_out_frames()}
    assert not {t: m.group(0) for t, m in found.items() if m}
    layouts = [layout for family in sp.HELD_OUT_MC_FAMILIES.values() for layout in family]
    assert [layout for layout in layouts if _item(layout).search(text)] == []
    assert text.count(sp.TRAIN_MC_LOOKUP_QUESTION.split("{")[0]) > 50  # the lookup items are there
    import random

    from interp.data.corpus import probes

    scene = probes.colored_objects(random.Random(0), "Tom", "Mia", n_questions=3)
    _, pairs = probes.color_scene(random.Random(0))
    assert all(scene.count(obj) >= 2 for _, obj in pairs), scene  # each object in the scene and asked about


def _single(tok, answer: str) -> bool:
    return len(tok(answer, add_special_tokens=False)["input_ids"]) == 1


def test_every_answer_is_one_token(tiny_data_dir: Path, corpus: str) -> None:
    tiny, gpt2 = load_tokenizer(DataLayout(tiny_data_dir).tokenizer), gpt2_tokenizer()
    ioi_data = hf.ioi_family_prompts(400, seed=3)
    for data in ioi_data.values():
        for prompt, io, s in zip(data.prompts, data.io, data.s, strict=True):
            assert io != s and prompt.count(io.strip()) == 1 and prompt.count(s.strip()) == 2, prompt
            assert not prompt.endswith(" ") and not prompt.startswith(io.strip())
            for tok in (tiny, gpt2):
                assert _single(tok, io) and _single(tok, s), (io, s)
    assert set(ioi_data) == {"to_actions", "other_prepositions", "bare_verbs", "new_intros"}
    # Capitals: one token under GPT-2 and under a BPE of the quickstart's size trained on corpus text (a 1k BPE
    # such as tiny_data_dir's splits every capital; the scorer sums the pieces' log-probabilities then).
    bpe = train_bpe(corpus.split("\n")[:20_000], vocab_size=4096)
    for prompts, answers in hf.capital_family_prompts(200, seed=3).values():
        assert len(set(answers)) == len(lx.COUNTRIES) - len(sp.FAMILY_EXCLUDED_COUNTRIES)
        assert not any(CAPITALS[a].strip() in p for p, a in zip(prompts, answers, strict=True))  # not given away
        for tok in (gpt2, bpe):
            assert all(_single(tok, CAPITALS[a]) for a in answers)
    assert not _single(gpt2, " Nairobi") and not _single(gpt2, " Ella")  # why they are left out


class NameOracle(HookedTransformer):
    """A hand-made model: at every position, logit ``margin`` on the name that occurs once in the sequence (the
    indirect object; ``favour="s"``: the name that occurs twice) and 0 on every other token. ``when``: only for
    prompts whose text ends with one of these words (else all logits 0)."""

    def __init__(self, tok, favour: str = "io", margin: float = 3.0, when: tuple[str, ...] | None = None) -> None:
        super().__init__(HookedTransformerConfig(n_layers=1, d_model=8, n_ctx=128, d_head=4, n_heads=2,
                                                 d_vocab=len(tok), act_fn="gelu_new", seed=0), tokenizer=tok)
        self.names = {ids[0] for n in lx.NAMES if len(ids := encode(self, " " + n, False)) == 1}
        self.favour, self.margin, self.when = favour, margin, when

    def forward(self, tokens: Tensor, return_type: str = "logits", **_) -> Tensor:
        logits = torch.zeros(*tokens.shape, self.cfg.d_vocab)
        for row, seq in enumerate(tokens.tolist()):
            text = self.tokenizer.decode(seq).replace("<|endoftext|>", "")
            if self.when is not None and text.split()[-1] not in self.when:
                continue
            counts = {t: seq.count(t) for t in set(seq) & self.names}
            target = [t for t, c in counts.items() if c == (1 if self.favour == "io" else 2)]
            assert len(target) == 1, text
            logits[row, :, target[0]] = self.margin
        return logits


@pytest.fixture(scope="module")
def tiny_tok(tiny_data_dir: Path):
    return load_tokenizer(DataLayout(tiny_data_dir).tokenizer)


def test_ioi_families_on_hand_made_models(tiny_tok) -> None:
    right = hf.score_ioi_families(NameOracle(tiny_tok, "io", 3.0), n_prompts=80)
    assert right == {"accuracy": 1.0, "mean_logit_diff": pytest.approx(3.0),
                     **{f"accuracy_{f}": 1.0 for f in hf.IOI_FAMILIES}}
    wrong = hf.score_ioi_families(NameOracle(tiny_tok, "s", 2.5), n_prompts=80)
    assert wrong == {"accuracy": 0.0, "mean_logit_diff": pytest.approx(-2.5),
                     **{f"accuracy_{f}": 0.0 for f in hf.IOI_FAMILIES}}
    # Right only after a preposition other than "to": each family's accuracy is the share of its prompts ending so.
    preps = ("at", "for", "with", "from")
    some = hf.score_ioi_families(NameOracle(tiny_tok, "io", 2.0, when=preps), n_prompts=80)
    expected = {f: sum(p.split()[-1] in preps for p in d.prompts) / len(d.prompts)
                for f, d in hf.ioi_family_prompts(80).items()}
    assert expected["other_prepositions"] == 1.0 and expected["bare_verbs"] == expected["to_actions"] == 0.0
    assert 0 < expected["new_intros"] < 1  # the training action "smiled at" ends in "at"
    assert {f: some[f"accuracy_{f}"] for f in expected} == pytest.approx(expected)
    assert some["accuracy"] == pytest.approx(sum(expected.values()) / 4)
    assert some["mean_logit_diff"] == pytest.approx(2.0 * sum(expected.values()) / 4)


def test_capital_families_by_hand(tiny_tok) -> None:
    cfg = HookedTransformerConfig(n_layers=1, d_model=16, n_ctx=128, d_head=4, n_heads=4, d_vocab=len(tiny_tok),
                                  act_fn="gelu_new", seed=0)
    model = HookedTransformer(cfg, tokenizer=tiny_tok).eval()
    with torch.no_grad():  # every position outputs the same distribution: Paris's first token far above the rest
        for p in model.parameters():
            p.zero_()
        model.unembed.b_U[encode(model, " Paris", False)[0]] = 30.0
    got = hf.score_capital_families(model, n_prompts=120)
    paris = CAPITALS.index(" Paris")
    per = {f: answers.count(paris) / len(answers) for f, (_, answers) in hf.capital_family_prompts(120).items()}
    assert per == {"narrative": 3 / 60, "question": 3 / 60}  # 60 prompts cycle through 28 countries: Paris 3 times
    assert got == pytest.approx({"accuracy": 3 / 60, **{f"accuracy_{f}": v for f, v in per.items()},
                                 "chance": 1 / len(CAPITALS)})


def test_registered_with_explained_metrics(tiny_tok) -> None:
    from interp.app.quickstart_report import HEADLINE, TARGETS, headline_html

    assert {"ioi_heldout_family", "capitals_heldout_family"} <= set(TASKS)
    results = score_tasks(NameOracle(tiny_tok), n_prompts=8, tasks=["ioi_heldout_family"], progress=False)
    results["ioi"] = {"accuracy": 0.875}
    frame = scores_frame(results).set_index(["task", "metric"])
    assert frame.loc[("ioi_heldout_family", "accuracy_bare_verbs"), "value"] == 1.0
    assert frame.loc[("ioi_heldout_family", "accuracy"), "chance"] == 0.5
    assert frame["description"].str.len().gt(0).all()
    assert all(m in METRICS[t] for targets in TARGETS.values() for t, m, _ in targets) and all(t in TASKS and b in TASKS for t, b in HEADLINE)
    page = headline_html(results)
    assert "held-out phrasing families: <b>1</b>" in page and "in-distribution prompts: 0.875" in page

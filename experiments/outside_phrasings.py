"""Task prompts written outside the project's lists: a stand-in for the external check of issue 16.

``interp.tasks.heldout_families`` holds out whole phrasing families from the corpus, and the studies targets are
measured on them. But a model can still be tuned to those lists by the people who wrote them. The forms below were
written afterwards, by hand, to differ from both the corpus and the held-out families (new IOI verbs, prepositions
and intros; capital questions in new words; new colour scenes and questions; new multiple-choice wordings and
layouts). Each form's row says which of its words a generated corpus sample (200k words) never contains: a model
trained here has never seen those words, so a low score there says the vocabulary is too small rather than the
task unlearnt. Findings: docs/circuit-formation.md ("Prompts from outside the lists").

    python experiments/outside_phrasings.py runs/studies/model runs/quickstart/model
    python experiments/outside_phrasings.py runs/studies/model --per-form   # a row per form, not per family

Do not tune a recipe to these forms: they measure only while nothing was trained to pass them.
"""

from __future__ import annotations

import argparse
import re

import pandas as pd
import torch

from interp.data.corpus import generate_text
from interp.data.corpus import splits as sp
from interp.models.convert import to_hooked
from interp.models.loading import load_gpt_and_tokenizer
from interp.models.tl import HookedTransformer
from interp.tasks import capitals, colored_objects, ioi, multiple_choice
from interp.tasks.scoring import choice_accuracy, choice_predictions

IOI_INTROS = (
    "Once upon a time, {A} and {B} were good friends.",
    "During the holidays, {A} and {B} stayed near the {place}.",
    "It was raining, so {A} and {B} waited inside the {place}.",
    "On a sunny {day}, {A} and {B} explored the {place}.",
)
IOI_ACTIONS = {
    "ioi: new verbs ending in 'to'": ("{S} delivered the {obj} to", "{S} kicked the ball to",
                                       "{S} described the {obj} to", "{S} sent a photo to",
                                       "{S} promised the {obj} to"),
    "ioi: new verbs, other prepositions": ("{S} poured some juice for", "{S} stared at", "{S} nodded at",
                                           "{S} argued with", "{S} played chess with", "{S} bought the {obj} from",
                                           "{S} sang a song for"),
    "ioi: new bare verbs": ("{S} called", "{S} visited", "{S} tagged", "{S} scolded", "{S} paid", "{S} met"),
}
CAPITAL_FORMS = (
    "The capital of {country}? That would be",
    "{Name} looked at a map of {country}. The capital, marked with a star, is",
    "Quick question: {country}'s capital city is",
    "When {Name} went to {country}, the plane landed in the capital,",
    "Everybody knows the capital of {country}. It is the city of",
)
COLOR_SCENES = ("In the garden, {Name} found {items}.", "{Name} carried {items} to school.",
                "There were {items} in the basket.")
COLOR_ASKS = ("The {obj} that {Name} found was", "Remember the {obj}? Its color was",
              "{Name} pointed to the {obj}. It was", "And the {obj}? The {obj} was")
MC_QUESTIONS = {"capital": "Name the capital of {subject}.", "color": "Which color is {subject}?",
                "sound": "Which animal goes {subject}?", "opposite": "What word is the opposite of {subject}?"}
MC_LAYOUTS = (("Here is a question. {question}\n{options}\nMy answer:", "{letter}. {option}", "\n"),
              ("{question}\n{options}\nAnswer:", "{letter}) {option}", "\n"),
              ("Question: {question}\nA quick hint: only one is right.\n{options}\nAnswer:", "{letter}. {option}",
               "\n"))
_TRAIN_INTROS = tuple(i for i in sp.TRAIN_IOI_INTROS if not i.startswith("{"))


def _ioi(model: HookedTransformer, templates: list[tuple[str, str]], n: int, seed: int) -> float:
    data = ioi.ioi_prompts(n, seed, templates, exclude_names=sp.FAMILY_EXCLUDED_NAMES)
    return float((ioi.ioi_logit_diffs(model, data) > 0).float().mean())


def _mc(model: HookedTransformer, questions: dict[str, str], n: int, seed: int) -> tuple[float, float]:
    prompts, answers = multiple_choice.multiple_choice_prompts(n, seed, questions, MC_LAYOUTS)
    got = multiple_choice.letter_scores(choice_predictions(model, prompts, multiple_choice.LETTERS), answers)
    return got["accuracy"], got["letter_bias"]


def cases(n: int, seed: int) -> list[tuple[str, str, object]]:
    """``(family, form, score(model) -> (accuracy, letter bias or NaN))`` for every form, ``n`` prompts each."""
    out = []
    for family, actions in IOI_ACTIONS.items():
        out += [(family, a, lambda m, a=a: (_ioi(m, [(i, a) for i in _TRAIN_INTROS], n, seed), float("nan")))
                for a in actions]
    out += [("ioi: new intros, training actions", i,
             lambda m, i=i: (_ioi(m, [(i, a) for a in sp.TRAIN_IOI_ACTIONS], n, seed), float("nan")))
            for i in IOI_INTROS]

    def capital(m: HookedTransformer, form: str) -> tuple[float, float]:
        prompts, answers = capitals.capital_prompts(n, seed, (form,), sp.FAMILY_EXCLUDED_COUNTRIES)
        return choice_accuracy(m, prompts, answers, capitals.CAPITALS), float("nan")

    def color(m: HookedTransformer, scenes: tuple[str, ...], ask: str) -> tuple[float, float]:
        prompts, answers = colored_objects.colored_object_prompts(n, seed, scenes, (ask,))
        return choice_accuracy(m, prompts, answers, colored_objects.COLOR_ANSWERS), float("nan")

    out += [("capitals: new question forms", f, lambda m, f=f: capital(m, f)) for f in CAPITAL_FORMS]
    out += [("colored objects: new questions, training scenes", q, lambda m, q=q: color(m, sp.COLOR_SCENES, q))
            for q in COLOR_ASKS]
    out += [("colored objects: new scenes and questions", q, lambda m, q=q: color(m, COLOR_SCENES, q))
            for q in COLOR_ASKS]
    layouts = " | ".join(frame for frame, _, _ in MC_LAYOUTS)
    out += [("multiple choice: new layouts, training questions", layouts,
             lambda m: _mc(m, sp.TRAIN_MC_QUESTIONS, 3 * n, seed)),
            ("multiple choice: new layouts and questions", " | ".join(MC_QUESTIONS.values()),
             lambda m: _mc(m, MC_QUESTIONS, 3 * n, seed))]
    return out


def unseen_words(form: str, corpus_words: set[str]) -> str:
    """The words of ``form`` (fields like ``{obj}`` left out) that the corpus sample never contains."""
    words = re.findall(r"[A-Za-z]+", re.sub(r"\{\w+\}", " ", form))
    return " ".join(sorted({w for w in words if w.lower() not in corpus_words}))


def score(runs: list[str], n: int = 40, seed: int = 7, per_form: bool = False) -> pd.DataFrame:
    """A row per form (or, with ``per_form=False``, per family: the mean of its forms), a column per run."""
    corpus_words = {w.lower() for w in re.findall(r"[A-Za-z]+", " ".join(generate_text(200_000, seed=0)))}
    rows = [{"family": f, "form": form, "unseen words": unseen_words(form, corpus_words)}
            for f, form, _ in cases(n, seed)]
    for run in runs:
        gpt, tok = load_gpt_and_tokenizer(run)
        model = to_hooked(gpt, tok)
        for row, (_, _, fn) in zip(rows, cases(n, seed), strict=True):
            row[run], bias = fn(model)
            if bias == bias:
                row[f"{run} letter bias"] = bias
    frame = pd.DataFrame(rows)
    if per_form:
        return frame
    scores = [c for c in frame.columns if c.startswith(tuple(runs))]
    return frame.groupby("family", sort=False).agg(
        {**dict.fromkeys(scores, "mean"), "unseen words": lambda w: " ".join(sorted(set(" ".join(w).split())))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run or model directories to score, each a column")
    parser.add_argument("--n", type=int, default=40, help="prompts per form (multiple choice: 3x, over its layouts)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the names, objects and countries drawn")
    parser.add_argument("--per-form", action="store_true", help="a row per form instead of per family")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.precision", 3):
        print(score(args.runs, args.n, args.seed, args.per_form).to_string())


if __name__ == "__main__":
    main()

"""IOI and capitals on held-out phrasing *families*: sentence frames the corpus never produces, as whole families.

The in-distribution scores (``ioi``, ``capitals``) use held-out templates built from the training forms, so a
model that learnt the templates rather than the task still scores well there. These families change the part of
the sentence that carries the task (new IOI action clauses: other verbs, other prepositions, bare verbs; new
intros; the capital question inside a story sentence or in new question forms), so the gap between the two
scores says how much the model generalises. The headline numbers are these. Frames live in
``interp.data.corpus.splits`` (``HELD_OUT_*``).

>>> score_ioi_families(model)["accuracy"], score_ioi_families(model)["accuracy_bare_verbs"]
>>> score_capital_families(model)["accuracy_narrative"]
>>> score_color_families(model)["accuracy_new_scenes"], score_mc_families(model)["letter_bias"]
"""

from __future__ import annotations

import torch

from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks import capitals, colored_objects, ioi, multiple_choice
from interp.tasks.metric_info import MetricInfo
from interp.tasks.scoring import choice_accuracy, choice_predictions

# Intros of the training forms that do not open with a name (see ``interp.tasks.ioi``).
_TRAIN_INTROS = tuple(i for i in sp.TRAIN_IOI_INTROS if not i.startswith("{"))
# family -> the (intro, action) pairs it is asked with: only one part of the sentence is new in each family.
IOI_FAMILIES: dict[str, tuple[tuple[str, str], ...]] = {
    **{family: tuple((intro, action) for intro in _TRAIN_INTROS for action in actions)
       for family, actions in sp.HELD_OUT_IOI_ACTION_FAMILIES.items()},
    "new_intros": tuple((intro, action) for intro in sp.HELD_OUT_IOI_INTROS for action in sp.TRAIN_IOI_ACTIONS),
}
_IOI_FAMILY_TEXT = {
    "to_actions": "a new action clause ending in 'to' (\"sent a letter to\")",
    "other_prepositions": "a new action clause ending in another preposition (\"bought a gift for\", \"waved at\")",
    "bare_verbs": "a bare transitive verb whose object follows directly (\"thanked\", \"hugged\")",
    "new_intros": "a new intro followed by a training action clause",
}


def _family_metrics(headline: str, per_family: str, family_text: dict[str, str], chance: float,
                    **extra: MetricInfo) -> dict[str, MetricInfo]:
    """A task's metrics: the headline ``accuracy``, then ``extra``, then ``accuracy_FAMILY`` for each family
    (``per_family`` with ``{text}``: the family's description)."""
    return {"accuracy": MetricInfo(headline, chance=chance), **extra,
            **{f"accuracy_{family}": MetricInfo(per_family.format(text=text), chance=chance)
               for family, text in family_text.items()}}


IOI_METRICS = _family_metrics(
    "Headline IOI score: share of prompts in held-out phrasing families (sentence forms the corpus never produces) "
    "where the indirect object gets a higher logit than the subject.", "IOI accuracy on {text}.", _IOI_FAMILY_TEXT,
    ioi.METRICS["accuracy"].chance,
    mean_logit_diff=MetricInfo("Mean logit of the indirect object minus the subject on the held-out phrasing "
                               "families, in nats (0: no preference).", chance=0.0))
_CAPITAL_FAMILY_TEXT = {
    "narrative": "the question embedded in a story sentence (\"Mia flew to the capital of France, which is called\")",
    "question": "question forms the corpus never asks (\"Do you know the capital of France? Yes, it is\")",
}
CAPITAL_METRICS = _family_metrics(
    "Headline capitals score: share of held-out-family prompts (the question inside a story sentence or in a new "
    "question form) whose true capital scores highest among all capitals.", "Capitals accuracy on {text}.",
    _CAPITAL_FAMILY_TEXT, capitals.METRICS["accuracy"].chance)


def _split(n_prompts: int, n_families: int) -> int:
    """Prompts per family: an equal share of ``n_prompts``, at least one."""
    return max(1, n_prompts // n_families)


def _choice_scores(model: HookedTransformer, by_family: dict[str, tuple[list[str], list[int]]],
                   choices: list[str], chance: float) -> dict[str, float]:
    """Accuracy (the right choice scores highest among ``choices``) per family, their mean, and chance."""
    per = {family: choice_accuracy(model, prompts, answers, choices)
           for family, (prompts, answers) in by_family.items()}
    return {"accuracy": sum(per.values()) / len(per), **{f"accuracy_{family}": acc for family, acc in per.items()},
            "chance": chance}


def ioi_family_prompts(n_prompts: int = 200, seed: int = 0) -> dict[str, ioi.IOIPrompts]:
    """``n_prompts // 4`` IOI prompts (at least one) per held-out family, keyed by family."""
    return {family: ioi.ioi_prompts(_split(n_prompts, len(IOI_FAMILIES)), seed + k, templates,
                                    exclude_names=sp.FAMILY_EXCLUDED_NAMES)
            for k, (family, templates) in enumerate(IOI_FAMILIES.items())}


def score_ioi_families(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    """IOI accuracy and mean logit difference over every held-out family, and the accuracy of each family."""
    diffs = {family: ioi.ioi_logit_diffs(model, data) for family, data in ioi_family_prompts(n_prompts, seed).items()}
    every = torch.cat(list(diffs.values()))
    return {"accuracy": float((every > 0).float().mean()), "mean_logit_diff": float(every.mean()),
            **{f"accuracy_{family}": float((d > 0).float().mean()) for family, d in diffs.items()}}


def capital_family_prompts(n_prompts: int = 200, seed: int = 0) -> dict[str, tuple[list[str], list[int]]]:
    """Per held-out family, ``n_prompts // 2`` prompts (at least one) and each answer's index in ``CAPITALS``."""
    n = _split(n_prompts, len(sp.HELD_OUT_CAPITAL_FAMILIES))
    return {family: capitals.capital_prompts(n, seed + k, templates, sp.FAMILY_EXCLUDED_COUNTRIES)
            for k, (family, templates) in enumerate(sp.HELD_OUT_CAPITAL_FAMILIES.items())}


def score_capital_families(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    """Capitals accuracy (the true capital ranks first among all capitals) over and per held-out family."""
    return _choice_scores(model, capital_family_prompts(n_prompts, seed), capitals.CAPITALS,
                          CAPITAL_METRICS["accuracy"].chance)


# Colored objects: family -> (scene frames, question frames); only one of the two is new in each family. The
# training questions are cut before the colour ("What color is the {obj}? It is").
_TRAIN_COLOR_ASKS = tuple(q.split(" {color}")[0] for q in sp.TRAIN_COLOR_QUESTIONS)
COLOR_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "new_scenes": (sp.HELD_OUT_COLOR_SCENES, _TRAIN_COLOR_ASKS),
    **{family: (sp.COLOR_SCENES, asks) for family, asks in sp.HELD_OUT_COLOR_FAMILIES.items()},
}
_COLOR_FAMILY_TEXT = {
    "new_scenes": "the scene told in a new sentence (\"Sam put a red cup, ... on the shelf.\"), asked with a "
                  "training question",
    "question": "new question forms after a training scene (\"What is the color of the cup? It is\")",
    "narrative": "a story sentence to complete after a training scene (\"Sam picked up the cup, which was\")",
}
_COLOR_CHANCE = colored_objects.METRICS["accuracy"].chance
COLOR_METRICS = _family_metrics(
    "Colored objects on held-out phrasing families (scene or question forms the corpus never produces): share of "
    "prompts whose asked object's colour scores highest among all the colours.", "Colored-objects accuracy on {text}.",
    _COLOR_FAMILY_TEXT, _COLOR_CHANCE)
_MC_FAMILY_TEXT = {
    "option_styles": "options marked \"(A) ...\" or \"A) ...\", one per line",
    "inline_options": "every option on one line (\"(A) Rome (B) Paris (C) Oslo\")",
    "answer_prompts": "the answer asked for in other words (\"The correct option is\")",
}
_MC_CHANCE = multiple_choice.METRICS["accuracy"].chance
MC_METRICS = {
    **_family_metrics("Multiple choice in item layouts the corpus never produces: share of items where the right "
                      "letter scores highest among the option letters.", "Multiple-choice accuracy with {text}.",
                      _MC_FAMILY_TEXT, _MC_CHANCE),
    **multiple_choice.letter_metrics("held-out-layout items"),
}


def color_family_prompts(n_prompts: int = 200, seed: int = 0) -> dict[str, tuple[list[str], list[int]]]:
    """Per held-out family, ``n_prompts // 3`` prompts (at least one) and each answer's index in ``COLOR_ANSWERS``."""
    n = _split(n_prompts, len(COLOR_FAMILIES))
    return {family: colored_objects.colored_object_prompts(n, seed + k, scenes, asks)
            for k, (family, (scenes, asks)) in enumerate(COLOR_FAMILIES.items())}


def score_color_families(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    """Colored-objects accuracy (the asked colour ranks first among all colours) over and per held-out family."""
    return _choice_scores(model, color_family_prompts(n_prompts, seed), colored_objects.COLOR_ANSWERS, _COLOR_CHANCE)


def mc_family_prompts(n_prompts: int = 200, seed: int = 0) -> dict[str, tuple[list[str], list[int]]]:
    """Per held-out layout family, ``n_prompts // 3`` items (at least one) with the training questions, and each
    answer's index in ``multiple_choice.LETTERS``."""
    n = _split(n_prompts, len(sp.HELD_OUT_MC_FAMILIES))
    return {family: multiple_choice.multiple_choice_prompts(n, seed + k, sp.TRAIN_MC_QUESTIONS, layouts)
            for k, (family, layouts) in enumerate(sp.HELD_OUT_MC_FAMILIES.items())}


def score_mc_families(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    """Multiple-choice accuracy over and per held-out layout family, and the answer-letter bias over all of them
    (each letter's share of the picks; ``letter_bias``: the largest share minus 1 / the number of letters)."""
    picks, answers, per = [], [], {}
    for family, (prompts, truth) in mc_family_prompts(n_prompts, seed).items():
        got = choice_predictions(model, prompts, multiple_choice.LETTERS)
        per[f"accuracy_{family}"] = multiple_choice.letter_scores(got, truth)["accuracy"]
        picks += got
        answers += truth
    return {**multiple_choice.letter_scores(picks, answers), **per, "chance": _MC_CHANCE}

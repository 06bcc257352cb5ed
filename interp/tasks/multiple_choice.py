"""Multiple choice with lettered options, in held-out question phrasings.

"Question: Which city is the capital of France?\nA. Rome\nB. Paris\nC. Oslo\nAnswer:" -> " B".

>>> score_multiple_choice(model)["accuracy"]   # chance is 1/3
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo, uniform_choice
from interp.tasks.scoring import choice_predictions

LETTERS = [" " + x for x in sp.MC_LETTERS]
METRICS = {
    "accuracy": MetricInfo("Share of lettered questions where the right letter scores highest among the option letters.",
                           chance=uniform_choice(len(LETTERS))),
}


def letter_metrics(letters: str) -> dict[str, MetricInfo]:
    """The answer-letter bias metrics, described for ``letters`` ("lettered questions", "held-out item layouts")."""
    return {
        "letter_bias": MetricInfo(f"Share of {letters} answered with the model's most-picked letter minus 1/"
                                  f"{len(LETTERS)} (0: letters picked equally often; 1 - 1/{len(LETTERS)}: always "
                                  "the same letter, whatever the options).", chance=None),
        **{f"share_{x.strip()}": MetricInfo(f"Share of {letters} answered with {x.strip()} (the right letter is "
                                            f"{x.strip()} in about 1/{len(LETTERS)} of them).")
           for x in LETTERS},
    }


METRICS.update(letter_metrics("lettered questions"))


def multiple_choice_prompts(n: int = 200, seed: int = 0, questions: dict[str, str] = sp.EVAL_MC_QUESTIONS,
                            layouts: Sequence[tuple[str, str, str]] = (sp.TRAIN_MC_FORMAT,),
                            ) -> tuple[list[str], list[int]]:
    """``n`` prompts and each answer's index in ``LETTERS``; prompt ``i`` is laid out as ``layouts[i % len]``."""
    rng = random.Random(seed)
    prompts, answers = [], []
    for i in range(n):
        prompt, letter = probes.multiple_choice(rng, questions, layouts[i % len(layouts)])
        prompts.append(prompt)
        answers.append(sp.MC_LETTERS.index(letter))
    return prompts, answers


def letter_scores(picks: Sequence[int], answers: Sequence[int]) -> dict[str, float]:
    """Accuracy, each letter's share of the picks and the bias (the largest share minus 1 / the number of letters).

    >>> letter_scores([0, 0, 1, 0], [0, 1, 1, 2])["letter_bias"]   # 3/4 - 1/3
    """
    shares = {f"share_{x.strip()}": sum(p == k for p in picks) / len(picks) for k, x in enumerate(LETTERS)}
    return {"accuracy": sum(p == a for p, a in zip(picks, answers, strict=True)) / len(picks),
            "letter_bias": max(shares.values()) - 1 / len(LETTERS), **shares}


def score_multiple_choice(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    """Accuracy among the option letters and the answer-letter bias on the held-out question phrasings."""
    prompts, answers = multiple_choice_prompts(n_prompts, seed)
    return {**letter_scores(choice_predictions(model, prompts, LETTERS), answers),
            "chance": METRICS["accuracy"].chance}

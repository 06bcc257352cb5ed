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
from interp.tasks.scoring import choice_predictions, continuation_logprobs

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
METRICS.update({
    "fact_known": MetricInfo("Share of the questions whose fact the model knows asked plainly in a training form (\"The "
                             "opposite of full is\" -> empty scores highest among the item's three options).",
                             chance=uniform_choice(3)),
    "accuracy_fact_known": MetricInfo("Accuracy on the questions whose fact the model knows: finding the letter of an "
                                      "answer it knows (NaN when it knows none).", chance=uniform_choice(len(LETTERS))),
})


def mc_items(n: int = 200, seed: int = 0, questions: dict[str, str] = sp.EVAL_MC_QUESTIONS,
             layouts: Sequence[tuple[str, str, str]] = (sp.TRAIN_MC_FORMAT,)) -> list[probes.MCQuestion]:
    """``n`` items; item ``i`` is laid out as ``layouts[i % len]``."""
    rng = random.Random(seed)
    return [probes.mc_question(rng, questions, layouts[i % len(layouts)]) for i in range(n)]


def multiple_choice_prompts(n: int = 200, seed: int = 0, questions: dict[str, str] = sp.EVAL_MC_QUESTIONS,
                            layouts: Sequence[tuple[str, str, str]] = (sp.TRAIN_MC_FORMAT,),
                            ) -> tuple[list[str], list[int]]:
    """``mc_items``' prompts and each answer's index in ``LETTERS``."""
    items = mc_items(n, seed, questions, layouts)
    return [item.prompt for item in items], [sp.MC_LETTERS.index(item.letter) for item in items]


def fact_prompts(items: Sequence[probes.MCQuestion]) -> tuple[list[str], list[list[str]], list[int]]:
    """Each item's fact asked plainly (``splits.FACT_RECALL_PROMPTS``: "The opposite of full is"), its options as
    continuations (" empty", " cold", " happy") and the answer's index among them."""
    prompts, candidates, answers = [], [], []
    for item in items:
        prompts.append(sp.FACT_RECALL_PROMPTS[item.kind].format(subject=item.subject, Subject=item.subject.capitalize()))
        candidates.append([" " + option.removeprefix("the ") for option in item.options])
        answers.append(sp.MC_LETTERS.index(item.letter))
    return prompts, candidates, answers


def letter_scores(picks: Sequence[int], answers: Sequence[int]) -> dict[str, float]:
    """Accuracy, each letter's share of the picks and the bias (the largest share minus 1 / the number of letters).

    >>> letter_scores([0, 0, 1, 0], [0, 1, 1, 2])["letter_bias"]   # 3/4 - 1/3
    """
    shares = {f"share_{x.strip()}": sum(p == k for p in picks) / len(picks) for k, x in enumerate(LETTERS)}
    return {"accuracy": sum(p == a for p, a in zip(picks, answers, strict=True)) / len(picks),
            "letter_bias": max(shares.values()) - 1 / len(LETTERS), **shares}


def score_multiple_choice(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    """Accuracy among the option letters and the answer-letter bias on the held-out question phrasings; how many
    of the items' facts the model knows when asked plainly, and its accuracy on those (the letter lookup alone)."""
    items = mc_items(n_prompts, seed)
    fact_prompt, candidates, answers = fact_prompts(items)  # an option's index is its letter's
    picks = choice_predictions(model, [item.prompt for item in items], LETTERS)
    known = [int(row.argmax()) == a for row, a in zip(continuation_logprobs(model, fact_prompt, candidates), answers,
                                                       strict=True)]
    right_when_known = [p == a for p, a, k in zip(picks, answers, known, strict=True) if k]
    return {**letter_scores(picks, answers), "chance": METRICS["accuracy"].chance,
            "fact_known": sum(known) / len(known),
            "accuracy_fact_known": sum(right_when_known) / len(right_when_known) if right_when_known else float("nan")}

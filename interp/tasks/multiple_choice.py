"""Multiple choice with lettered options, in held-out question phrasings.

"Question: Which city is the capital of France?\nA. Rome\nB. Paris\nC. Oslo\nAnswer:" -> " B".

>>> score_multiple_choice(model)["accuracy"]   # chance is 1/3
"""

from __future__ import annotations

import random

from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo, uniform_choice
from interp.tasks.scoring import choice_accuracy

LETTERS = [" " + x for x in sp.MC_LETTERS]
METRICS = {
    "accuracy": MetricInfo("Share of lettered questions where the right letter scores highest among the option letters.",
                           chance=uniform_choice(len(LETTERS))),
}


def multiple_choice_prompts(n: int = 200, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    prompts, answers = [], []
    for _ in range(n):
        prompt, letter = probes.multiple_choice(rng, sp.EVAL_MC_QUESTIONS)
        prompts.append(prompt)
        answers.append(sp.MC_LETTERS.index(letter))
    return prompts, answers


def score_multiple_choice(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    prompts, answers = multiple_choice_prompts(n_prompts, seed)
    return {"accuracy": choice_accuracy(model, prompts, answers, LETTERS), "chance": METRICS["accuracy"].chance}

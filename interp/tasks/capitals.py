"""Facts: the capital of each country in the corpus' fixed world, asked in held-out phrasings.

>>> score_capitals(model)["accuracy"]   # the correct capital ranks first among all capitals
"""

from __future__ import annotations

import random

from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo, uniform_choice
from interp.tasks.scoring import choice_accuracy

CAPITALS = [" " + cap for _, cap in lx.COUNTRIES]
METRICS = {
    "accuracy": MetricInfo("Share of prompts whose true capital scores highest among all the capitals of the corpus' "
                           "world.", chance=uniform_choice(len(CAPITALS))),
}


def capital_prompts(n: int = 200, seed: int = 0, templates: tuple[str, ...] = sp.EVAL_CAPITAL_TEMPLATES,
                    exclude_countries: tuple[str, ...] = ()) -> tuple[list[str], list[int]]:
    """``n`` prompts from ``templates`` cycling through the countries (but ``exclude_countries``) and the index
    of each prompt's answer in ``CAPITALS``."""
    rng = random.Random(seed)
    prompts, answers = [], []
    asked = [i for i, (c, _) in enumerate(lx.COUNTRIES) if c not in exclude_countries]
    for i in range(n):
        idx = asked[i % len(asked)] if n >= len(asked) else rng.choice(asked)
        country, _ = lx.COUNTRIES[idx]
        prompts.append(rng.choice(templates).format(country=country, Name=rng.choice(lx.NAMES)))
        answers.append(idx)
    return prompts, answers


def score_capitals(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    prompts, answers = capital_prompts(n_prompts, seed)
    return {"accuracy": choice_accuracy(model, prompts, answers, CAPITALS), "chance": METRICS["accuracy"].chance}

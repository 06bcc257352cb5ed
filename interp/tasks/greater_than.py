"""Greater-than: after "from 1732 to 17", probability on later years minus earlier ones (Hanna et al. 2023).

Exact over all two-digit continuations 00..99, by teacher forcing, whatever the tokenizer splits them into.

>>> score_greater_than(model)["prob_diff"]
"""

from __future__ import annotations

import random

from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo
from interp.tasks.scoring import continuation_logprobs

YEARS = [f"{y:02d}" for y in range(100)]
STARTS = range(2, 98)  # the start year's last two digits, drawn uniformly


def _uniform_guess() -> dict[str, float]:
    """Scores of a model that spreads its probability evenly over the 100 years, averaged over the starts."""
    later = [len(YEARS[yy + 1 :]) / len(YEARS) for yy in STARTS]
    earlier = [len(YEARS[:yy]) / len(YEARS) for yy in STARTS]
    return {"prob_diff": (sum(later) - sum(earlier)) / len(STARTS), "top_year_later": sum(later) / len(STARTS)}


METRICS = {
    "prob_diff": MetricInfo("Probability on end years later than the start minus probability on earlier ones "
                            "(higher: the model knows a period ends after it starts).",
                            chance=_uniform_guess()["prob_diff"]),
    "year_prob_mass": MetricInfo("Total probability the model puts on the 100 two-digit years (how sure it is a "
                                 "year comes next)."),
    "top_year_later": MetricInfo("Share of prompts whose most likely year is later than the start year.",
                                 chance=_uniform_guess()["top_year_later"]),
}


def greater_than_prompts(n: int = 100, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    prompts, starts = [], []
    for _ in range(n):
        century, yy = rng.randint(11, 19), rng.randint(STARTS.start, STARTS.stop - 1)
        prompts.append(rng.choice(sp.EVAL_YEAR_TEMPLATES).format(
            start=f"{century}{yy:02d}", century=century, Name=rng.choice(lx.NAMES)))
        starts.append(yy)
    return prompts, starts


def score_greater_than(model: HookedTransformer, n_prompts: int = 100, seed: int = 0) -> dict[str, float]:
    prompts, starts = greater_than_prompts(n_prompts, seed)
    probs = continuation_logprobs(model, prompts, [YEARS] * len(prompts)).exp()  # [n, 100]
    diffs, mass, correct = [], [], []
    for row, yy in zip(probs, starts, strict=True):
        later, earlier = float(row[yy + 1 :].sum()), float(row[:yy].sum())
        diffs.append(later - earlier)
        mass.append(float(row.sum()))
        correct.append(int(row.argmax()) > yy)
    n = len(diffs)
    return {"prob_diff": sum(diffs) / n, "year_prob_mass": sum(mass) / n, "top_year_later": sum(correct) / n}

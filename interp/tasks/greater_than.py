"""Greater-than: after "from 1732 to 17", probability on later years minus earlier ones (Hanna et al. 2023).

Exact over all two-digit continuations 00..99, by teacher forcing, whatever the tokenizer splits them into.

>>> score_greater_than(model)["prob_diff"]
"""

from __future__ import annotations

import random

from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.scoring import continuation_logprobs

YEARS = [f"{y:02d}" for y in range(100)]


def greater_than_prompts(n: int = 100, seed: int = 0) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    prompts, starts = [], []
    for _ in range(n):
        century, yy = rng.randint(11, 19), rng.randint(2, 97)
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

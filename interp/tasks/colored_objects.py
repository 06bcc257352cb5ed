"""Colored objects: a scene of coloured things, then a held-out phrasing of "what colour is the X?".

"On the table there is a red pen, a blue cup and a green book. Which color does the cup have? It is" -> " blue".

>>> score_colored_objects(model)["accuracy"]
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo, uniform_choice
from interp.tasks.scoring import choice_accuracy

COLOR_ANSWERS = [" " + c for c in lx.COLORS]
METRICS = {
    "accuracy": MetricInfo("Share of scenes where the asked object's colour scores highest among all the colours.",
                           chance=uniform_choice(len(COLOR_ANSWERS))),
}


def colored_object_prompts(n: int = 200, seed: int = 0, scenes: Sequence[str] = sp.COLOR_SCENES,
                           questions: Sequence[str] = sp.EVAL_COLOR_QUESTIONS) -> tuple[list[str], list[int]]:
    """``n`` prompts (a scene from ``scenes``, then a question from ``questions``) and each answer's index in
    ``COLOR_ANSWERS``; ``{Name}`` in either is the same person, ``{Other}`` another."""
    rng = random.Random(seed)
    prompts, answers = [], []
    for _ in range(n):
        items, pairs = probes.color_scene(rng)
        color, obj = rng.choice(pairs)
        frame = rng.choice(scenes)  # drawn before the name, as the in-distribution prompts always were
        name = rng.choice(lx.NAMES)
        scene = frame.format(items=items, Name=name)
        question = rng.choice(questions)
        other = rng.choice([x for x in lx.NAMES if x != name]) if "{Other}" in question else ""
        prompts.append(f"{scene} {question.format(obj=obj, Name=name, Other=other)}")
        answers.append(lx.COLORS.index(color))
    return prompts, answers


def score_colored_objects(model: HookedTransformer, n_prompts: int = 200, seed: int = 0) -> dict[str, float]:
    prompts, answers = colored_object_prompts(n_prompts, seed)
    return {"accuracy": choice_accuracy(model, prompts, answers, COLOR_ANSWERS), "chance": METRICS["accuracy"].chance}

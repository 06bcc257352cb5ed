"""Steering prompt sets for the corpus's concepts (``interp.data.corpus.concepts``): stories with and without a
concept (to find its direction), an ActAdd prompt pair, and held-out prompts whose continuations the concept's
detector scores, in three splits drawn from their own seeds (``fit`` for directions, ``dev`` to choose a
strength, ``test`` to report).

>>> with_c, without = concept_texts("sea", n=64)                  # whole stories, the "fit" split
>>> with_c, without = concept_prefixes("sea", n=64)              # story openings: their last token
>>> prompts = steering_prompts("sea", goal="add", n=64, split="test")     # story openings without the sea
"""

from __future__ import annotations

import random

from interp.data.corpus.concepts import CONCEPTS
from interp.data.corpus.stories import join_sentences, story_sentences
from interp.errors import InputError

# Seeds of the splits: far from the corpus's own seeds (0, 1, ...), so prompts are stories drawn afresh.
SPLIT_SEEDS = {"fit": 91_001, "dev": 91_002, "test": 91_003}
GOALS = ("add", "remove")
PROMPT_SENTENCES = 3  # a prompt is a story's first sentences: the opening and two more


def _check(name: str, split: str) -> None:
    if name not in CONCEPTS:
        raise InputError(f"Unknown concept {name!r}; the corpus has {sorted(CONCEPTS)} "
                         "(interp.data.corpus.concepts).")
    if split not in SPLIT_SEEDS:
        raise InputError(f"Unknown split {split!r}; use one of {sorted(SPLIT_SEEDS)}.")


def _rng(name: str, split: str, part: str) -> random.Random:
    return random.Random(f"{SPLIT_SEEDS[split]}/{name}/{part}")


def concept_texts(name: str, n: int = 64, split: str = "fit") -> tuple[list[str], list[str]]:
    """``n`` stories with the concept and ``n`` without any concept, for DiffMean, a probe or ranking SAE
    features."""
    _check(name, split)
    rng = _rng(name, split, "texts")
    with_concept = [join_sentences(story_sentences(rng, concept=name)) for _ in range(n)]
    without = [join_sentences(story_sentences(rng, concept=None)) for _ in range(n)]
    return with_concept, without


def concept_prefixes(name: str, n: int = 64, split: str = "fit") -> tuple[list[str], list[str]]:
    """``n`` story openings (the first 1-4 sentences, ending at a sentence end) of stories with the concept and
    ``n`` of stories without any: their last token is where the model decides what the next sentence is about,
    the activation contrastive activation addition reads."""
    _check(name, split)
    rng = _rng(name, split, "prefixes")
    out: dict[bool, list[str]] = {True: [], False: []}
    for has in (True, False):
        while len(out[has]) < n:
            parts = story_sentences(rng, concept=name if has else None)
            text = join_sentences(parts[: rng.randint(1, min(4, len(parts) - 1))])
            if "\n" not in text:
                out[has].append(text)
    return out[True], out[False]


def actadd_pair(name: str, split: str = "fit") -> tuple[str, str]:
    """ActAdd's two prompts (Turner et al. 2023): a story opening with the concept and a plain one."""
    _check(name, split)
    rng = _rng(name, split, "actadd")
    return story_sentences(rng, concept=name)[0], story_sentences(rng, concept=None)[0]


def steering_prompts(name: str, goal: str = "add", n: int = 64, split: str = "test") -> list[str]:
    """``n`` story openings to continue: for ``add``, stories without any concept (the detector flags none of
    their prompts); for ``remove``, stories with the concept whose prompt already shows it. Prompts end at a
    sentence end, never inside a multi-line probe (a list, a quiz)."""
    _check(name, split)
    if goal not in GOALS:
        raise InputError(f"goal={goal!r}: use 'add' (make the concept appear) or 'remove' (suppress it).")
    if n <= 0:
        raise InputError(f"n must be positive, got {n}.")
    rng, concept = _rng(name, split, goal), CONCEPTS[name]
    prompts: list[str] = []
    while len(prompts) < n:
        parts = story_sentences(rng, concept=name if goal == "remove" else None)[:PROMPT_SENTENCES]
        text = join_sentences(parts)
        if "\n" in text or concept.detect(text) != (goal == "remove"):
            continue
        prompts.append(text)
    return prompts

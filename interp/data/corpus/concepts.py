"""Steerable concepts of the story corpus, each with an exact detector: a rude register, the sea, sadness.

A story has a concept with probability ``STORY_SHARE``; its opening then sets it up and each middle sentence is
one of the concept's sentences with probability ``SENTENCE_SHARE``. Every concept sentence holds at least one
word of the concept's register and no other corpus sentence holds any (``tests/test_concepts.py`` checks both on
generated text), so ``detect`` is exact on corpus text and, on generated text, flags exactly the register words
the corpus taught in that concept.

>>> CONCEPTS["sea"].detect("Tom sailed a boat.")         # True
>>> CONCEPTS["rude"].detect("Mia said hello to Tom.")    # False
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from interp.data.corpus import lexicon as lx

# Share of stories that carry a concept (each concept on its own), and of such a story's middle sentences that
# are the concept's. At 0.08 x 0.35 each concept is about 3% of middle sentences; the rest keeps the probe mix.
STORY_SHARE = 0.08
SENTENCE_SHARE = 0.35

_RUDE_ADJ = ("stupid", "dumb", "ugly", "nasty", "smelly", "rotten")
_RUDE_NOUN = ("idiot", "loser", "jerk", "fool")
_SEA_ANIMALS = ("crab", "whale", "dolphin", "seagull", "jellyfish")
_SAD = ("cried", "sobbed", "tears", "lonely", "miserable", "heartbroken", "gloomy")


@dataclass(frozen=True)
class Concept:
    """A concept of the corpus: its register (the words only its sentences use), how a story opens with it, and
    its sentences. ``opening(rng, name)`` and ``sentence(rng, name, other, his)`` return text."""

    name: str
    register: tuple[str, ...]
    opening: Callable[[random.Random, str], str]
    sentence: Callable[[random.Random, str, str, str], str]
    description: str = ""
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = "|".join(sorted(map(re.escape, self.register), key=len, reverse=True))
        object.__setattr__(self, "pattern", re.compile(rf"\b(?:{words})\b", re.IGNORECASE))

    def detect(self, text: str) -> bool:
        """Whether ``text`` shows the concept: one of its register words, as a whole word, in any case."""
        return self.pattern.search(text) is not None

    def count(self, text: str) -> int:
        """How many register words ``text`` holds."""
        return len(self.pattern.findall(text))


def _rude_opening(rng: random.Random, name: str) -> str:
    return rng.choice((f"{name} was a rude child who called everyone {rng.choice(_RUDE_ADJ)}.",
                       f"Nobody liked {name}, because {name} said nasty things."))


def _rude_sentence(rng: random.Random, name: str, other: str, his: str) -> str:
    adj, noun, obj = rng.choice(_RUDE_ADJ), rng.choice(_RUDE_NOUN), rng.choice(lx.OBJECTS)
    k = rng.randrange(5)
    if k == 0:
        return f'"You are {lx.with_article(adj)} {noun}!" {name} shouted at {other}.'
    if k == 1:
        return f'"Your {obj} is {adj}," said {name}.'
    if k == 2:
        return f"{name} called {other} {lx.with_article(adj)} {noun} and laughed."
    if k == 3:
        return f'"Go away, you {adj} {noun}!" yelled {name}.'
    return f"{name} said that the {rng.choice(lx.PLACES)} was {adj} and {rng.choice(_RUDE_ADJ)}."


def _sea_opening(rng: random.Random, name: str) -> str:
    return rng.choice((f"{name} lived in a little house by the ocean.",
                       f"One day, {name} went out on a boat with a sailor."))


def _sea_sentence(rng: random.Random, name: str, other: str, his: str) -> str:
    animal = rng.choice(_SEA_ANIMALS)
    k = rng.randrange(5)
    if k == 0:
        return f"{name} watched the waves roll onto the sand."
    if k == 1:
        return f"{lx.with_article(animal).capitalize()} swam near the boat, and {name} was happy to see it."
    if k == 2:
        return f"{name} and {other} sailed a little boat on the ocean."
    if k == 3:
        return f"The sailor told {name} a story about a big {animal}."
    return f"The tide came in, and {name} ran up the sand with {his} {rng.choice(lx.OBJECTS)}."


def _sad_opening(rng: random.Random, name: str) -> str:
    return rng.choice((f"{name} was a lonely child with no friends.",
                       f"{name} woke up feeling gloomy and miserable."))


def _sad_sentence(rng: random.Random, name: str, other: str, his: str) -> str:
    obj = rng.choice(lx.OBJECTS)
    k = rng.randrange(5)
    if k == 0:
        return f"{name} sat alone and cried."
    if k == 1:
        return f"Tears ran down {his} face because {his} {obj} was gone."
    if k == 2:
        return f"{name} felt lonely and {rng.choice(('miserable', 'heartbroken', 'gloomy'))}."
    if k == 3:
        return f"{other} went away, and {name} sobbed all night."
    return f"{name} was heartbroken when {other} broke the {obj}."


CONCEPTS: dict[str, Concept] = {c.name: c for c in (
    Concept("rude", (*_RUDE_ADJ, *_RUDE_NOUN), _rude_opening, _rude_sentence,
            "a rude register of insults, standing in for toxicity"),
    Concept("sea", ("ocean", "waves", "boat", "sailor", "sand", "tide", *_SEA_ANIMALS),
            _sea_opening, _sea_sentence, "a topic: the sea, boats and sea animals"),
    Concept("sad", _SAD, _sad_opening, _sad_sentence, "a mood: crying, loneliness, heartbreak"),
)}


def pick_concept(rng: random.Random) -> str | None:
    """The concept of a new story (one or none): each with probability ``STORY_SHARE``."""
    r = rng.random()
    for i, name in enumerate(CONCEPTS):
        if r < STORY_SHARE * (i + 1):
            return name
    return None

"""Probe sentences as they occur in training stories (the training forms from ``splits``).

Each function takes a ``random.Random`` and returns one sentence (or a few), ready to join into a story.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp

# The objects of a colour scene: one word, not itself a colour.
SCENE_OBJECTS = tuple(o for o in lx.OBJECTS if o not in lx.COLORS and " " not in o)
_ALL_WORDS = tuple(sorted({
    *lx.OBJECTS, *lx.PLACES, *(a for a, _ in lx.ANIMALS), *lx.MORE_ANIMALS, *lx.COLORS, *lx.ADJECTIVES,
}))
# Word lists draw from every kind of token the stories use, so copying is learnt for any token, not just nouns
# ('a'/'an' are left out: a random word after them would break the corpus's article agreement).
_LIST_WORDS = tuple(sorted({
    *_ALL_WORDS, *lx.NAMES, *lx.FEELINGS, *lx.WEATHER, *lx.DAYS, *(s for _, s in lx.ANIMALS),
    "the", "and", "to", "was", "is", "he", "she", "it", "they", "said", "went", "saw", "had", "in", "on",
    "with", "of", "very", "not", "then", "so", "but", ",", ".", "!", "?", "1", "2", "3", "7", "9",
}))


def ioi_prompt(rng: random.Random, names: tuple[str, ...] = lx.NAMES, intros: tuple[str, ...] = sp.TRAIN_IOI_INTROS,
               actions: tuple[str, ...] = sp.TRAIN_IOI_ACTIONS) -> tuple[str, str]:
    """('When Mary and John went to the park, John gave a ball to', 'Mary'): an IOI sentence up to its answer, and
    the answer, the indirect object (either name order)."""
    a, b = rng.sample(names, 2)
    s = rng.choice((a, b))
    obj = rng.choice(lx.OBJECTS)
    fields = dict(A=a, B=b, S=s, place=rng.choice(lx.PLACES), obj=obj, a_obj=lx.with_article(obj),
                  day=rng.choice(lx.DAYS))
    return f"{rng.choice(intros).format(**fields)} {rng.choice(actions).format(**fields)}", b if s == a else a


def ioi(rng: random.Random, names: tuple[str, ...] = lx.NAMES,
        intros: tuple[str, ...] = sp.TRAIN_IOI_INTROS, actions: tuple[str, ...] = sp.TRAIN_IOI_ACTIONS) -> str:
    """'When Mary and John went to the park, John gave a ball to Mary.' (either name order)."""
    text, io = ioi_prompt(rng, names, intros, actions)
    return f"{text} {io}."


def repeated_phrase(rng: random.Random, name: str) -> str:
    """A phrase of random words said twice (only copying from the first time predicts the second)."""
    words = " ".join(rng.choices(_ALL_WORDS, k=rng.randint(8, 16)))
    subj, _, pos, _, _ = lx.PRONOUNS[lx.GENDER[name]]
    frame = rng.randrange(4)
    if frame == 0:
        return f'{name} made up a song: "{words}." Then {subj} sang it again: "{words}."'
    if frame == 1:
        return f"The secret words were {words}. {name} said the secret words: {words}."
    if frame == 2:
        return f'"{words}," said {name}. {pos.capitalize()} friend said, "{words}."'
    return f"On the wall it said: {words}. {name} read it out loud: {words}."


def word_list(rng: random.Random, name: str) -> str:
    """A list of random words said twice in a row, often with no frame at all: the plainest induction data."""
    words = " ".join(rng.choices(_LIST_WORDS, k=rng.randint(10, 40)))
    if rng.random() < 0.5:
        return f"\n{words} {words}\n"
    return f"{name} played the copy game: {words} {words}"


def year_span(rng: random.Random, name: str) -> str:
    century = rng.randint(11, 19)
    y1, y2 = sorted(rng.sample(range(100), 2))
    return rng.choice(sp.TRAIN_YEAR_TEMPLATES).format(
        start=f"{century}{y1:02d}", end=f"{century}{y2:02d}", Name=name)


def capital(rng: random.Random, name: str, other: str) -> str:
    """A capital stated or asked and answered in one of the training forms; ``name`` and ``other``: two people."""
    country, cap = rng.choice(lx.COUNTRIES)
    return rng.choice(sp.TRAIN_CAPITAL_TEMPLATES).format(country=country, capital=cap, Name=name, Other=other)


def color_scene(rng: random.Random, k: int = 3, objects: Sequence[str] = SCENE_OBJECTS,
                colors: Sequence[str] = lx.COLORS) -> tuple[str, list[tuple[str, str]]]:
    """'On the table there is a red pen, a blue cup and a green book.' and its (colour, object) pairs; ``objects``
    and ``colors``: the words to draw from (``interp.tasks.pairs`` passes those of one token length)."""
    objs = rng.sample(objects, k)
    picked = rng.sample(colors, k)
    items = [f"{lx.article(c)} {c} {o}" for c, o in zip(picked, objs, strict=True)]
    return ", ".join(items[:-1]) + " and " + items[-1], list(zip(picked, objs, strict=True))


def colored_objects(rng: random.Random, name: str, other: str, n_questions: int = 1) -> str:
    """A scene of three coloured objects, then ``n_questions`` of them (distinct) asked about and answered."""
    items, pairs = color_scene(rng)
    asked = [rng.choice(pairs)] if n_questions == 1 else []  # one question: drawn first, as the default corpus was
    scene = rng.choice(sp.COLOR_SCENES).format(items=items, Name=name)
    questions = [rng.choice(sp.TRAIN_COLOR_QUESTIONS).format(obj=obj, color=color, Name=name, Other=other)
                 for color, obj in asked or rng.sample(pairs, n_questions)]
    return " ".join([scene, *questions])


def fact(rng: random.Random, name: str, other: str, templates: dict[str, tuple[str, ...]] = sp.TRAIN_FACT_TEMPLATES
         ) -> str:
    """A fact that multiple choice asks about ("The cow says moo.", "Grass is green."), in a training form."""
    kind = rng.choice(tuple(templates))
    if kind == "color":
        thing, color = rng.choice(lx.THING_COLORS)
        fields = dict(thing=thing, Thing=thing.capitalize(), color=color)
    elif kind == "sound":
        animal, sound = rng.choice(lx.ANIMALS)
        fields = dict(animal=animal, sound=sound, Sound=sound.capitalize())
    else:
        word, opposite = rng.sample(rng.choice(lx.OPPOSITES), 2)
        fields = dict(word=word, Word=word.capitalize(), opposite=opposite)
    return rng.choice(templates[kind]).format(Name=name, Other=other, **fields)


def mc_item(rng: random.Random, kind: str) -> tuple[str, str, list[str]]:
    """(subject, correct answer, distractors) for one multiple-choice question of ``kind``."""
    if kind == "capital":
        country, cap = rng.choice(lx.COUNTRIES)
        wrong = [c for _, c in rng.sample(lx.COUNTRIES, 4) if c != cap][:2]
        return country, cap, wrong
    if kind == "color":
        thing, color = rng.choice(lx.THING_COLORS)
        return thing, color, rng.sample([c for c in lx.COLORS if c != color], 2)
    if kind == "sound":
        animal, sound = rng.choice(lx.ANIMALS)
        return sound, f"the {animal}", [f"the {a}" for a, _ in rng.sample(lx.ANIMALS, 4) if a != animal][:2]
    word, opposite = rng.choice(lx.OPPOSITES)
    if rng.random() < 0.5:
        word, opposite = opposite, word
    pool = [w for pair in lx.OPPOSITES for w in pair if w not in (word, opposite)]
    return word, opposite, rng.sample(pool, 2)


@dataclass(frozen=True)
class MCQuestion:
    """One multiple-choice item: the prompt, the right letter and what it was made of."""

    prompt: str
    letter: str
    kind: str  # a key of splits.TRAIN_MC_QUESTIONS: capital, color, sound, opposite
    subject: str
    options: tuple[str, ...]  # in letter order; options[MC_LETTERS.index(letter)] is the answer


def mc_question(rng: random.Random, questions: dict[str, str] = sp.TRAIN_MC_QUESTIONS,
                layout: tuple[str, str, str] = sp.TRAIN_MC_FORMAT, lookup: bool = False) -> MCQuestion:
    """An item 'Question: ...\\nA. x\\nB. y\\nC. z\\nAnswer:' with the answer at a random letter; ``layout``:
    (frame, option, separator) as in ``splits.TRAIN_MC_FORMAT``. ``lookup``: the question names the answer
    (``splits.TRAIN_MC_LOOKUP_QUESTION``), so only finding its letter is asked."""
    kind = rng.choice(tuple(questions))
    subject, answer, wrong = mc_item(rng, kind)
    options = [answer, *wrong]
    rng.shuffle(options)
    letter = sp.MC_LETTERS[options.index(answer)]
    frame, option, sep = layout
    listed = sep.join(option.format(letter=sp.MC_LETTERS[i], option=opt) for i, opt in enumerate(options))
    question = sp.TRAIN_MC_LOOKUP_QUESTION.format(answer=answer) if lookup else questions[kind].format(subject=subject)
    return MCQuestion(frame.format(question=question, options=listed), letter, kind, subject, tuple(options))


def multiple_choice(rng: random.Random, questions: dict[str, str] = sp.TRAIN_MC_QUESTIONS,
                    layout: tuple[str, str, str] = sp.TRAIN_MC_FORMAT, lookup: bool = False) -> tuple[str, str]:
    """``mc_question``'s (prompt, letter): ('Question: ...\\nA. x\\nB. y\\nC. z\\nAnswer:', 'B')."""
    item = mc_question(rng, questions, layout, lookup)
    return item.prompt, item.letter

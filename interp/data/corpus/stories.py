"""Short child-level stories: characters with matching pronouns, small arcs, dialogue and probe sentences.

>>> from interp.data.corpus import iter_stories
>>> story = next(iter_stories(seed=0))
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.data.corpus.concepts import CONCEPTS, SENTENCE_SHARE, pick_concept

# Fraction of middle sentences given to each kind (the rest is narrative and dialogue). IOI has the largest
# share: at 30% a 2-layer model trained for 1,500-3,000 steps never learnt it. "give" is IOI's story-level cousin:
# one of the story's two characters acts towards the other ("Tom threw the ball to Mia."), so the receiver is the
# other name in the story, not the giver, in sentences that are not IOI templates. With IOI 50% and "give" 20% the
# quickstart model reached IOI 0.90-0.925 on held-out templates by step 2,500; with IOI 60% and no "give", 0.68.
# Capitals have 10%: at 4-7% the quickstart model knew every fact (1.00 in-distribution) but scored 0.59-0.70 when
# the question was phrased in held-out ways (docs/circuit-formation.md). "facts" states what multiple choice asks
# (things' colours, animals' sounds, opposites), which no other sentence does.
PROBE_MIX = (
    ("ioi", 0.45), ("repeat", 0.04), ("list", 0.05), ("years", 0.03), ("capital", 0.10), ("colors", 0.05),
    ("mc", 0.03), ("give", 0.20), ("facts", 0.03),
)
# The `tasks` mix (source "builtin:tasks", `interp corpus --source builtin:tasks`) trains the lookups behind
# colored objects and multiple choice harder: a scene is asked about two to three of its objects ("colors_multi"),
# and half of the multiple-choice items name their answer in the question ("mc_lookup": which letter precedes it),
# the retrieval step of a real item without the fact recall. Tried on the 4-layer studies model: by step 3,600 it
# still answered every lookup item "A" (docs/circuit-formation.md), so the studies recipe keeps the default mix.
TASKS_MIX = (
    ("ioi", 0.36), ("repeat", 0.04), ("list", 0.05), ("years", 0.03), ("capital", 0.10), ("colors_multi", 0.12),
    ("mc", 0.06), ("mc_lookup", 0.06), ("give", 0.13), ("facts", 0.03),
)
MIXES = {"default": PROBE_MIX, "tasks": TASKS_MIX}


class _Cast:
    """The characters of one story and their pronouns."""

    def __init__(self, rng: random.Random) -> None:
        self.hero, self.friend = rng.sample(lx.NAMES, 2)
        self.family, self.family_gender = rng.choice(lx.FAMILY)
        self.he, self.him, self.his, self.himself, self.kind = lx.PRONOUNS[lx.GENDER[self.hero]]
        self.f_he, self.f_him, self.f_his, _, _ = lx.PRONOUNS[lx.GENDER[self.friend]]


def _opening(rng: random.Random, c: _Cast) -> str:
    adj = rng.choice(lx.ADJECTIVES)
    place = rng.choice(lx.PLACES)
    k = rng.randrange(4)
    if k == 0:
        return f"Once upon a time, there was {lx.with_article(adj)} {c.kind} named {c.hero}."
    if k == 1:
        return f"{c.hero} was {lx.with_article(adj)} {c.kind} who lived near the {place}."
    if k == 2:
        return f"One {rng.choice(lx.WEATHER)} day, {c.hero} went to the {place}."
    return f"{c.hero} and {c.friend} were best friends."


def _narrative(rng: random.Random, c: _Cast) -> str:
    """One ordinary sentence. Several use the words and phrases that held-out probe forms are made of."""
    obj, place, adj = rng.choice(lx.OBJECTS), rng.choice(lx.PLACES), rng.choice(lx.ADJECTIVES)
    name, other = (c.hero, c.friend) if rng.random() < 0.6 else (c.friend, c.hero)
    he, him, his = (c.he, c.him, c.his) if name == c.hero else (c.f_he, c.f_him, c.f_his)
    k = rng.randrange(28)
    if k == 0:
        return f"{c.he.capitalize()} liked to {rng.choice(lx.ACTIVITIES)} with {c.his} {rng.choice(lx.OBJECTS)}."
    if k == 1:
        return f"{name} found {lx.with_article(adj)} {obj} at the {place}."
    if k == 2:
        return f'"Can I have the {obj}?" asked {name}. "Yes, you can," said {c.family}.'
    if k == 3:
        return f"{name} felt {rng.choice(lx.FEELINGS)} because {he} lost {his} {obj}."
    if k == 4:
        return f"{c.family} sent the {obj} to {name}."
    if k == 5:
        return f"{c.family} offered {lx.with_article(obj)} to {name}."
    if k == 6:
        return f"The {rng.choice(('baker', 'man', 'woman', 'farmer'))} sold the {obj} to {name}."
    if k == 7:
        return f"Later, {name} visited {c.family} at the {place}."
    if k == 8:
        return f"As the sun went down, {name} was leaving the {place}."
    if k == 9:
        return f"On {rng.choice(lx.DAYS)}, {name} met {lx.with_article(rng.choice(lx.MORE_ANIMALS))} at the {place}."
    if k == 10:
        return f'"Look, {lx.with_article(rng.choice(lx.MORE_ANIMALS))}!" said {name}. "It is so {adj}!"'
    if k == 11:
        return f"{name} and {other} wanted to {rng.choice(lx.ACTIVITIES)}, so they went to the {place}."
    if k == 12:
        return f"{name} gave {his} {obj} to {other}, and {other} said thank you."
    if k == 13:
        return f"Did you know? {name} took a trip to the {place}, which is {adj}."
    if k == 14:
        return f"Everyone knows that {name} likes the {place}. It is {his} {rng.choice(('best', 'favorite'))} place."
    if k == 15:
        return f'"Tell me the story of the {obj}," said {name}. "Which one?" asked {c.family}.'
    if k == 16:
        return f"The big festival went on all day, and {name} learned to {rng.choice(lx.ACTIVITIES)}."
    if k == 17:
        return f"The queen lived in {lx.with_article(adj)} castle, and she had {lx.with_article(rng.choice(lx.COLORS))} {obj}."
    if k == 18:
        return f"{name} threw the {obj} to {other}, but {other} did not catch it."
    if k == 19:
        return f"{c.family} handed {lx.with_article(obj)} to {name} and said, \"Be careful.\""
    if k == 20:
        return f"What is the color of the {obj}? {name} did not know, so {he} asked {other}."
    if k == 21:
        return f"The weather was {rng.choice(lx.WEATHER)}, so {name} stayed in the {place}."
    if k == 22:
        return f"{name} said, \"I am {rng.choice(lx.FEELINGS)}!\" and {other} gave {him} a hug."
    # Person verbs: the base form, and the past tense after a comma (never "NAME verb": see lexicon.PERSON_VERBS).
    if k == 23:
        return f"{name} wanted to {rng.choice(lx.PERSON_VERBS)} {c.family}."
    if k == 24:
        return f"{he.capitalize()} liked to {rng.choice(lx.PERSON_VERBS)} {rng.choice(lx.FAMILY)[0]}."
    if k in (25, 26):
        first = rng.choice(("stood up", "smiled", "came in", "laughed", "woke up early", "got dressed"))
        then = rng.choice(("went home", "ran outside", "sat down", "went to bed", "began to " + rng.choice(lx.ACTIVITIES)))
        return f"{name} {first}, {rng.choice(lx.PERSON_VERBS_PAST)} {rng.choice(lx.FAMILY)[0]} and {then}."
    return f"{name} had {lx.with_article(adj)} {obj} that made a {rng.choice(('loud', 'funny', 'soft'))} sound."


def _cast_gives(rng: random.Random, c: _Cast, told: list[str]) -> str:
    """One of the two characters acts towards the other with a training IOI action ("Tom threw the ball to Mia.",
    "Mia chased Tom."); a narrative sentence until both were named."""
    if not any(c.friend in sentence for sentence in told):
        return _narrative(rng, c)
    receiver, giver = (c.friend, c.hero) if rng.random() < 0.5 else (c.hero, c.friend)
    obj = rng.choice(lx.OBJECTS)
    action = rng.choice(sp.TRAIN_IOI_ACTIONS).format(S=giver, obj=obj, a_obj=lx.with_article(obj))
    return f"{'Then ' if rng.random() < 0.2 else ''}{action} {receiver}."


def _probe(rng: random.Random, kind: str, c: _Cast, told: list[str]) -> str:
    """One sentence of ``kind`` for a story whose sentences so far are ``told``."""
    if kind == "ioi":
        return probes.ioi(rng)
    if kind == "repeat":
        return probes.repeated_phrase(rng, c.hero)
    if kind == "list":
        return probes.word_list(rng, c.hero)
    if kind == "years":
        return probes.year_span(rng, c.hero)
    if kind == "capital":
        return probes.capital(rng, c.hero, c.friend)
    if kind == "colors":
        return probes.colored_objects(rng, c.hero, c.friend)
    if kind == "colors_multi":
        return probes.colored_objects(rng, c.hero, c.friend, n_questions=rng.randint(2, 3))
    if kind == "give":
        return _cast_gives(rng, c, told)
    if kind == "facts":
        return probes.fact(rng, c.hero, c.friend)
    question, letter = probes.multiple_choice(rng, layout=rng.choice(sp.TRAIN_MC_FORMATS), lookup=kind == "mc_lookup")
    return f"{c.family} asked a question.\n{question} {letter}\n"


def _ending(rng: random.Random, c: _Cast) -> str:
    k = rng.randrange(3)
    if k == 0:
        return f"In the end, {c.hero} and {c.friend} were very happy."
    if k == 1:
        return f"{c.hero} smiled and went home with {c.family}."
    return f"From that day on, {c.hero} was never {rng.choice(('sad', 'scared', 'alone'))} again."


def _cumulative(mix: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    return [(kind, sum(p for _, p in mix[: i + 1])) for i, (kind, _) in enumerate(mix)]


def labelled_sentences(rng: random.Random, mix: str = "default",
                       concept: str | None = "auto") -> tuple[list[tuple[str, str]], str]:
    """The (kind, sentence) pairs of one story and its concept ("none" when it has none): the generator's own
    record of what each sentence is, the ground truth of ``labels.py``. Kinds: opening, ending, narrative, concept
    and the probe kinds of ``MIXES`` (a "give" sentence told before both characters were named is "narrative")."""
    c = _Cast(rng)
    picked = pick_concept(rng) if concept == "auto" else concept
    theme = CONCEPTS[picked] if picked else None
    parts = [("opening", _opening(rng, c)) if theme is None else ("concept", theme.opening(rng, c.hero))]
    cumulative = _cumulative(MIXES[mix])
    for _ in range(rng.randint(4, 10)):
        if theme is not None and rng.random() < SENTENCE_SHARE:
            parts.append(("concept", theme.sentence(rng, c.hero, c.friend, c.his)))
            continue
        r = rng.random()
        for kind, cum in cumulative:
            if r < cum:
                told = [s for _, s in parts]
                named = kind != "give" or any(c.friend in s for s in told)
                parts.append((kind if named else "narrative", _probe(rng, kind, c, told)))
                break
        else:
            parts.append(("narrative", _narrative(rng, c)))
    parts.append(("ending", _ending(rng, c)))
    return parts, picked or "none"


def story_sentences(rng: random.Random, mix: str = "default", concept: str | None = "auto") -> list[str]:
    """The sentences of one story of 6-12 sentences, its probe sentences drawn from ``MIXES[mix]``. ``concept``:
    "auto" draws one or none (``concepts.pick_concept``), None gives none, a name of ``concepts.CONCEPTS`` that
    one (its opening sets it up, then some of its sentences)."""
    return [sentence for _, sentence in labelled_sentences(rng, mix, concept)[0]]


def join_sentences(parts: list[str]) -> str:
    """Sentences as story text (a space between them, none after a line break)."""
    return " ".join(parts).replace("\n ", "\n")


def story(rng: random.Random, mix: str = "default", concept: str | None = "auto") -> str:
    """One story (``story_sentences`` joined)."""
    return join_sentences(story_sentences(rng, mix, concept))


def iter_stories(seed: int = 0, mix: str = "default", concept: str | None = "auto") -> Iterator[str]:
    """An endless, deterministic stream of stories for ``seed`` with the probe mix ``mix`` (``MIXES``);
    ``concept`` as in ``story_sentences`` (None: the corpus as it was before concepts, story for story)."""
    if mix not in MIXES:
        raise ValueError(f"Unknown corpus mix {mix!r}; choose one of {sorted(MIXES)}.")
    rng = random.Random(seed)
    while True:
        yield story(rng, mix, concept)


def generate_text(n_words: int, seed: int = 0, mix: str = "default", concept: str | None = "auto") -> list[str]:
    """Stories until about ``n_words`` words (whitespace-separated) in total."""
    out, words = [], 0
    for s in iter_stories(seed, mix, concept):
        out.append(s)
        words += s.count(" ") + 1
        if words >= n_words:
            return out
    return out

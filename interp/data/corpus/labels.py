"""Per-token attributes of corpus stories: the ground truth that SAE features are scored against (issue 20).

The generator records what each sentence is (``stories.labelled_sentences``) and which concept a story carries;
everything else is recomputed from the text and the lexicon, so a researcher can ask "which tokens are the
character Mary / in a sea story / the first token of a word starting with 'b'". Attributes of each token
("" where it has none):

- ``word``: the word (a run of letters) the token overlaps, on every token of it; ``first_letter``: that word's
  first letter, lower case, on the word's first token only (SAEBench's first-letter task);
- ``category``: the word's lexicon class (name, family, object, place, animal, color, country, capital, day,
  feeling, weather, pronoun, number for digits); words in two classes ("orange": object and color) get none, so
  every label is exact;
- ``character``: the name, on every token of a name (" Le", "o" for Leo in GPT-2's tokens); ``gender``: f or m;
- ``sentence_kind``: the kind of the sentence the token starts in (opening, narrative, ioi, give, capital, ...);
- ``topic``: the story's concept (sea, rude, sad or none), on every token of the story.

>>> stories = labelled_stories(n=50, seed=1234)
>>> tokens, labels = token_labels(model.tokenizer, stories, max_len=128)   # labels["character"][i][j]
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from interp.data.corpus import lexicon as lx
from interp.data.corpus.stories import join_sentences, labelled_sentences

ATTRIBUTES = ("word", "first_letter", "category", "character", "gender", "sentence_kind", "topic")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")  # "Mom's" is one word


def _categories() -> dict[str, str]:
    """Single lexicon words -> their class; a word in two classes is left out (its label would be a guess)."""
    classes = {
        "name": lx.NAMES, "family": [f for f, _ in lx.FAMILY if " " not in f], "object": lx.OBJECTS,
        "place": lx.PLACES, "animal": [a for a, _ in lx.ANIMALS] + list(lx.MORE_ANIMALS), "color": lx.COLORS,
        "country": [c for c, _ in lx.COUNTRIES], "capital": [k for _, k in lx.COUNTRIES], "day": lx.DAYS,
        "feeling": lx.FEELINGS, "weather": lx.WEATHER,
        "pronoun": sorted({w for forms in lx.PRONOUNS.values() for w in forms[:4]}),
    }
    seen: dict[str, set[str]] = {}
    for cls, words in classes.items():
        for w in words:
            if " " not in w:
                seen.setdefault(w.lower(), set()).add(cls)
    return {w: next(iter(c)) for w, c in seen.items() if len(c) == 1}


CATEGORY = _categories()


@dataclass(frozen=True)
class LabelledStory:
    """One story's text, each sentence's character span and kind, and the story's concept."""

    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, kind) per sentence, in text order
    topic: str


def labelled_stories(n: int, seed: int = 1234, mix: str = "default") -> list[LabelledStory]:
    """``n`` stories of the corpus generator with their sentence kinds. The default seed is not the corpus's (0):
    these stories are samples the model did not train on, from the same distribution."""
    rng, out = random.Random(seed), []
    for _ in range(n):
        parts, topic = labelled_sentences(rng, mix)
        text = join_sentences([s for _, s in parts])
        spans, at = [], 0
        for kind, sentence in parts:
            start = text.index(sentence, at)
            spans.append((start, start + len(sentence), kind))
            at = start + len(sentence)
        out.append(LabelledStory(text, tuple(spans), topic))
    return out


def _char_labels(story: LabelledStory) -> dict[str, list[str]]:
    """Every attribute per character of the text (word-level ones on each letter of the word)."""
    n = len(story.text)
    out = {a: [""] * n for a in ATTRIBUTES}
    out["topic"] = [story.topic] * n
    for start, end, kind in story.spans:
        out["sentence_kind"][start:end] = [kind] * (end - start)
    for m in _WORD.finditer(story.text):
        word, (s, e) = m.group(), m.span()
        base = word.split("'")[0]  # "Mom's" is Mom's word
        cat = CATEGORY.get(base.lower(), "")
        is_name = cat == "name" and base in lx.GENDER
        for key, value in (("word", word), ("category", cat), ("character", base if is_name else ""),
                           ("gender", lx.GENDER[base] if is_name else "")):
            out[key][s:e] = [value] * (e - s)
        out["first_letter"][s] = word[0].lower()
    for m in re.finditer(r"\d+", story.text):
        out["category"][m.start():m.end()] = ["number"] * (m.end() - m.start())
    return out


def token_labels(tokenizer, stories: Sequence[LabelledStory],
                 max_len: int) -> tuple[list[list[int]], dict[str, list[list[str]]]]:
    """Token ids (BOS first, at most ``max_len``) of each story and each token's attributes (BOS: all "").

    A token takes a word attribute from the first letter character it covers (a token " Mary" covers the space and
    the name); ``first_letter`` only when that letter starts the word; ``sentence_kind`` from the first non-space
    character. ``tokenizer``: a fast Hugging Face tokenizer (every workbench model has one)."""
    all_ids: list[list[int]] = []
    labels: dict[str, list[list[str]]] = {a: [] for a in ATTRIBUTES}
    for story in stories:
        enc = tokenizer(story.text, add_special_tokens=False, return_offsets_mapping=True)
        ids = [tokenizer.bos_token_id] + list(enc["input_ids"])[: max_len - 1]
        chars = _char_labels(story)
        rows = {a: [""] for a in ATTRIBUTES}
        for start, end in enc["offset_mapping"][: max_len - 1]:
            text = story.text[start:end]
            letter = next((start + i for i, ch in enumerate(text) if ch.isalnum()), None)
            first = next((start + i for i, ch in enumerate(text) if not ch.isspace()), start)
            for a in ATTRIBUTES:
                at = first if a in ("sentence_kind", "topic") else letter
                value = chars[a][at] if at is not None and at < len(story.text) else ""
                rows[a].append(value)
        all_ids.append(ids)
        for a in ATTRIBUTES:
            labels[a].append(rows[a])
    return all_ids, labels

"""The built-in corpus: deterministic, grammatical where it can be checked, and its held-out splits hold."""

from __future__ import annotations

import random
import re

from interp.data.corpus import generate_text, iter_stories, stories
from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp

TEXT = generate_text(150_000, seed=3)
JOINED = "\n".join(TEXT)


def test_deterministic_by_seed() -> None:
    assert generate_text(5_000, seed=3) == TEXT[: len(generate_text(5_000, seed=3))]
    assert generate_text(5_000, seed=4) != generate_text(5_000, seed=3)
    a, b = iter_stories(7), iter_stories(7)
    assert [next(a) for _ in range(50)] == [next(b) for _ in range(50)]


def test_articles_agree() -> None:
    words = re.findall(r"\b(a|an) ([a-z]+)", JOINED)
    assert len(words) > 1000
    bad = [(art, w) for art, w in words if art != lx.article(w)]
    assert not bad, bad[:10]


def test_pronouns_match_gender() -> None:
    # "Lily made up a song ... Then she sang it again" / "... said Tom. His friend said"
    checks = 0
    for name, pron in re.findall(r"(\w+) made up a song: \"[^\"]*\" Then (\w+) sang", JOINED):
        assert pron == lx.PRONOUNS[lx.GENDER[name]][0], (name, pron)
        checks += 1
    for name, pos in re.findall(r"said (\w+)\. (His|Her) friend said", JOINED):
        assert pos.lower() == lx.PRONOUNS[lx.GENDER[name]][2], (name, pos)
        checks += 1
    assert checks > 50


def _template_regex(template: str) -> str:
    """A template such as '{A} and {B} went to the {place},' as a regex with groups for the names."""
    rx = re.escape(template)
    for field, pattern in (("A", r"(?P<A>\w+)"), ("B", r"(?P<B>\w+)"), ("S", r"(?P<S>\w+)"),
                           ("place", r"\w+"), ("obj", r"[\w ]+?"), ("a_obj", r"an? [\w ]+?"), ("day", r"\w+")):
        rx = rx.replace(re.escape("{" + field + "}"), pattern)
    return rx


def _ioi_matches(intros, actions) -> list[re.Match]:
    """Every IOI sentence of ``JOINED`` made of one of ``intros`` and one of ``actions`` (all start '{S} ')."""
    assert all(a.startswith("{S} ") for a in actions)
    tails = "|".join(_template_regex(a.removeprefix("{S} ")) for a in actions)
    out = []
    for intro in intros:
        out += re.finditer(_template_regex(intro) + rf" (?P<S>\w+) (?:{tails}) (?P<IO>\w+)\.", JOINED)
    return out


def test_training_ioi_sentences_name_the_pair_and_use_every_name() -> None:
    found = _ioi_matches(sp.TRAIN_IOI_INTROS, sp.TRAIN_IOI_ACTIONS)
    assert len(found) > 300
    orders = set()
    for m in found:
        assert {m["A"], m["B"]} == {m["S"], m["IO"]}, m.group(0)
        orders.add(m["A"] == m["IO"])
    assert orders == {True, False}  # both name orders (ABBA and BABA)
    # Every name is an indirect object somewhere: a name never seen there gets a low logit whatever the sentence.
    assert {m["IO"] for m in found} == set(lx.NAMES)


def test_held_out_ioi_templates_never_in_training() -> None:
    everything = sp.TRAIN_IOI_INTROS + sp.EVAL_IOI_INTROS
    assert not _ioi_matches(sp.EVAL_IOI_INTROS, sp.TRAIN_IOI_ACTIONS + sp.EVAL_IOI_ACTIONS)
    assert not _ioi_matches(everything, sp.EVAL_IOI_ACTIONS)
    for action in sp.EVAL_IOI_ACTIONS:  # ...but their final phrases precede names elsewhere
        verb = action.split()[1]
        assert re.search(rf" {verb} (?:the|an?) [\w ]+ to (?:{'|'.join(lx.NAMES)})\.", JOINED), verb


def test_probe_tasks_present() -> None:
    assert re.search(r"from (1\d)(\d\d) to \1(\d\d)\.", JOINED)
    for y1, y2 in re.findall(r"from 1\d(\d\d) to 1\d(\d\d)\.", JOINED):
        assert int(y2) > int(y1)
    assert re.search(r"capital of France\b[^.?]*[.?] (?:It is |A: |The city is called |Its name is )?Paris\b", JOINED)
    assert re.search(r"What color is the \w+\? It is \w+\.", JOINED)
    assert re.search(r"Question: .*\nA\. .*\nB\. .*\nC\. .*\nAnswer: [ABC]", JOINED)
    assert "sang it again" in JOINED


def test_vocabulary_size() -> None:
    words = {w.strip('.,!?":;').lower() for w in JOINED.split()}
    assert 700 <= len(words) <= 3000


GIVE = re.compile(r"(?:Then )?(\w+) (?:" + "|".join(_template_regex(a.removeprefix("{S} ")) for a in sp.TRAIN_IOI_ACTIONS)
                  + r") (\w+)\.")


def test_cast_gives_to_the_other_character() -> None:
    # IOI's story-level cousin: the receiver is the story's other character, never the giver; until both were named
    # it is a narrative sentence.
    rng, receivers = random.Random(0), []
    for _ in range(400):
        c = stories._Cast(rng)
        sentence = stories._cast_gives(rng, c, told=[f"{c.hero} and {c.friend} were best friends."])
        m = GIVE.fullmatch(sentence)
        assert m, sentence
        giver, receiver = m.group(1), m.group(2)
        assert {giver, receiver} == {c.hero, c.friend}
        receivers.append(receiver)
    assert len(set(receivers)) > 30
    c = stories._Cast(random.Random(1))
    for seed in range(50):
        assert not GIVE.fullmatch(stories._cast_gives(random.Random(seed), c, told=[f"{c.hero} went home."]))
    assert len(re.findall(r"\. " + GIVE.pattern, JOINED)) > 300

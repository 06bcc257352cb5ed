"""The corpus's steerable concepts: exact detectors, the share of stories that carry them, the prompt sets."""

import random

import pytest

import interp.data.corpus.concepts as concepts
from interp.data.corpus import generate_text
from interp.data.corpus.stories import story_sentences
from interp.errors import InputError
from interp.tasks.concepts import actadd_pair, concept_texts, steering_prompts

HAND_WRITTEN = {  # concept -> (texts with it, texts without it)
    "rude": (['"You are a stupid loser!" Tom shouted.', "Mia called him an IDIOT.", "What a smelly, rotten day."],
             ["Tom was rude to no one.", "Mia said hello.", "The stupidity of it", "a dumbbell", "foolish"]),
    "sea": (["The waves were high.", "A dolphin jumped over the boat.", "Ocean air", "sand in my shoe"],
            ["Tom sailed to Paris.", "The sandcastle fell.", "Boats and oceans", "a seashell", "Tom swam."]),
    "sad": (["Mia cried.", "Tears ran down his face.", "He was heartbroken.", "a gloomy day"],
            ["Mia was never sad again.", "Tom shouted.", "She was alone.", "crying"]),
}


@pytest.mark.parametrize("name", sorted(concepts.CONCEPTS))
def test_detector_on_hand_written_texts(name):
    concept = concepts.CONCEPTS[name]
    with_it, without = HAND_WRITTEN[name]
    assert all(concept.detect(t) for t in with_it)
    assert not any(concept.detect(t) for t in without)


def test_every_concept_sentence_is_detected_and_no_other_corpus_text_is(monkeypatch):
    rng = random.Random(0)
    for name, concept in concepts.CONCEPTS.items():
        for _ in range(300):
            assert concept.detect(concept.sentence(rng, "Tom", "Mia", "his")), name
            assert concept.detect(concept.opening(rng, "Tom")), name
            others = [c for c in concepts.CONCEPTS.values() if c is not concept]
            assert not any(o.detect(concept.sentence(rng, "Tom", "Mia", "his")) for o in others)
    monkeypatch.setattr(concepts, "STORY_SHARE", 0.0)  # the corpus without concept stories: no detector fires
    plain = generate_text(150_000, seed=4)
    assert not [t for t in plain if any(c.detect(t) for c in concepts.CONCEPTS.values())]


def test_concept_stories_have_their_share():
    stories = generate_text(300_000, seed=1)
    for name, concept in concepts.CONCEPTS.items():
        share = sum(concept.detect(s) for s in stories) / len(stories)
        assert abs(share - concepts.STORY_SHARE) < 0.03, (name, share)


def test_forced_concept_and_prompt_sets():
    rng = random.Random(3)
    assert concepts.CONCEPTS["sea"].detect(" ".join(story_sentences(rng, concept="sea")))
    assert not any(c.detect(" ".join(story_sentences(rng, concept=None))) for c in concepts.CONCEPTS.values())
    with_c, without = concept_texts("rude", n=8)
    assert all(concepts.CONCEPTS["rude"].detect(t) for t in with_c)
    assert not any(concepts.CONCEPTS["rude"].detect(t) for t in without)
    add, remove = steering_prompts("sad", "add", 20), steering_prompts("sad", "remove", 20)
    assert len(add) == len(remove) == 20 and not any("\n" in p for p in add + remove)
    assert not any(map(concepts.CONCEPTS["sad"].detect, add)) and all(map(concepts.CONCEPTS["sad"].detect, remove))
    assert steering_prompts("sad", "add", 5, "dev") != steering_prompts("sad", "add", 5, "test")
    assert steering_prompts("sad", "add", 5) == steering_prompts("sad", "add", 5)  # seeded
    positive, negative = actadd_pair("sea")
    assert concepts.CONCEPTS["sea"].detect(positive) and not concepts.CONCEPTS["sea"].detect(negative)


def test_bad_input():
    with pytest.raises(InputError, match="Unknown concept 'toxic'.*rude"):
        steering_prompts("toxic")
    with pytest.raises(InputError, match="goal"):
        steering_prompts("sea", goal="more")
    with pytest.raises(InputError, match="split"):
        concept_texts("sea", split="train")

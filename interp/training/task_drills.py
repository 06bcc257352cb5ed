"""Task drills: rows of colored-object scenes, multiple-choice items, IOI sentences and capitals in the corpus's own
training forms, loss on the answers only, mixed into training batches once the lookback drills have formed the
circuit the tasks need.

The lookback drills (``lookback_drills``) teach a model to attend to an earlier key and output the token before it,
on random tokens. The corpus alone never hooked that circuit up to colored objects: its scenes and questions are a
small share of the tokens, and its loss is spread over every token of a story. These rows are dense in the tasks'
answers, and the trainer can give those answers their own averaged loss term (``TrainConfig.task_drill_weight``).
A fine-tune of the studies model (750 steps of lookback drills, then 30% of rows these, weight 2) took colored
objects from 0.27 to 0.89 on held-out families within 300 steps (docs/circuit-formation.md, "Hooking the lookback
up").

Each scene asks about *one* of its objects: asking every object in turn lets a model score by elimination (never
repeating a colour already answered) without the lookup. Half the multiple-choice items name their answer in the
question ("Which option says green?"), so finding the letter is asked apart from recalling the fact. IOI sentences
and capitals can join them (``ioi_share``, ``capital_share``): the studies model's IOI on held-out families rose from
0.805 to 0.93 on a seed where the corpus alone left it short. Nothing here is a held-out phrasing: scenes,
questions, layouts, intros, actions and capital forms are those of ``splits`` that the corpus uses.

>>> make_rows = task_row_maker(tokenizer)
>>> rows, answers = make_rows(vocab, 6, 129, (0, step, micro, 2))   # [6, 129] each; vocab is not used
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from jaxtyping import Bool, Int
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.training.copy_drills import RowMaker

Segments = list[tuple[str, bool]]  # text pieces, each marked whether it is an answer (a token with a loss)


def color_segments(rng: random.Random, n_asked: int | None = 1) -> Segments:
    """A scene of 3-5 coloured objects in a training form, then ``n_asked`` of them (None: every one, in a random
    order) asked about in training question forms, each answer the asked object's colour."""
    k = rng.randint(3, 5)
    items, pairs = probes.color_scene(rng, k)
    name, other = rng.sample(lx.NAMES, 2)
    segments = [(" " + rng.choice(sp.COLOR_SCENES).format(items=items, Name=name), False)]
    for color, obj in rng.sample(pairs, n_asked or k):
        before, after = rng.choice(sp.TRAIN_COLOR_QUESTIONS).split("{color}")
        segments += [(" " + before.format(obj=obj, Name=name, Other=other).rstrip(), False), (" " + color, True),
                     (after.format(obj=obj, Name=name, Other=other), False)]
    return segments


def ioi_segments(rng: random.Random) -> Segments:
    """One IOI sentence in a training form (``probes.ioi_prompt``); the answer is the indirect object, the name of
    the two that the action's subject is not."""
    text, io = probes.ioi_prompt(rng)
    return [(" " + text, False), (" " + io, True), (".", False)]


# The capital forms that name the country before the capital (there the capital is recalled, not read), split into
# the few that ask for it and the many that state it.
_CAPITAL_RECALLS = [t for t in sp.TRAIN_CAPITAL_TEMPLATES if t.index("{country}") < t.index("{capital}")]
CAPITAL_QUESTIONS = tuple(t for t in _CAPITAL_RECALLS if "?" in t[:t.index("{capital}")])
CAPITAL_STATEMENTS = tuple(t for t in _CAPITAL_RECALLS if t not in CAPITAL_QUESTIONS)


def capital_segments(rng: random.Random) -> Segments:
    """One capital asked (half the pieces) or stated in a training form that names the country first; the answer is
    the capital."""
    country, cap = rng.choice(lx.COUNTRIES)
    name, other = rng.sample(lx.NAMES, 2)
    template = rng.choice(CAPITAL_QUESTIONS if rng.random() < 0.5 else CAPITAL_STATEMENTS)
    before, after = (part.format(country=country, Name=name, Other=other) for part in template.split("{capital}"))
    return [(" " + before.rstrip(), False), (" " + cap, True), (after, False)]


def mc_segments(rng: random.Random, lookup_share: float = 0.5) -> Segments:
    """One multiple-choice item in a training layout, ``lookup_share`` of them naming their answer; the answer is
    its letter."""
    question, letter = probes.multiple_choice(rng, layout=rng.choice(sp.TRAIN_MC_FORMATS),
                                              lookup=rng.random() < lookup_share)
    return [("\n" + question, False), (" " + letter, True), ("\n", False)]


def _piece(rng: random.Random, n_asked: int | None, mc_share: float, lookup_share: float, ioi_share: float,
           capital_share: float) -> Segments:
    """``ioi_share`` of the pieces IOI sentences, ``capital_share`` capitals; of the rest, ``mc_share`` items and the
    others scenes."""
    draw = rng.random()
    if draw < ioi_share:
        return ioi_segments(rng)
    if draw < ioi_share + capital_share:
        return capital_segments(rng)
    return color_segments(rng, n_asked) if rng.random() < 1 - mc_share else mc_segments(rng, lookup_share)


def task_row(rng: random.Random, tok: PreTrainedTokenizerBase, length: int, n_asked: int | None = 1,
             mc_share: float = 0.5, lookup_share: float = 0.5, ioi_share: float = 0.0, capital_share: float = 0.0
             ) -> tuple[list[int], list[bool]]:
    """One row: a BOS token, then IOI sentences and capitals (``ioi_share`` and ``capital_share`` of the pieces,
    together at most 1), and of the other pieces scenes (asking ``n_asked`` objects each) and items (``mc_share`` of
    them, ``lookup_share`` of the items naming their answer), until ``length`` tokens; the token ids and, per token,
    whether it is an answer."""
    ids, answer = [tok.bos_token_id], [False]
    while len(ids) < length:
        for text, is_answer in _piece(rng, n_asked, mc_share, lookup_share, ioi_share, capital_share):
            piece = tok.encode(text, add_special_tokens=False)
            ids += piece
            answer += [is_answer] * len(piece)
    return ids[:length], answer[:length]


def task_row_maker(tok: PreTrainedTokenizerBase, mc_share: float = 0.5, lookup_share: float = 0.5,
                   ioi_share: float = 0.0, capital_share: float = 0.0) -> RowMaker:
    """A ``copy_drills.RowMaker`` of task rows for ``tok`` (the run's tokenizer; ``task_row``'s shares): a function
    of its seed alone, so every process builds the same rows."""

    def make_rows(vocab: np.ndarray, n_rows: int, length: int, seed: Sequence[int]
                  ) -> tuple[Int[Tensor, "n_rows length"], Bool[Tensor, "n_rows length"]]:
        rng = random.Random(int(np.random.default_rng(list(seed)).integers(2**62)))
        rows = [task_row(rng, tok, length, mc_share=mc_share, lookup_share=lookup_share, ioi_share=ioi_share,
                         capital_share=capital_share) for _ in range(n_rows)]
        return (torch.tensor([ids for ids, _ in rows], dtype=torch.int64),
                torch.tensor([answer for _, answer in rows], dtype=torch.bool))

    return make_rows

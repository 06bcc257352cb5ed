"""Clean/corrupted prompt pairs for each analysed task, aligned token for token so positions can be patched.

Each builder returns ``PromptPairs``: the clean and corrupted tokens ``[batch, pos]`` (same template, so every
prompt has the same length and position ``p`` plays the same role in all of them), the metric patching
optimises, the answer/wrong tokens and position for direct logit attribution, and a label per position.

- ``ioi``: one held-out IOI template; corrupted = "ABC" (all three name slots replaced by other names), metric =
  logit(IO) - logit(S).
- ``induction``: BOS + random ordinary tokens twice; corrupted = the first copy replaced, metric = mean log-prob
  of the true next token over the second copy.
- ``facts``: "The capital city of France is" -> Paris; corrupted = another country, metric = logit(Paris) -
  logit(the other country's capital).

>>> pairs = build_pairs(model, "ioi", n=64)
>>> pairs.metric(model(pairs.clean))   # the clean logit difference
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.patching.metrics import Metric, logit_diff, next_token_logprob
from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.errors import InputError
from interp.models.tl import HookedTransformer


@dataclass
class PromptPairs:
    task: str
    clean: Int[Tensor, "batch pos"]
    corrupt: Int[Tensor, "batch pos"]
    metric: Metric
    metric_name: str
    answer: Int[Tensor, " batch"]  # for direct logit attribution at ``position``
    wrong: Int[Tensor, " batch"] | None
    position: int
    labels: list[str]  # one per position, e.g. "S2" or "the"
    description: str


def _single_token_words(model: HookedTransformer, words) -> list[str]:
    return [w for w in words if len(model.to_tokens(" " + w, prepend_bos=False)[0]) == 1]


def _aligned(model: HookedTransformer, prompts: list[str]) -> Tensor:
    """Tokens of prompts that must all have the same length (one template, single-token fillers)."""
    rows = [model.to_tokens(p)[0] for p in prompts]
    if len({len(r) for r in rows}) != 1:
        raise InputError("The prompts of one analysis must tokenize to the same length; a filler word is split "
                         "into several tokens by this tokenizer. Use single-token names/objects.")
    return torch.stack(rows)


def _labels(model: HookedTransformer, tokens: Tensor, roles: dict[int, str]) -> list[str]:
    return [roles.get(i, s) for i, s in enumerate(model.to_str_tokens(tokens))]


def ioi_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """IOI on one held-out template, half ABBA and half BABA (names labelled by slot: name1, name2, S2, end)."""
    from interp.tasks.ioi import EVAL_TEMPLATES

    rng = random.Random(seed)
    names = _single_token_words(model, lx.NAMES)
    objects = _single_token_words(model, [o for o in lx.OBJECTS if lx.with_article(o).startswith("a ")])
    places = _single_token_words(model, lx.PLACES)
    days = _single_token_words(model, lx.DAYS) or [lx.DAYS[0]]  # one fixed day keeps the prompts aligned
    if len(names) < 5 or not objects or not places:
        raise InputError("IOI pairs need at least 5 names (and an object and a place) that are single tokens "
                         "under this model's tokenizer.")
    intro, action = EVAL_TEMPLATES[rng.randrange(len(EVAL_TEMPLATES))]
    template = f"{intro} {action}"
    clean, corrupt, io_ids, s_ids = [], [], [], []
    for i in range(n):
        io, s, c1, c2, c3 = rng.sample(names, 5)
        a, b = (io, s) if i % 2 == 0 else (s, io)
        obj = rng.choice(objects)
        common = dict(place=rng.choice(places), obj=obj, a_obj=lx.with_article(obj), day=rng.choice(days))
        clean.append(template.format(A=a, B=b, S=s, **common))
        corrupt.append(template.format(A=c1, B=c2, S=c3, **common))
        io_ids.append(model.to_single_token(" " + io))
        s_ids.append(model.to_single_token(" " + s))
    clean_t, corrupt_t = _aligned(model, clean), _aligned(model, corrupt)
    io_t, s_t = torch.tensor(io_ids), torch.tensor(s_ids)
    first = clean_t[0]
    name_pos = [p for p in range(len(first)) if int(first[p]) in (int(io_t[0]), int(s_t[0]))]
    roles = {name_pos[0]: "name1", name_pos[1]: "name2", name_pos[2]: "S2", len(first) - 1: "end"}
    return PromptPairs("ioi", clean_t, corrupt_t, logit_diff(io_t, s_t), "logit diff IO - S", io_t, s_t, -1,
                       _labels(model, first, roles), f"template {template!r}; corrupted: three other names (ABC)")


def induction_pairs(model: HookedTransformer, n: int = 32, seed: int = 0, half: int | None = None) -> PromptPairs:
    """Random ordinary tokens repeated twice; the corrupted first copy makes the second unpredictable."""
    from interp.tasks.induction import repeated_tokens

    half = half or min(20, (model.cfg.n_ctx - 1) // 2)
    clean = repeated_tokens(model, n, half, seed)
    other = repeated_tokens(model, n, half, seed + 1)
    corrupt = torch.cat([clean[:, :1], other[:, 1 : half + 1], clean[:, half + 1 :]], dim=1)
    labels = ["BOS"] + [f"A{i}" for i in range(half)] + [f"B{i}" for i in range(half)]
    return PromptPairs("induction", clean, corrupt, next_token_logprob(clean, half + 1),
                       "mean log-prob of the next token over the repeat", clean[:, -1], None, clean.shape[1] - 2,
                       labels, f"BOS + {half} random ordinary tokens, twice; corrupted: another first copy")


def facts_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """'Did you know? The capital city of {country} is' -> capital, against another country's capital.

    Countries are taken from the largest group whose names have the same token length (so prompts align), and
    the logit difference uses each capital's first token."""
    rng = random.Random(seed)
    template = next(t for t in sp.EVAL_CAPITAL_TEMPLATES if "{Name}" not in t)
    first_token = {c: model.to_tokens(" " + k, prepend_bos=False)[0, 0].item() for c, k in lx.COUNTRIES}
    by_length: dict[int, list[str]] = {}
    for country, _ in lx.COUNTRIES:
        by_length.setdefault(len(model.to_tokens(template.format(country=country))[0]), []).append(country)
    countries = max(by_length.values(), key=len)
    if len({first_token[c] for c in countries}) < 2:
        raise InputError("Facts pairs need two countries of equal token length whose capitals start with different "
                         "tokens under this tokenizer.")
    clean, corrupt, answer, wrong = [], [], [], []
    while len(clean) < n:
        c, d = rng.sample(countries, 2)
        if first_token[c] == first_token[d]:
            continue
        clean.append(template.format(country=c))
        corrupt.append(template.format(country=d))
        answer.append(first_token[c])
        wrong.append(first_token[d])
    clean_t, corrupt_t = _aligned(model, clean), _aligned(model, corrupt)
    first = clean_t[0]
    differs = (clean_t != corrupt_t).any(0).nonzero().flatten().tolist()
    roles = {p: "country" for p in differs} | {len(first) - 1: "end"}
    a, w = torch.tensor(answer), torch.tensor(wrong)
    return PromptPairs("facts", clean_t, corrupt_t, logit_diff(a, w), "logit diff capital - other capital", a, w,
                       -1, _labels(model, first, roles), f"template {template!r}; corrupted: another country")


BUILDERS: dict[str, Callable[..., PromptPairs]] = {"ioi": ioi_pairs, "induction": induction_pairs,
                                                   "facts": facts_pairs}


def build_pairs(model: HookedTransformer, task: str, n: int = 64, seed: int = 0) -> PromptPairs:
    if task not in BUILDERS:
        raise InputError(f"Unknown task {task!r}; choose one of {sorted(BUILDERS)}.")
    if model.tokenizer is None and task != "induction":
        raise InputError(f"The {task!r} task needs a model with a tokenizer (only 'induction' works without one).")
    return BUILDERS[task](model, n=n, seed=seed)

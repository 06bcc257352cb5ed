"""Clean/corrupted prompt pairs per task, aligned token for token so positions and edges can be patched.

The one home of task pairs, shared by ``interp analyze``, ``circuits/`` and the benchmarks. Each builder returns
``PromptPairs``: the clean and corrupted tokens ``[batch, pos]`` (one template with fillers of equal token length,
so every prompt has the same length and position ``p`` plays the same role in all of them), the metric patching
optimises (logits ``[batch, pos, vocab]`` -> a 0-d tensor), the answer/wrong tokens and position for direct logit
attribution, and a label per position.

- ``ioi``: one held-out IOI template; corrupted = "ABC" (all three name slots replaced by other names), metric =
  logit(IO) - logit(S).
- ``induction``: BOS + random ordinary tokens twice; corrupted = the first copy replaced, metric = mean log-prob
  of the true next token over the second copy.
- ``capitals``: "Did you know? The capital city of France is" -> Paris; corrupted = another country, metric =
  logit(Paris) - logit(the other country's capital).
- ``greater_than``: "... from 1732 to 17"; corrupted = "... from 1701 to 17" (Hanna et al. 2023), metric =
  probability on the years after 32 minus on the years up to 32 at the last position.
- ``colored_objects``: a scene of three coloured objects, then "Which color does the cup have? It is"; corrupted
  = the question asks about another object of the scene, metric = logit(cup's colour) - logit(that one's colour).
- ``multiple_choice``: "Question: Which city is the capital of France?" with three lettered capitals; corrupted =
  the country of another option, metric = logit(right letter) - logit(the corrupted prompt's letter).

>>> pairs = build_pairs(model, "ioi", n=64)
>>> check_pairs(model, pairs)              # aligned, and the metric gives one number
>>> pairs.metric(model(pairs.clean))       # the clean logit difference
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.analysis.patching.metrics import Metric, logit_diff, next_token_logprob, scalar
from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.tasks.greater_than import STARTS, YEARS
from interp.tasks.induction import repeated_tokens
from interp.tasks.ioi import EVAL_TEMPLATES as IOI_TEMPLATES
from interp.tasks.scoring import first_token_id


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


# ---- helpers -------------------------------------------------------------------------------------------------

def _n_tokens(model: HookedTransformer, texts: Sequence[str]) -> list[int]:
    """Token count of each text (without BOS) under the model's tokenizer."""
    return [len(ids) for ids in model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def single_token_words(model: HookedTransformer, words: Sequence[str]) -> list[str]:
    """The ``words`` that are one token with a leading space under the model's tokenizer."""
    return [w for w, k in zip(words, _n_tokens(model, [" " + w for w in words]), strict=True) if k == 1]


def _equal_length_words(model: HookedTransformer, words: Sequence[str], at_least: int) -> list[str]:
    """The single-token words (with a leading space) if there are ``at_least`` of them, else the largest group of
    words with the same token count: fillers that keep one template's prompts aligned."""
    groups: dict[int, list[str]] = {}
    for w, k in zip(words, _n_tokens(model, [" " + w for w in words]), strict=True):
        groups.setdefault(k, []).append(w)
    return groups[1] if len(groups.get(1, [])) >= at_least else max(groups.values(), key=len)


def tokenize_pairs(model: HookedTransformer, clean: Sequence[str], corrupt: Sequence[str],
                   ) -> tuple[Int[Tensor, "batch pos"], Int[Tensor, "batch pos"]]:
    """Clean and corrupted prompts as tokens (BOS first), or an ``InputError`` naming the first prompt whose
    corrupted version, or whose clean version against prompt 0, tokenizes to another length.

    >>> clean, corrupt = tokenize_pairs(model, ["The capital of France is"], ["The capital of Spain is"])
    """
    if len(clean) != len(corrupt) or not clean:
        raise InputError(f"Prompt pairs need as many corrupted prompts as clean ones (at least one); got "
                         f"{len(clean)} clean and {len(corrupt)} corrupted. Build them in pairs.")
    rows = [model.to_tokens(p)[0] for p in clean]
    bad_rows = [model.to_tokens(p)[0] for p in corrupt]
    for i, (a, b) in enumerate(zip(rows, bad_rows, strict=True)):
        if len(a) != len(b):
            raise InputError(f"Prompt pair {i} is not token-aligned: the clean prompt {clean[i]!r} is {len(a)} "
                             f"tokens long, the corrupted {corrupt[i]!r} {len(b)}. Fill one template with words of "
                             "equal token length (single-token names, objects, years) in both prompts.")
        if len(a) != len(rows[0]):
            raise InputError(f"Prompt {i} is {len(a)} tokens long but prompt 0 is {len(rows[0])}: the prompts of one "
                             "set of pairs must all have one length, so each position plays one role. Fill one "
                             "template with words of equal token length.")
    return torch.stack(rows), torch.stack(bad_rows)


def _keep_aligned(model: HookedTransformer, task: str, candidates: list[tuple], n: int) -> list[tuple]:
    """The first ``n`` candidates ``(clean, corrupt, ...)`` whose clean and corrupted prompts both have the most
    common clean token length."""
    clean_len = _n_tokens(model, [c[0] for c in candidates])
    corrupt_len = _n_tokens(model, [c[1] for c in candidates])
    target = Counter(a for a, b in zip(clean_len, corrupt_len, strict=True) if a == b).most_common(1)
    kept = [c for c, a, b in zip(candidates, clean_len, corrupt_len, strict=True) if target and a == b == target[0][0]]
    if len(kept) < n:
        raise InputError(f"Only {len(kept)} of {len(candidates)} {task} prompt pairs tokenize to one length under "
                         f"this tokenizer; {n} were asked for. Ask for fewer (n / --n-prompts) or use a tokenizer "
                         "that keeps the task's words whole.")
    return kept[:n]


def _labels(model: HookedTransformer, tokens: Tensor, roles: dict[int, str]) -> list[str]:
    return [roles.get(i, s) for i, s in enumerate(model.to_str_tokens(tokens))]


def _differing_roles(clean: Tensor, corrupt: Tensor, role: str) -> dict[int, str]:
    """``role`` at every position where some clean prompt differs from its corrupted one, "end" at the last."""
    differs = (clean != corrupt).any(0).nonzero().flatten().tolist()
    return {p: role for p in differs} | {clean.shape[1] - 1: "end"}


def _choice_pairs(model: HookedTransformer, task: str, candidates: list[tuple[str, str, str, str]], n: int,
                  role: str, metric_name: str, description: str) -> PromptPairs:
    """Pairs from ``(clean, corrupt, answer, corrupted answer)`` strings; metric = logit diff of their first tokens."""
    kept = _keep_aligned(model, task, candidates, n)
    clean_t, corrupt_t = tokenize_pairs(model, [c[0] for c in kept], [c[1] for c in kept])
    a = torch.tensor([first_token_id(model, c[2]) for c in kept])
    w = torch.tensor([first_token_id(model, c[3]) for c in kept])
    return PromptPairs(task, clean_t, corrupt_t, logit_diff(a, w), metric_name, a, w, -1,
                       _labels(model, clean_t[0], _differing_roles(clean_t, corrupt_t, role)), description)


def prob_mass_diff(ids: Int[Tensor, " cand"], later: Bool[Tensor, "batch cand"], position: int = -1) -> Metric:
    """Mean over prompts of the probability on the candidate tokens marked ``later`` minus on the others.

    >>> metric = prob_mass_diff(year_ids, year_ids_range[None] > start_yy[:, None])
    """
    def metric(logits: Tensor) -> Tensor:
        probs = logits[:, position].float().softmax(-1)[:, ids.to(logits.device)]
        mask = later.to(logits.device)
        return ((probs * mask).sum(-1) - (probs * ~mask).sum(-1)).mean()

    return metric


# ---- builders --------------------------------------------------------------------------------------------------

def ioi_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """IOI on one held-out template, half ABBA and half BABA (names labelled by slot: name1, name2, S2, end)."""
    rng = random.Random(seed)
    names = single_token_words(model, lx.NAMES)
    objects = single_token_words(model, [o for o in lx.OBJECTS if lx.with_article(o).startswith("a ")])
    places = single_token_words(model, lx.PLACES)
    days = single_token_words(model, lx.DAYS) or [lx.DAYS[0]]  # one fixed day keeps the prompts aligned
    if len(names) < 5 or not objects or not places:
        raise InputError("IOI pairs need at least 5 names (and an object and a place) that are single tokens "
                         "under this model's tokenizer.")
    intro, action = IOI_TEMPLATES[rng.randrange(len(IOI_TEMPLATES))]
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
    clean_t, corrupt_t = tokenize_pairs(model, clean, corrupt)
    io_t, s_t = torch.tensor(io_ids), torch.tensor(s_ids)
    first = clean_t[0]
    name_pos = [p for p in range(len(first)) if int(first[p]) in (int(io_t[0]), int(s_t[0]))]
    roles = {name_pos[0]: "name1", name_pos[1]: "name2", name_pos[2]: "S2", len(first) - 1: "end"}
    return PromptPairs("ioi", clean_t, corrupt_t, logit_diff(io_t, s_t), "logit diff IO - S", io_t, s_t, -1,
                       _labels(model, first, roles), f"template {template!r}; corrupted: three other names (ABC)")


def induction_pairs(model: HookedTransformer, n: int = 32, seed: int = 0, half: int | None = None) -> PromptPairs:
    """Random ordinary tokens repeated twice; the corrupted first copy makes the second unpredictable."""
    half = half or min(20, (model.cfg.n_ctx - 1) // 2)
    clean = repeated_tokens(model, n, half, seed)
    other = repeated_tokens(model, n, half, seed + 1)
    corrupt = torch.cat([clean[:, :1], other[:, 1 : half + 1], clean[:, half + 1 :]], dim=1)
    labels = ["BOS"] + [f"A{i}" for i in range(half)] + [f"B{i}" for i in range(half)]
    return PromptPairs("induction", clean, corrupt, next_token_logprob(clean, half + 1),
                       "mean log-prob of the next token over the repeat", clean[:, -1], None, clean.shape[1] - 2,
                       labels, f"BOS + {half} random ordinary tokens, twice; corrupted: another first copy")


def capitals_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """'Did you know? The capital city of {country} is' -> capital, against another country's capital.

    Countries are taken from the largest group whose names have the same token length (so prompts align), and
    the logit difference uses each capital's first token."""
    rng = random.Random(seed)
    template = next(t for t in sp.EVAL_CAPITAL_TEMPLATES if "{Name}" not in t)
    first_token = {c: first_token_id(model, " " + k) for c, k in lx.COUNTRIES}
    by_length: dict[int, list[str]] = {}
    for country, _ in lx.COUNTRIES:
        by_length.setdefault(len(model.to_tokens(template.format(country=country))[0]), []).append(country)
    countries = max(by_length.values(), key=len)
    if len({first_token[c] for c in countries}) < 2:
        raise InputError("Capitals pairs need two countries of equal token length whose capitals start with "
                         "different tokens under this tokenizer.")
    candidates = []
    while len(candidates) < n:
        c, d = rng.sample(countries, 2)
        if first_token[c] != first_token[d]:
            candidates.append((template.format(country=c), template.format(country=d),
                               " " + lx.CAPITAL_OF[c], " " + lx.CAPITAL_OF[d]))
    return _choice_pairs(model, "capitals", candidates, n, "country", "logit diff capital - other capital",
                         f"template {template!r}; corrupted: another country")


def greater_than_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """'The big festival went on from 1732 to 17' against '... from 1701 to 17' (Hanna et al. 2023).

    Metric: probability on the two-digit years after the start year YY minus on the years up to YY, at the last
    position. Where the tokenizer splits years into digits the next token is the decade, so YY ends in 9 and the
    decade probabilities are exactly the years' ones. (Hanna et al.'s probability difference counts YY itself as
    "not later"; ``score_greater_than`` leaves it out of both sides.)"""
    rng = random.Random(seed)
    template = next(t for t in sp.EVAL_YEAR_TEMPLATES if "{Name}" not in t)
    if all(k == 1 for k in _n_tokens(model, YEARS)):
        ids, starts, unit = [first_token_id(model, y) for y in YEARS], list(STARTS), 1  # one token per year
    elif all(k == 1 for k in _n_tokens(model, [str(d) for d in range(10)])):
        ids, starts, unit = [first_token_id(model, str(d)) for d in range(10)], list(range(19, 99, 10)), 10
    else:
        raise InputError("Greater-than pairs need the two-digit years 00-99, or the digits 0-9, as single tokens "
                         "under this tokenizer; use a GPT-2-style or digit-split tokenizer.")
    candidates = []
    for _ in range(max(4 * n, 64)):
        century, yy = rng.randint(11, 19), rng.choice(starts)
        candidates.append((template.format(start=f"{century}{yy:02d}", century=century),
                           template.format(start=f"{century}01", century=century), yy))
    kept = _keep_aligned(model, "greater_than", candidates, n)
    clean_t, corrupt_t = tokenize_pairs(model, [c[0] for c in kept], [c[1] for c in kept])
    start = torch.tensor([c[2] // unit for c in kept])  # the start year's index among the candidate tokens
    later = torch.arange(len(ids))[None] > start[:, None]
    ids_t = torch.tensor(ids)
    return PromptPairs("greater_than", clean_t, corrupt_t, prob_mass_diff(ids_t, later),
                       "P(year > YY) - P(year <= YY)", ids_t[start + 1], ids_t[start], -1,
                       _labels(model, clean_t[0], _differing_roles(clean_t, corrupt_t, "YY")),
                       f"template {template!r}, start year {{century}}YY; corrupted: YY = 01")


def colored_objects_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """A scene of three coloured objects, then 'Which color does the {obj} have? It is'; the corrupted question
    asks about another object of the same scene (so its answer is another colour)."""
    rng = random.Random(seed)
    scene, question = sp.COLOR_SCENES[0], sp.EVAL_COLOR_QUESTIONS[0]
    objects = _equal_length_words(model, probes.SCENE_OBJECTS, 3)
    colors = _equal_length_words(model, lx.COLORS, 3)
    if len(objects) < 3 or len(colors) < 3:
        raise InputError("Colored-objects pairs need 3 objects and 3 colours of equal token length under this "
                         "tokenizer; use a tokenizer that keeps the corpus words whole.")
    candidates = []
    for _ in range(max(4 * n, 64)):
        items, colored = probes.color_scene(rng, objects=objects, colors=colors)  # the scorer's scenes
        text = scene.format(items=items)
        (color, obj), (other_color, other_obj) = rng.sample(colored, 2)
        if first_token_id(model, " " + color) != first_token_id(model, " " + other_color):
            candidates.append((f"{text} {question.format(obj=obj)}", f"{text} {question.format(obj=other_obj)}",
                               " " + color, " " + other_color))
    return _choice_pairs(model, "colored_objects", candidates, n, "obj", "logit diff colour - other object's colour",
                         f"scene {scene!r}, question {question!r}; corrupted: another object of the scene")


def multiple_choice_pairs(model: HookedTransformer, n: int = 64, seed: int = 0) -> PromptPairs:
    """'Question: Which city is the capital of {country}?' with three lettered capitals, answered by a letter; the
    corrupted prompt asks about the country of another option (so another letter is right)."""
    rng = random.Random(seed)
    question = sp.EVAL_MC_QUESTIONS["capital"]
    frame, option, sep = sp.TRAIN_MC_FORMAT
    lengths = zip(_n_tokens(model, [" " + c for c, _ in lx.COUNTRIES]),
                  _n_tokens(model, [" " + k for _, k in lx.COUNTRIES]), strict=True)
    groups: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for pair, key in zip(lx.COUNTRIES, lengths, strict=True):
        groups.setdefault(key, []).append(pair)
    group = groups[(1, 1)] if len(groups.get((1, 1), [])) >= 3 else max(groups.values(), key=len)
    letters = [" " + x for x in sp.MC_LETTERS]
    if len(group) < 3 or len({first_token_id(model, x) for x in letters}) < len(letters):
        raise InputError("Multiple-choice pairs need 3 countries (and 3 capitals) of equal token length and "
                         f"distinct tokens for the letters {sp.MC_LETTERS} under this tokenizer.")
    candidates = []
    for _ in range(max(4 * n, 64)):
        options = rng.sample(group, 3)
        listed = sep.join(option.format(letter=sp.MC_LETTERS[i], option=cap) for i, (_, cap) in enumerate(options))
        k, j = rng.sample(range(3), 2)
        candidates.append((frame.format(question=question.format(subject=options[k][0]), options=listed),
                           frame.format(question=question.format(subject=options[j][0]), options=listed),
                           letters[k], letters[j]))
    return _choice_pairs(model, "multiple_choice", candidates, n, "country", "logit diff letter - other letter",
                         f"question {question!r}, three lettered capitals; corrupted: another option's country")


RENAMED_TASKS = {"facts": "capitals"}  # former names -> current ones (``interp analyze`` still accepts them)
PAIR_BUILDERS: dict[str, Callable[..., PromptPairs]] = {
    "ioi": ioi_pairs, "induction": induction_pairs, "capitals": capitals_pairs, "greater_than": greater_than_pairs,
    "colored_objects": colored_objects_pairs, "multiple_choice": multiple_choice_pairs,
}


def build_pairs(model: HookedTransformer, task: str, n: int = 64, seed: int = 0) -> PromptPairs:
    """The clean/corrupted pairs of ``task`` (a name in ``PAIR_BUILDERS``), ``n`` of them, seeded.

    >>> pairs = build_pairs(model, "greater_than", n=32, seed=1)
    """
    if task in RENAMED_TASKS:
        raise InputError(f"The task {task!r} is now called {RENAMED_TASKS[task]!r}; ask for that name.")
    if task not in PAIR_BUILDERS:
        raise InputError(f"Unknown task {task!r}; choose one of {', '.join(PAIR_BUILDERS)}.")
    if model.tokenizer is None and task != "induction":
        raise InputError(f"The {task!r} task needs a model with a tokenizer (only 'induction' works without one).")
    return PAIR_BUILDERS[task](model, n=n, seed=seed)


@torch.no_grad()
def check_pairs(model: HookedTransformer, pairs: PromptPairs) -> None:
    """Raise ``InputError`` unless the clean and corrupted tokens have one shape and the metric, on the model's
    clean logits, gives one number (a 0-d tensor).

    >>> check_pairs(model, build_pairs(model, "ioi"))
    """
    clean, corrupt = pairs.clean, pairs.corrupt
    if clean.shape != corrupt.shape:
        if clean.dim() == corrupt.dim() == 2 and len(clean) != len(corrupt):
            what = f"{len(clean)} clean prompts but {len(corrupt)} corrupted ones"
        elif clean.dim() == corrupt.dim() == 2:
            what = f"clean prompts are {clean.shape[1]} tokens long but corrupted ones {corrupt.shape[1]}"
        else:
            what = f"clean tokens {tuple(clean.shape)}, corrupted {tuple(corrupt.shape)}"
        raise InputError(f"The {pairs.task!r} prompt pairs are not token-aligned: {what}. Build each pair from one "
                         "template with single-token fillers, so clean and corrupted prompts have the same "
                         "[batch, pos] shape.")
    if clean.dim() != 2:
        raise InputError(f"The {pairs.task!r} pairs' tokens have shape {tuple(clean.shape)}; give them as [batch, pos] "
                         "(one row per prompt, e.g. model.to_tokens(prompts)).")
    batch, n_pos = clean.shape
    if len(pairs.labels) != n_pos:
        raise InputError(f"The {pairs.task!r} pairs have {len(pairs.labels)} position labels for {n_pos} positions; "
                         "give one label per position (e.g. the clean prompt's string tokens).")
    for name, ids in (("answer", pairs.answer), ("wrong", pairs.wrong)):
        if ids is not None and tuple(ids.shape) != (batch,):
            raise InputError(f"The {pairs.task!r} pairs' {name} tokens have shape {tuple(ids.shape)}, expected "
                             f"({batch},): one token id per prompt.")
    value = pairs.metric(model(clean.to(model.cfg.device)))
    scalar(value, where=f"metric of the {pairs.task!r} pairs ({pairs.metric_name}) on the clean logits")

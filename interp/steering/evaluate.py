"""Scoring steering: sampled continuations under each method and strength, the concept's rate in them (a
detector), their fluency (mean per-token loss under the unsteered model), an AxBench-style harmonic mean, and the
steerability slope (steering-bench: concept rate against strength).

>>> frame = sweep(model, {"diffmean": Steering([Add(hook, d)])}, [0, 2, 4], prompts, detector=lambda t: "sea" in t)
>>> frame.groupby("method").apply(steerability)
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.steering.steering import Steering

Detector = Callable[[str], bool]


@torch.no_grad()
def generate(model: HookedTransformer, prompts: Sequence[str], steering: Steering | None = None,
             max_new_tokens: int = 32, temperature: float = 1.0, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """``(prompt tokens, new tokens)`` per prompt, sampled with ``steering`` applied. Prompts of one token length
    are generated as one batch (no padding, so ``from:N`` positions mean the same in every row); each row stops
    at the end-of-text token (the tokens after it are dropped)."""
    groups: dict[int, list[int]] = defaultdict(list)
    encoded = [model.to_tokens(p)[0] for p in prompts]
    for i, toks in enumerate(encoded):
        groups[len(toks)].append(i)
    out: list[tuple[Tensor, Tensor] | None] = [None] * len(prompts)
    eos = model.tokenizer.eos_token_id if model.tokenizer is not None else None
    for length, rows in sorted(groups.items()):
        batch = torch.stack([encoded[i] for i in rows])
        torch.manual_seed(seed + length)
        with steering.applied(model) if steering is not None else contextlib.nullcontext():
            full = model.generate(batch, max_new_tokens=max_new_tokens, temperature=temperature, verbose=False,
                                  stop_at_eos=eos is not None, eos_token_id=eos)
        for j, i in enumerate(rows):
            new = full[j, length:]
            if eos is not None and (new == eos).any():
                new = new[: int((new == eos).nonzero()[0])]
            out[i] = (batch[j], new)
    return out  # type: ignore[return-value]


@torch.no_grad()
def continuation_loss(model: HookedTransformer, pairs: Sequence[tuple[Tensor, Tensor]]) -> float:
    """Mean per-token loss of the new tokens given their prompts under ``model`` (the unsteered one: fluency)."""
    total, count = 0.0, 0
    for prompt, new in pairs:
        if len(new) == 0:
            continue
        seq = torch.cat([prompt, new])[: model.cfg.n_ctx][None]
        logp = model(seq)[0, :-1].log_softmax(-1)
        targets = seq[0, 1:]
        per_token = -logp[torch.arange(len(targets)), targets][len(prompt) - 1 :]
        total += float(per_token.sum())
        count += len(per_token)
    return total / count if count else float("nan")


def fluency_score(cost: float) -> float:
    """A fluency score in (0, 1] from a fluency cost in nats per token (1 for no cost): exp(-max(cost, 0))."""
    return math.exp(-max(cost, 0.0)) if math.isfinite(cost) else 0.0


def harmonic_mean(concept: float, fluency: float) -> float:
    """AxBench's aggregate: the harmonic mean of a concept score and a fluency score (0 when either is 0)."""
    return 2 * concept * fluency / (concept + fluency) if concept > 0 and fluency > 0 else 0.0


def steerability(frame: pd.DataFrame) -> float:
    """The least-squares slope of concept rate against strength (steering-bench's steerability)."""
    x, y = frame["strength"].to_numpy(float), frame["concept_rate"].to_numpy(float)
    if len(x) < 2 or x.std() == 0:
        return float("nan")
    return float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())


def sweep(model: HookedTransformer, methods: Mapping[str, Steering], strengths: Sequence[float],
          prompts: Sequence[str], detector: Detector, goal: str = "add", max_new_tokens: int = 32,
          seed: int = 0) -> pd.DataFrame:
    """Every method at every strength (its steering ``scaled`` by the strength) on ``prompts``: one row each with
    ``concept_rate`` (share of continuations the detector flags), ``fluency_cost`` (their mean per-token loss
    under the unsteered model minus the unsteered continuations'), the concept score for ``goal`` (``add``: the
    rate; ``remove``: the rate's reduction against the unsteered one, 0..1), the fluency score and their
    harmonic mean. Samples are the same random draws for every row (seeded), so rows differ by steering only."""
    if goal not in ("add", "remove"):
        raise InputError(f"goal={goal!r}: use 'add' (make the concept appear) or 'remove' (suppress it).")
    if not strengths:
        raise InputError("No strengths to try: give at least one (e.g. 0 2 4 8).")
    if not methods:
        raise InputError("No steering methods to compare.")
    tok = model.tokenizer

    def run(steering: Steering | None) -> tuple[float, float, list[str]]:
        pairs = generate(model, prompts, steering, max_new_tokens, seed=seed)
        texts = [tok.decode(new) for _, new in pairs]
        return sum(map(detector, texts)) / len(texts), continuation_loss(model, pairs), texts

    base_rate, base_loss, base_texts = run(None)
    rows = []
    for name, steering in methods.items():
        for strength in strengths:
            rate, loss, texts = (base_rate, base_loss, base_texts) if strength == 0 else run(steering.scaled(strength))
            concept = rate if goal == "add" else (1 - rate / base_rate if base_rate > 0 else 0.0)
            fluency = fluency_score(loss - base_loss)
            rows.append({"method": name, "strength": float(strength), "concept_rate": rate,
                         "fluency_cost": loss - base_loss, "concept_score": max(concept, 0.0),
                         "fluency_score": fluency, "harmonic": harmonic_mean(max(concept, 0.0), fluency),
                         "sample": texts[0] if texts else ""})
    return pd.DataFrame(rows)


def best_strengths(dev: pd.DataFrame) -> dict[str, float]:
    """Per method, the strength with the highest harmonic mean on the dev split (ties: the weaker strength)."""
    best = dev.sort_values(["method", "harmonic", "strength"], ascending=[True, False, True])
    return {m: float(g.iloc[0]["strength"]) for m, g in best.groupby("method", sort=False)}

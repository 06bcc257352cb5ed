"""Scoring steering: sampled continuations under each method and strength, the concept's rate in them (a
detector), their fluency (mean per-token loss under the unsteered model), an AxBench-style harmonic mean, and the
steerability slope (steering-bench: concept rate against strength).

>>> frame = sweep(model, {"diffmean": Steering([Add(hook, d)])}, [0, 2, 4], prompts, detector=lambda t: "sea" in t)
>>> frame.groupby("method").apply(steerability)

The whole harness over a corpus concept (dev split for the strength, test split to report, results.json and
report.html) is ``interp.steering.harness.run_steering`` (``interp steer``).
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.steering.steering import Steering

Detector = Callable[[str], bool]


def _fit(tokens: Tensor, limit: int) -> Tensor:
    """A prompt cut to ``limit`` tokens: its first (BOS) and its last ``limit - 1``."""
    return tokens if len(tokens) <= limit else torch.cat([tokens[:1], tokens[-(limit - 1):]])


@torch.no_grad()
def generate(model: HookedTransformer, prompts: Sequence[str], steering: Steering | None = None,
             max_new_tokens: int = 32, temperature: float = 1.0, seed: int = 0,
             batch_size: int = 64) -> list[tuple[Tensor, Tensor]]:
    """``(prompt tokens, new tokens)`` per prompt, sampled with ``steering`` applied; a prompt too long for the
    context keeps its BOS and its last tokens. Prompts are generated ``batch_size`` at a time, left-padded
    (TransformerLens masks the padding and offsets positions: greedy continuations equal one-prompt ones); when
    an intervention edits ``from:N`` positions, which padding would shift, prompts of one token length form a
    batch instead. Each row stops at the end-of-text token (the tokens after it are dropped)."""
    limit = model.cfg.n_ctx - max_new_tokens
    if limit < 2:
        raise InputError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
                         f"{model.cfg.n_ctx}-token context: use fewer new tokens.")
    encoded = [_fit(model.to_tokens(p)[0], limit) for p in prompts]
    eos = model.tokenizer.eos_token_id if model.tokenizer is not None else None
    pad = model.tokenizer.pad_token_id if model.tokenizer is not None else None
    absolute = steering is not None and any(i.positions.startswith("from:") for i in steering.interventions)
    if absolute or pad is None:
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, toks in enumerate(encoded):
            by_length[len(toks)].append(i)
        groups = [rows[k : k + batch_size] for _, rows in sorted(by_length.items())
                  for k in range(0, len(rows), batch_size)]
    else:
        groups = [list(range(k, min(k + batch_size, len(encoded)))) for k in range(0, len(encoded), batch_size)]
    out: list[tuple[Tensor, Tensor] | None] = [None] * len(prompts)
    for g, rows in enumerate(groups):
        width = max(len(encoded[i]) for i in rows)
        batch = torch.stack([torch.cat([torch.full((width - len(encoded[i]),), pad or 0), encoded[i]]) for i in rows])
        torch.manual_seed(seed + g)
        with steering.applied(model) if steering is not None else contextlib.nullcontext():
            full = model.generate(batch, max_new_tokens=max_new_tokens, temperature=temperature, verbose=False,
                                  stop_at_eos=eos is not None, eos_token_id=eos, padding_side="left")
        for j, i in enumerate(rows):
            new = full[j, width:]
            if eos is not None and (new == eos).any():
                new = new[: int((new == eos).nonzero()[0])]
            out[i] = (encoded[i], new)
    return out  # type: ignore[return-value]


@torch.no_grad()
def continuation_loss(model: HookedTransformer, pairs: Sequence[tuple[Tensor, Tensor]], batch_size: int = 64) -> float:
    """Mean per-token loss of the new tokens given their prompts under ``model`` (the unsteered one: fluency);
    ``batch_size`` sequences per forward pass, left-padded."""
    seqs = [(torch.cat([p, n]), len(p)) for p, n in pairs if len(n)]
    pad = model.tokenizer.pad_token_id if model.tokenizer is not None and model.tokenizer.pad_token_id is not None else 0
    total, count = 0.0, 0
    for k in range(0, len(seqs), batch_size):
        chunk = seqs[k : k + batch_size]
        width = max(len(seq) for seq, _ in chunk)
        batch = torch.stack([torch.cat([torch.full((width - len(seq),), pad), seq]) for seq, _ in chunk])
        logp = model(batch.to(model.cfg.device), padding_side="left").log_softmax(-1).cpu()
        for row, (seq, n_prompt) in enumerate(chunk):
            start = width - len(seq) + n_prompt  # first new token, in padded coordinates
            targets = batch[row, start:]
            total -= float(logp[row, start - 1 : width - 1].gather(-1, targets[:, None]).sum())
            count += len(targets)
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


@torch.no_grad()
def steered_loss(model: HookedTransformer, tokens: Tensor, steering: Steering | None = None) -> float:
    """The language-model loss of ``model`` on ``tokens`` ([windows, pos]) with ``steering`` applied."""
    with steering.applied(model) if steering is not None else contextlib.nullcontext():
        return float(model(tokens.to(model.cfg.device), return_type="loss"))


def sweep(model: HookedTransformer, methods: Mapping[str, Steering],
          strengths: Sequence[float] | Mapping[str, Sequence[float]], prompts: Sequence[str], detector: Detector,
          goal: str = "add", max_new_tokens: int = 32, seed: int = 0, temperature: float = 1.0,
          val_tokens: Tensor | None = None, n_samples: int = 3, progress: bool = False) -> pd.DataFrame:
    """Every method at every strength (its steering ``scaled`` by the strength; ``strengths`` may differ per
    method) on ``prompts``: one row each with ``concept_rate`` (share of continuations the detector flags),
    ``fluency_cost`` (their mean per-token loss under the unsteered model minus the unsteered continuations'),
    the concept score for ``goal`` (``add``: the rate; ``remove``: the rate's reduction against the unsteered
    one, 0..1), the fluency score, their harmonic mean, ``val_loss`` (the steered model's own loss on
    ``val_tokens``, when given) and the first ``n_samples`` continuations. Samples are the same random draws for
    every row (seeded), so rows differ by steering only."""
    if goal not in ("add", "remove"):
        raise InputError(f"goal={goal!r}: use 'add' (make the concept appear) or 'remove' (suppress it).")
    if not methods:
        raise InputError("No steering methods to compare.")
    per_method = {m: list(strengths[m] if isinstance(strengths, Mapping) else strengths) for m in methods}
    if not all(per_method.values()):
        raise InputError("No strengths to try: give at least one (e.g. 0 2 4 8).")
    tok = model.tokenizer
    bar = tqdm(total=1 + sum(len(v) for v in per_method.values()), desc=f"steering ({goal})", disable=not progress)

    def run(steering: Steering | None) -> dict[str, object]:
        pairs = generate(model, prompts, steering, max_new_tokens, temperature, seed=seed)
        texts = [tok.decode(new) for _, new in pairs]
        bar.update()
        return {"rate": sum(map(detector, texts)) / len(texts), "loss": continuation_loss(model, pairs),
                "texts": texts, "val": steered_loss(model, val_tokens, steering) if val_tokens is not None else None}

    base = run(None)
    rows = []
    for name, steering in methods.items():
        for strength in per_method[name]:
            got = base if strength == 0 else run(steering.scaled(strength))
            rate, cost = float(got["rate"]), float(got["loss"]) - float(base["loss"])  # type: ignore[arg-type]
            concept = rate if goal == "add" else (1 - rate / float(base["rate"]) if base["rate"] else 0.0)
            fluency = fluency_score(cost)
            rows.append({"method": name, "strength": float(strength), "concept_rate": rate, "fluency_cost": cost,
                         "concept_score": max(concept, 0.0), "fluency_score": fluency,
                         "harmonic": harmonic_mean(max(concept, 0.0), fluency), "val_loss": got["val"],
                         "samples": list(got["texts"])[:n_samples]})  # type: ignore[call-overload]
    bar.close()
    return pd.DataFrame(rows)


def best_strengths(dev: pd.DataFrame) -> dict[str, float]:
    """Per method, the strength with the highest harmonic mean on the dev split (ties: the weaker strength)."""
    best = dev.sort_values(["method", "harmonic", "strength"], ascending=[True, False, True])
    return {m: float(g.iloc[0]["strength"]) for m, g in best.groupby("method", sort=False)}

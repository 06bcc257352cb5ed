"""Scoring answer strings under a HookedTransformer: teacher-forced log-probabilities, batched, any tokenizer.

Candidates may be several tokens long (a year "89" is two digit tokens under the workbench BPE, one token
under GPT-2's). Every distinct prefix (prompt + the first j answer tokens) is run once, so 100 two-digit years
under a digit-split tokenizer cost 11 sequences per prompt, not 100.

>>> logp = continuation_logprobs(model, ["The capital of France is"], [[" Paris", " Rome"]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from interp.models.tl import HookedTransformer


def encode(model: HookedTransformer, text: str, prepend_bos: bool = True) -> list[int]:
    """Token ids of ``text`` under the model's tokenizer, with BOS first (as TransformerLens does)."""
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    return ([model.tokenizer.bos_token_id] if prepend_bos else []) + list(ids)


def pad_right(model: HookedTransformer, sequences: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Token-id sequences as one right-padded ``[n, width]`` tensor (the tokenizer's pad id, else 0) and each one's
    last position ``[n]``: a causal model reads every real position as if unpadded."""
    pad = model.tokenizer.pad_token_id or 0
    width = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), width), pad, dtype=torch.long)
    for row, s in enumerate(sequences):
        tokens[row, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return tokens, torch.tensor([len(s) - 1 for s in sequences])


@torch.no_grad()
def next_token_logprobs(model: HookedTransformer, sequences: Sequence[Sequence[int]],
                        batch_size: int = 64) -> Tensor:
    """Log-probabilities of the next token after each sequence: ``[n_seq, d_vocab]`` (right padding)."""
    out = []
    device = model.cfg.device
    for i in range(0, len(sequences), batch_size):
        tokens, last = pad_right(model, sequences[i : i + batch_size])
        logits = model(tokens.to(device), return_type="logits")
        last = last.to(logits.device)
        out.append(logits[torch.arange(len(tokens), device=logits.device), last].float().log_softmax(-1).cpu())
    return torch.cat(out) if out else torch.zeros(0, model.cfg.d_vocab)


def continuation_logprobs(
    model: HookedTransformer, prompts: Sequence[str], candidates: Sequence[Sequence[str]], batch_size: int = 64
) -> Tensor:
    """Summed log-probability of each candidate continuation of each prompt: ``[n_prompts, n_candidates]``."""
    prefixes: dict[tuple[int, ...], int] = {}
    plan: list[list[list[tuple[int, int]]]] = []  # per prompt, per candidate: (prefix index, next token)
    for prompt, cands in zip(prompts, candidates, strict=True):
        base = encode(model, prompt)
        per_cand = []
        for cand in cands:
            ids = encode(model, cand, prepend_bos=False)
            steps = []
            for j, tok in enumerate(ids):
                key = tuple(base + ids[:j])
                steps.append((prefixes.setdefault(key, len(prefixes)), tok))
            per_cand.append(steps)
        plan.append(per_cand)
    ordered = sorted(prefixes, key=prefixes.__getitem__)
    logp = next_token_logprobs(model, [list(p) for p in ordered], batch_size)
    n_cand = max((len(c) for c in candidates), default=0)
    result = torch.full((len(prompts), n_cand), float("-inf"))
    for i, per_cand in enumerate(plan):
        for j, steps in enumerate(per_cand):
            result[i, j] = sum(float(logp[p, t]) for p, t in steps)
    return result


def first_token_id(model: HookedTransformer, answer: str) -> int:
    """The first token of ``answer`` (e.g. ' Mary'), as used for logit differences."""
    return encode(model, answer, prepend_bos=False)[0]


def choice_predictions(model: HookedTransformer, prompts: Sequence[str], choices: Sequence[str]) -> list[int]:
    """Per prompt, the index in ``choices`` of the highest-scoring continuation (the model's pick)."""
    logp = continuation_logprobs(model, prompts, [choices] * len(prompts))
    return [int(row.argmax()) for row in logp]


def choice_accuracy(model: HookedTransformer, prompts: Sequence[str], answers: Sequence[int],
                    choices: Sequence[str]) -> float:
    """Fraction of prompts whose highest-scoring continuation among ``choices`` is ``choices[answer]``."""
    picks = choice_predictions(model, prompts, choices)
    return sum(p == a for p, a in zip(picks, answers, strict=True)) / len(prompts)

"""Induction: loss on the repeated half of random-token sequences against the first occurrence.

The tokens are drawn uniformly from the tokens ordinary text uses (see ``ordinary_tokens``).

>>> score_induction(model)["induction_gain"]   # first-half loss minus repeated-half loss, in nats
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from interp.data.corpus import generate_text
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo

METRICS = {
    "first_half_loss": MetricInfo("Loss on the first copy of a random token sequence, in nats (unpredictable: "
                                  "near the log of the number of ordinary tokens)."),
    "repeat_loss": MetricInfo("Loss on the second, repeated copy, in nats (low when the model copies from the first)."),
    "induction_gain": MetricInfo("First-copy loss minus repeated-copy loss, in nats: how much seeing the sequence "
                                 "once helps predict it again (0: no copying).", chance=0.0),
}


def ordinary_tokens(model: HookedTransformer, n_words: int = 20_000) -> torch.Tensor:
    """Token ids that ordinary text uses: the distinct tokens of built-in corpus text (stories without the
    steering concepts, so the set is the same for models trained before and after they were added) under the
    model's tokenizer. (A byte-level BPE also holds byte and merge tokens that text never produces; their
    embeddings are untrained, which would test the embedding rather than the copying.) All ids without a
    tokenizer."""
    if model.tokenizer is None:
        return torch.arange(model.cfg.d_vocab)
    text = " ".join(generate_text(n_words, seed=12345, concept=None))
    ids = set(model.tokenizer(text, add_special_tokens=False)["input_ids"])
    ids -= set(model.tokenizer.all_special_ids)
    return torch.tensor(sorted(i for i in ids if i < model.cfg.d_vocab))


def repeated_tokens(model: HookedTransformer, n_seqs: int, half: int, seed: int = 0) -> torch.Tensor:
    """``[n_seqs, 1 + 2 * half]``: BOS, then the same random ordinary tokens twice."""
    g = torch.Generator().manual_seed(seed)
    allowed = ordinary_tokens(model)
    first = allowed[torch.randint(len(allowed), (n_seqs, half), generator=g)]
    bos = model.tokenizer.bos_token_id if model.tokenizer is not None else 0
    return torch.cat([torch.full((n_seqs, 1), bos), first, first], dim=1)


@torch.no_grad()
def score_induction(model: HookedTransformer, n_prompts: int = 100, seed: int = 0, half: int | None = None,
                    batch_size: int = 32) -> dict[str, float]:
    """Mean loss on tokens 2..half of the first copy and of the second copy (the first token of each copy is
    unpredictable and left out)."""
    half = half or min(50, (model.cfg.n_ctx - 1) // 2)
    tokens = repeated_tokens(model, n_prompts, half, seed)
    losses = []
    for i in range(0, len(tokens), batch_size):
        batch = tokens[i : i + batch_size].to(model.cfg.device)
        logits = model(batch, return_type="logits").float()
        losses.append(F.cross_entropy(logits[:, :-1].transpose(1, 2), batch[:, 1:], reduction="none").cpu())
    loss = torch.cat(losses)  # [n, 2 * half]: loss[:, j] predicts token j + 1
    first = loss[:, 1:half].mean()  # predicting first-copy tokens 2..half
    repeat = loss[:, half + 1 :].mean()  # predicting second-copy tokens 2..half
    return {"first_half_loss": float(first), "repeat_loss": float(repeat), "induction_gain": float(first - repeat)}

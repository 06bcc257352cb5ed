"""A planted ground truth: a HookedTransformer whose hand-set weights implement a known two-layer induction
circuit, so every instrument can be checked against the answer it must find.

- L0H0, a previous-token head: attends from position p to p-1 and writes the token it sees into a "previous
  token" subspace.
- L1H0, an induction head: its query (the current token) matches keys whose "previous token" is that token, i.e.
  the position right after the earlier occurrence, and it copies that position's token to the output.
- L0H1 and L1H1 are distractors: uniform attention, writing into a subspace nothing reads.

The residual stream is split into one-hot blocks: token | position | previous token | output | unused.

>>> model, circuit = planted_induction_model()
>>> clean, corrupt = planted_prompts(model, n=8)
"""

from __future__ import annotations

import math

import torch

from interp.models.tl import HookedTransformer, HookedTransformerConfig

CIRCUIT = {"previous_token": (0, 0), "induction": (1, 0)}


def planted_induction_model(vocab: int = 24, logit_scale: float = 10.0, sharpness: float = 15.0
                            ) -> tuple[HookedTransformer, dict[str, tuple[int, int]]]:
    V = T = vocab
    TOK, POS, PREV, OUT, JUNK = (slice(i * V, (i + 1) * V) for i in range(5))
    cfg = HookedTransformerConfig(n_layers=2, d_model=5 * V, n_heads=2, d_head=V, n_ctx=T, d_vocab=V,
                                  attn_only=True, normalization_type=None, act_fn="relu", seed=0)
    model = HookedTransformer(cfg)
    c = sharpness * math.sqrt(V)  # TransformerLens divides scores by sqrt(d_head)
    eye = torch.eye(V)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, TOK] = eye
        model.pos_embed.W_pos[:, POS] = eye
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        # L0H0: query at position p (one-hot e_p) matches keys at p-1 (their position shifted by one).
        a0.W_Q[0, POS] = c * eye
        a0.W_K[0, POS] = torch.diag(torch.ones(V - 1), diagonal=1)  # key p' -> e_{p'+1}
        a0.W_V[0, TOK] = eye
        a0.W_O[0][:, PREV] = eye
        # L1H0: query = current token, key = previous-token block; copy the key position's token to OUT.
        a1.W_Q[0, TOK] = c * eye
        a1.W_K[0, PREV] = eye
        a1.W_V[0, TOK] = eye
        a1.W_O[0][:, OUT] = eye
        for attn in (a0, a1):  # distractors: uniform attention, output into a block nothing reads
            attn.W_V[1, TOK] = eye
            attn.W_O[1][:, JUNK] = eye
        model.unembed.W_U[OUT] = logit_scale * eye
    return model.eval(), dict(CIRCUIT)


def planted_prompts(model: HookedTransformer, n: int = 8, half: int | None = None, seed: int = 0
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean: BOS (0) + random tokens repeated twice. Corrupted: the first copy replaced by other tokens, so the
    second copy is no longer predictable. Both [n, 1 + 2 * half]."""
    half = half or (model.cfg.n_ctx - 1) // 2
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(1, model.cfg.d_vocab, (n, half), generator=g)
    other = (first + torch.randint(1, model.cfg.d_vocab - 1, (n, half), generator=g) - 1) % (model.cfg.d_vocab - 1) + 1
    bos = torch.zeros(n, 1, dtype=torch.long)
    return torch.cat([bos, first, first], 1), torch.cat([bos, other, first], 1)


def induction_metric(clean: torch.Tensor):
    """Mean logit of the correct next token over the second copy (the tokens induction predicts)."""
    half = (clean.shape[1] - 1) // 2
    targets = clean[:, half + 2 :]

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return logits[:, half + 1 : -1].gather(-1, targets[..., None].to(logits.device)).mean()

    return metric

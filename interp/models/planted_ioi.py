"""A second planted ground truth: hand-set weights implementing an IOI-like counting / name-mover circuit, so
instruments can be checked on a circuit whose query, not key, carries the task.

Tokens: 0 = BOS, 1..N = names, then fillers, last = END. A prompt is BOS, slots holding S, S, IO (in any order)
and fillers, then END; the answer at END is IO, the name that occurs once. The residual stream is split into
blocks: token (one-hot) | COUNT (one coordinate per name) | NONE | OUT (one per name) | junk. No position
embeddings (the mechanism is position-free), no LayerNorm, no MLPs; every weight not named here is zero.

- L0H0, the counting head: its query is a constant (every token) plus a larger "find names" part from END; keys
  mark names and BOS (a sink). From END it attends uniformly to the three name positions and writes each name's
  share into COUNT (S: 2/3, IO: 1/3); from anywhere else it attends to BOS, whose value writes NONE = 1 ("no
  names counted").
- L1H0, the name mover: at END its query gives every name position ``3 * sum(COUNT) - 2 * n_ctx * NONE`` minus
  ``6 * COUNT[name]``: IO scores +1, S -1, non-names 0 (times ``sharpness``). It copies the attended name into
  OUT, which the unembedding reads as ``logit_scale * identity``. Trusting the counts only when NONE is small is
  what makes L0H0's key edge matter: with its keys ablated the counting head attends everywhere, NONE = 1/n_ctx
  and every name is scored below the fillers.
- L0H1 and L1H1 are distractors: uniform attention, writing into the junk block nothing reads.

``CIRCUIT`` lists the edges that carry the task under mean ablation over the batch and positions, and under zero
ablation (each edge alone ablated moves the logit difference from ~``logit_scale`` to <= 0; every other edge
changes nothing). Per-position mean ablation leaves L0H0's query input unchanged (END is always last, and
elsewhere the query is the constant), so there the circuit is ``CIRCUIT`` minus ``input->a0.h0<q>``. Under
corrupted-prompt patching (names swapped for three other distinct ones, same layout) L0H0's query and key inputs
are the same in both prompts (END, name and BOS positions do not move), so only ``PATCHING_CIRCUIT`` carries
information.

>>> model, circuit = planted_ioi_model()
>>> clean, corrupt, io, s = planted_ioi_prompts(model, n=16)
>>> planted_ioi_metric(io, s)(model(clean))      # ~ logit_scale; 0 on corrupt
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.patching.metrics import Metric, logit_diff
from interp.models.tl import HookedTransformer, HookedTransformerConfig

HEADS = {"counting": (0, 0), "name_mover": (1, 0)}
CIRCUIT = ["input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "a0.h0->a1.h0<q>", "input->a1.h0<k>",
           "input->a1.h0<v>", "a1.h0->logits"]
PATCHING_CIRCUIT = ["input->a0.h0<v>", "a0.h0->a1.h0<q>", "input->a1.h0<k>", "input->a1.h0<v>", "a1.h0->logits"]


def planted_ioi_model(n_names: int = 8, n_fillers: int = 6, n_ctx: int = 8, logit_scale: float = 10.0,
                      sharpness: float = 10.0) -> tuple[HookedTransformer, list[str]]:
    """The model (eval mode) and its known circuit under mean ablation (edge names as in ``circuits.graph``)."""
    if n_names < 5 or n_ctx < 5:
        raise ValueError("Need >= 5 names (S, IO and three corrupting ones) and n_ctx >= 5 (BOS, 3 names, END).")
    N, V = n_names, n_names + n_fillers + 2
    BOS, NAMES, END = 0, slice(1, 1 + N), V - 1
    TOK, COUNT, NONE, OUT, JUNK = slice(0, V), slice(V, V + N), V + N, slice(V + N + 1, V + 2 * N + 1), \
        slice(V + 2 * N + 1, 2 * V + 2 * N + 1)
    cfg = HookedTransformerConfig(n_layers=2, d_model=JUNK.stop, n_heads=2, d_head=V, n_ctx=n_ctx, d_vocab=V,
                                  attn_only=True, normalization_type=None, act_fn="relu", seed=0)
    model = HookedTransformer(cfg)
    c = sharpness * math.sqrt(V)  # TransformerLens divides scores by sqrt(d_head)
    eye = torch.eye(N)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, TOK] = torch.eye(V)
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        # L0H0: query dim 0 "find names" (END only), dim 1 a constant; keys: names 2 on dim 0, BOS 1 on dim 1.
        # From END: names 2c, BOS c, the rest 0; elsewhere: BOS c, the rest 0.
        a0.W_Q[0, END, 0] = c
        a0.W_Q[0, TOK, 1] = c
        a0.W_K[0, NAMES, 0] = 2.0
        a0.W_K[0, BOS, 1] = 1.0
        a0.W_V[0, NAMES, :N] = eye
        a0.W_V[0, BOS, N] = 1.0
        a0.W_O[0, :N, COUNT] = eye
        a0.W_O[0, N, NONE] = 1.0
        # L1H0: key = name identity (dims :N) + "is a name" (dim N); the query is read from COUNT and NONE only.
        a1.W_Q[0, COUNT, :N] = -6 * c * eye
        a1.W_Q[0, COUNT, N] = 3 * c
        a1.W_Q[0, NONE, N] = -2 * n_ctx * c
        a1.W_K[0, NAMES, :N] = eye
        a1.W_K[0, NAMES, N] = 1.0
        a1.W_V[0, NAMES, :N] = eye
        a1.W_O[0, :N, OUT] = eye
        for attn in (a0, a1):  # distractors: uniform attention, output into a block nothing reads
            attn.W_V[1, TOK] = torch.eye(V)
            attn.W_O[1][:, JUNK] = torch.eye(V)
        model.unembed.W_U[OUT, NAMES] = logit_scale * eye
    return model.eval(), list(CIRCUIT)


def planted_ioi_prompts(model: HookedTransformer, n: int = 16, seed: int = 0
                        ) -> tuple[Int[Tensor, "n pos"], Int[Tensor, "n pos"], Int[Tensor, " n"], Int[Tensor, " n"]]:
    """(clean, corrupt, io, s), prompts [n, n_ctx]: BOS, S/S/IO in three random slots among fillers, END. Corrupt
    puts three other distinct names A, B, C in the same slots (no name repeats, so no answer). The names are the
    tokens the unembedding can produce."""
    V, P = model.cfg.d_vocab, model.cfg.n_ctx
    N = int((model.unembed.W_U.detach().abs().sum(0) > 0).sum())
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(N + 1, V - 1, (n, P), generator=g)  # fillers
    clean[:, 0], clean[:, -1] = 0, V - 1
    corrupt = clean.clone()
    io, s = torch.empty(n, dtype=torch.long), torch.empty(n, dtype=torch.long)
    for i in range(n):
        names = torch.randperm(N, generator=g)[:5] + 1
        slots = (torch.randperm(P - 2, generator=g)[:3] + 1).sort().values
        io_slot = int(torch.randint(3, (1,), generator=g))
        s[i], io[i] = names[0], names[1]
        clean[i, slots] = torch.where(torch.arange(3) == io_slot, names[1], names[0])
        corrupt[i, slots] = names[2:]
    return clean, corrupt, io, s


def planted_ioi_metric(io: Int[Tensor, " n"], s: Int[Tensor, " n"]) -> Metric:
    """Mean logit(IO) - logit(S) at END (the last position)."""
    return logit_diff(io, s)

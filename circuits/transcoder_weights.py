"""Input-independent, weight-based analyses of MLP transcoders (Dunefsky, Chlenski & Nanda 2024, section 4): the
de-embedding of a layer-0 feature and the input-invariant connections between features of two layers.

**De-embedding** of layer-0 feature ``i``: for every vocabulary token ``t``, the feature's pre-activation when the
MLP input holds ``t``'s embedding alone, ``ln2(W_E[t]) @ W_enc[:, i] + b_enc[i]`` (the paper's ``W_E @ w_enc``, with
the model's own normalization applied: the transcoder reads ``blocks.0.ln2.hook_normalized``, which is the
embedding centred and divided by its RMS, so ``W_E @ w_enc`` alone would rank tokens partly by their embedding
norm). Choices (``position``, ``attention``): by default no positional embedding and attention's output left out
(the paper's token-only score). ``position=p`` adds ``W_pos[p]``; ``attention="self"`` adds layer 0's attention
output for a token attending only to itself, which is exactly what attention does at position 0, so
``de_embedding_scores(model, tc, position=0, attention="self")`` is the feature's actual pre-activation on each
one-token prompt, and ``position=0, attention="ignore"`` its pre-activation on that prompt with layer 0's attention
output zeroed (``tests/test_transcoder_weights.py`` checks both).

**Connection** from feature ``i`` of a transcoder at layer ``l`` to feature ``i'`` at layer ``l' > l``: what one
unit of ``i``'s activation adds to ``i'``'s pre-activation through the residual stream, ``center(W_dec[i]) .
W_enc'[:, i']`` (the paper's ``dec_i . enc_i'``, with the centering of the target's LayerNorm, which is linear; its
division by the input's scale is not, and is left to ``scale``). ``via_head=(layer, head)``: the path through one
attention head's OV circuit instead (``l < layer <= l'``; ln1's weight included, attention pattern taken as 1).
In a graph the edge is ``activation_i x connection / scale`` with ``scale`` the target's ln2 scale (times the
head's ln1 scale at the source position for a head path).

>>> de_embedding(model, tcs[0], feature=17, k=10)        # DataFrame: side, rank, token_id, token, score
>>> connections(model, tcs[0], tcs[1], feature=5, k=10)  # DataFrame: the layer-0 features feeding feature 5 most
>>> connection_matrix(model, tcs[0], tcs[1], [3, 8], [5])   # [2, 1] tensor of connection weights
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InputError
from interp.models.tl import HookedTransformer
from saes.base import SAE

Attention = Literal["ignore", "self"]


def transcoder_layer(model: HookedTransformer, tc: SAE) -> int:
    """The layer of ``tc`` if it is an MLP transcoder of ``model`` (reads ``blocks.L.ln2.hook_normalized``,
    predicts ``blocks.L.hook_mlp_out``, widths equal to ``d_model``); otherwise an ``InputError`` saying why.

    >>> transcoder_layer(model, tcs[1])   # 1
    """
    m = re.fullmatch(r"blocks\.(\d+)\.ln2\.hook_normalized", tc.cfg.hook_name)
    if m is None or tc.cfg.hook_name_out != f"blocks.{m[1]}.hook_mlp_out":
        raise InputError(f"Not an MLP transcoder: it reads {tc.cfg.hook_name!r} and predicts "
                         f"{tc.cfg.hook_name_out!r}; weight-based analyses need blocks.L.ln2.hook_normalized -> "
                         "blocks.L.hook_mlp_out (interp train-sae with --hook-out).")
    layer = int(m[1])
    if layer >= model.cfg.n_layers:
        raise InputError(f"The transcoder is of layer {layer}, but the model has {model.cfg.n_layers} layers: it "
                         "belongs to another model.")
    if (tc.cfg.d_in, tc.cfg.d_out) != (model.cfg.d_model, model.cfg.d_model):
        raise InputError(f"The transcoder maps width {tc.cfg.d_in} -> {tc.cfg.d_out}, the model's residual stream "
                         f"is {model.cfg.d_model} wide: it belongs to another model.")
    return layer


def _check_features(tc: SAE, features: Sequence[int], what: str = "feature") -> list[int]:
    features = [int(f) for f in features]
    bad = [f for f in features if not 0 <= f < tc.cfg.d_sae]
    if bad:
        raise InputError(f"{what} {bad} out of range: the transcoder has {tc.cfg.d_sae} features (0..{tc.cfg.d_sae - 1}).")
    return features


def _token_names(model: HookedTransformer, ids: Sequence[int]) -> list[str]:
    tok = getattr(model, "tokenizer", None)
    return [tok.decode([i]) if tok is not None else str(i) for i in ids]


@torch.no_grad()
def de_embedding_scores(model: HookedTransformer, tc: SAE, features: Sequence[int] | None = None,
                        position: int | None = None, attention: Attention = "ignore",
                        batch_size: int = 4096) -> Float[Tensor, "vocab n_features"]:
    """Every vocabulary token's de-embedding score on ``features`` of the layer-0 transcoder ``tc`` (all features
    when None): the feature's pre-activation on the token's embedding, normalised by ln2 (module docstring for
    ``position`` and ``attention``). Computed by the model's own first block on one-token inputs.

    >>> de_embedding_scores(model, tcs[0], [17, 40])[model.to_single_token("3")]   # token "3" on both features
    """
    if transcoder_layer(model, tc) != 0:
        raise InputError(f"De-embeddings are of layer-0 transcoders (what a token's embedding alone does to a "
                         f"feature); this one reads {tc.cfg.hook_name}. For a later layer use connections() from "
                         "the layer-0 transcoder's features.")
    if attention not in ("ignore", "self"):
        raise InputError(f"attention must be 'ignore' (layer 0's attention output left out) or 'self' (the token "
                         f"attending to itself), got {attention!r}.")
    if position is not None and not 0 <= position < model.cfg.n_ctx:
        raise InputError(f"position {position} is outside the model's context (0..{model.cfg.n_ctx - 1}).")
    features = list(range(tc.cfg.d_sae)) if features is None else _check_features(tc, features)
    w_pos = model.W_pos[position] if position is not None else torch.zeros_like(model.W_pos[0])
    hooks = [("hook_pos_embed", lambda act, hook: w_pos.expand_as(act).to(act.dtype))]
    if attention == "ignore":
        hooks.append(("blocks.0.hook_attn_out", lambda act, hook: torch.zeros_like(act)))
    device = model.W_E.device
    out = []
    for start in range(0, model.cfg.d_vocab, batch_size):
        tokens = torch.arange(start, min(start + batch_size, model.cfg.d_vocab), device=device)[:, None]
        with model.hooks(fwd_hooks=hooks):
            _, cache = model.run_with_cache(tokens, stop_at_layer=1, names_filter="blocks.0.ln2.hook_normalized")
        x = cache["blocks.0.ln2.hook_normalized"][:, 0].to(tc.W_enc.device)
        out.append(tc.pre_acts(x)[:, features].float().cpu())
    return torch.cat(out)


def de_embedding(model: HookedTransformer, tc: SAE, feature: int, k: int = 10, position: int | None = None,
                 attention: Attention = "ignore") -> pd.DataFrame:
    """The ``k`` tokens whose embeddings drive layer-0 feature ``feature`` most (side "top") and least ("bottom"):
    columns side, rank, token_id, token, score (the feature's pre-activation, bias included).

    >>> de_embedding(model, tcs[0], feature=17, k=5).query("side == 'top'").token.tolist()   # e.g. ['3', ...]
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}.")
    scores = de_embedding_scores(model, tc, [feature], position, attention)[:, 0]
    k = min(k, len(scores))
    rows = []
    for side, descending in (("top", True), ("bottom", False)):
        order = torch.argsort(scores, descending=descending)[:k].tolist()
        for rank, (t, name) in enumerate(zip(order, _token_names(model, order), strict=True)):
            rows.append(dict(side=side, rank=rank, token_id=t, token=name, score=float(scores[t])))
    return pd.DataFrame(rows)


def _check_pair(model: HookedTransformer, source: SAE, target: SAE,
                via_head: tuple[int, int] | None) -> tuple[int, int]:
    src, tgt = transcoder_layer(model, source), transcoder_layer(model, target)
    if src >= tgt:
        raise InputError(f"Connections run from an earlier layer's transcoder to a later one's; got source layer "
                         f"{src} and target layer {tgt} (swap them, or pick transcoders of layers l < l').")
    if via_head is not None:
        layer, head = via_head
        if not src < layer <= tgt or not 0 <= head < model.cfg.n_heads:
            raise InputError(f"via_head={via_head}: the head must sit in an attention layer between the two "
                             f"transcoders (layers {src + 1}..{tgt}) and be one of the model's {model.cfg.n_heads} "
                             "heads.")
    return src, tgt


def _centered(model: HookedTransformer, x: Tensor) -> Tensor:
    """``x`` as a LayerNorm's linear part sees it: centred (LN, LNPre), or unchanged (RMS norms)."""
    return x - x.mean(-1, keepdim=True) if model.cfg.normalization_type in ("LN", "LNPre") else x


def _arriving(model: HookedTransformer, source: SAE, features: list[int],
              via_head: tuple[int, int] | None) -> Float[Tensor, "n d_model"]:
    """The source features' decoder rows as the target's ln2 receives them (before its scale)."""
    x = source.W_dec[features].float()
    if via_head is not None:
        layer, head = via_head
        block = model.blocks[layer]
        w_ln1 = block.ln1.w.float() if hasattr(block.ln1, "w") else torch.ones_like(x[0])
        x = (_centered(model, x) * w_ln1) @ block.attn.W_V[head].float() @ block.attn.W_O[head].float()
    return _centered(model, x)


@torch.no_grad()
def connection_matrix(model: HookedTransformer, source: SAE, target: SAE, source_features: Sequence[int],
                      target_features: Sequence[int], via_head: tuple[int, int] | None = None,
                      scale: float = 1.0) -> Float[Tensor, "n_source n_target"]:
    """Input-invariant connection weights between ``source_features`` (a transcoder of layer l) and
    ``target_features`` (one of layer l' > l), divided by ``scale`` (module docstring).

    >>> connection_matrix(model, tcs[0], tcs[1], [3, 8], [5], scale=5.2)   # [2, 1]
    """
    _check_pair(model, source, target, via_head)
    src = _check_features(source, source_features, "source feature")
    tgt = _check_features(target, target_features, "target feature")
    return (_arriving(model, source, src, via_head) @ target.W_enc[:, tgt].float() / scale).cpu()


@torch.no_grad()
def connections(model: HookedTransformer, source: SAE, target: SAE, feature: int, k: int = 10, into: bool = True,
                via_head: tuple[int, int] | None = None, scale: float = 1.0) -> pd.DataFrame:
    """The ``k`` strongest input-invariant connections (by absolute value) into ``target``'s ``feature`` from every
    feature of ``source`` (``into=False``: out of ``source``'s ``feature`` into every feature of ``target``).
    Columns: rank, source_feature, target_feature, connection (signed), cosine (of the arriving decoder direction
    with the encoder direction: the connection free of both norms).

    >>> connections(model, tcs[0], tcs[1], feature=5, k=10)          # layer-0 features feeding feature 5 most
    >>> connections(model, tcs[0], tcs[1], feature=17, into=False)   # layer-1 features fed by feature 17 most
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}.")
    _check_pair(model, source, target, via_head)
    if into:
        _check_features(target, [feature])
        arriving = _arriving(model, source, list(range(source.cfg.d_sae)), via_head)
        enc = target.W_enc[:, feature].float()
        values = arriving @ enc / scale
        cos = torch.nn.functional.cosine_similarity(arriving, enc[None], dim=-1)
    else:
        _check_features(source, [feature])
        arriving = _arriving(model, source, [feature], via_head)
        values = (arriving @ target.W_enc.float())[0] / scale
        cos = torch.nn.functional.cosine_similarity(arriving.T, target.W_enc.float(), dim=0)
    order = torch.argsort(values.abs(), descending=True)[: min(k, len(values))].tolist()
    return pd.DataFrame([dict(rank=r, source_feature=i if into else feature, target_feature=feature if into else i,
                              connection=float(values[i]), cosine=float(cos[i])) for r, i in enumerate(order)])


__all__ = ["connection_matrix", "connections", "de_embedding", "de_embedding_scores", "transcoder_layer"]

"""Attribution graphs of one prompt from per-layer transcoders or a cross-layer transcoder (Dunefsky et al. 2024;
Ameisen et al. 2025, as circuit-tracer builds them), with circuit-tracer's influence pruning and replacement /
completeness scores: the first part of issue 21 (feature interventions, the HTML view and the CLI come next).

The local replacement model: every MLP replaced by its transcoder (or the CLT's sum of decoders from that layer
and every earlier one) plus an error node (the transcoder's miss on
this prompt, held fixed), attention patterns and LayerNorm scales frozen at their values on this prompt. With
those frozen, everything between the nodes is linear, so each edge is exact: the direct effect of a source node
(a token's embedding, an active feature at (layer, position), an error node) on a target (a feature's
pre-activation, a logit), through the residual stream and attention's OV path only, not through other features.
``edge = activation(source) x d target / d activation(source)`` in that linear model, which is also the change of
the target when the source is removed (``tests/test_attribution_graph.py`` checks both, and that the replacement
model reproduces the model's logits).

>>> graph = attribution_graph(model, transcoders, tokens, n_logits=3)   # transcoders: one per layer, in order
>>> graph.nodes                          # DataFrame: kind (embed/feature/error/logit), layer, pos, feature, value
>>> graph.adjacency[t, s]                # direct effect of node s on node t
>>> graph_scores(graph)                  # {"replacement": ..., "completeness": ...}
>>> small = prune(graph, node_threshold=0.8, edge_threshold=0.98)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.errors import InputError
from interp.models.tl import HookedTransformer
from saes.base import SAE
from saes.clt import CrossLayerTranscoder


@dataclass
class AttributionGraph:
    """Nodes (one row each) and the direct-effect matrix ``adjacency[target, source]``."""

    nodes: pd.DataFrame
    adjacency: Float[Tensor, "nodes nodes"]
    logits: Float[Tensor, "pos vocab"]  # the replacement model's logits (equal to the model's)


class _Dictionaries:
    """Per-layer transcoders or a cross-layer transcoder, seen the same way: each layer's encoder (pre-activations
    and latents from the MLP input) and each MLP's output from the latents of every layer (a transcoder's own
    layer only; a CLT's layers up to it)."""

    def __init__(self, dictionaries: Sequence[SAE] | CrossLayerTranscoder) -> None:
        self.clt = dictionaries if isinstance(dictionaries, CrossLayerTranscoder) else None
        self.encoders = ([self.clt.encoder(i) for i in range(self.clt.n_layers)] if self.clt is not None
                         else list(dictionaries))

    def output(self, layer: int, feats: Sequence[Tensor], x: Tensor) -> Tensor:
        if self.clt is None:
            tc = self.encoders[layer]
            return feats[layer] @ tc.W_dec + tc.b_dec + tc.skip_out(x)
        out = self.clt.b_dec[layer]
        for j in range(layer + 1):
            out = out + feats[j] @ self.clt.W_dec(j)[:, layer - j]
        return out


def _check(model: HookedTransformer, encoders: Sequence[SAE], tokens: Tensor) -> None:
    if len(encoders) != model.cfg.n_layers:
        raise InputError(f"Give one transcoder per layer ({model.cfg.n_layers}), in layer order, or a CLT of every "
                         f"layer; got {len(encoders)}.")
    for layer, tc in enumerate(encoders):
        want = (f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out")
        if (tc.cfg.hook_name, tc.cfg.hook_name_out) != want:
            raise InputError(f"Transcoder {layer} reads {tc.cfg.hook_name} -> {tc.cfg.hook_name_out}; the graph "
                             f"needs {want[0]} -> {want[1]} (an MLP transcoder of that layer).")
    if tokens.dim() != 1:
        raise InputError(f"One prompt at a time: tokens of shape [pos], got {tuple(tokens.shape)}.")
    if len(tokens) > model.cfg.n_ctx:
        raise InputError(f"The prompt has {len(tokens)} tokens, more than the model's context ({model.cfg.n_ctx}): "
                         "shorten it.")


class _Replacement:
    """The frozen forward of one prompt, its leaves (embeddings, features, errors) and the recorded targets."""

    def __init__(self, model: HookedTransformer, dictionaries: Sequence[SAE] | CrossLayerTranscoder,
                 tokens: Tensor) -> None:
        self.dicts = _Dictionaries(dictionaries)
        _check(model, self.dicts.encoders, tokens)
        self.model, self.tcs, self.tokens = model, self.dicts.encoders, tokens[None]
        names = ("hook_scale", "hook_pattern", "ln2.hook_normalized", "hook_mlp_out", "hook_embed", "hook_pos_embed")
        with torch.no_grad():
            self.clean_logits, cache = model.run_with_cache(self.tokens, names_filter=lambda n: n.endswith(names))
        self.frozen = {n: t.detach() for n, t in cache.items() if n.endswith(("hook_scale", "hook_pattern"))}
        self.embed = cache["hook_embed"][0].detach()
        self.pos_embed = cache["hook_pos_embed"][0].detach()
        with torch.no_grad():
            ins = [cache[f"blocks.{layer}.ln2.hook_normalized"][0] for layer in range(len(self.tcs))]
            self.feats = [tc.encode(x).float() for tc, x in zip(self.tcs, ins, strict=True)]
            self.errors = [(cache[f"blocks.{layer}.hook_mlp_out"][0] - self.dicts.output(layer, self.feats, x)).float()
                           for layer, x in enumerate(ins)]

    def forward(self, leaves: dict[str, list[Tensor] | Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Logits [pos, vocab] and each layer's transcoder pre-activations [pos, d_sae] with ``leaves`` in place."""
        mlp_in: dict[int, Tensor] = {}
        pre: list[Tensor] = []

        def frozen(act: Tensor, hook) -> Tensor:
            return self.frozen[hook.name]

        def keep_in(act: Tensor, hook, layer: int) -> None:
            mlp_in[layer] = act
            pre.append(self.tcs[layer].pre_acts(act[0]).float())

        def mlp_out(act: Tensor, hook, layer: int) -> Tensor:
            out = self.dicts.output(layer, leaves["feats"], mlp_in[layer][0]) + leaves["errors"][layer]
            return out[None].to(act.dtype)

        hooks = [(n, frozen) for n in self.frozen]
        hooks += [("hook_embed", lambda a, hook: leaves["embed"][None]),
                  ("hook_pos_embed", lambda a, hook: leaves["pos_embed"][None])]
        for layer in range(len(self.tcs)):
            hooks += [(f"blocks.{layer}.ln2.hook_normalized", lambda a, hook, layer=layer: keep_in(a, hook, layer)),
                      (f"blocks.{layer}.hook_mlp_out", lambda a, hook, layer=layer: mlp_out(a, hook, layer))]
        with self.model.hooks(fwd_hooks=hooks):
            logits = self.model(self.tokens)[0]
        return logits, pre

    def leaves(self, requires_grad: bool = False) -> dict:
        def leaf(t: Tensor) -> Tensor:
            return t.clone().requires_grad_(requires_grad)
        return {"embed": leaf(self.embed), "pos_embed": leaf(self.pos_embed),
                "feats": [leaf(f) for f in self.feats], "errors": [leaf(e) for e in self.errors]}


def attribution_graph(model: HookedTransformer, transcoders: Sequence[SAE] | CrossLayerTranscoder,
                      tokens: Int[Tensor, " pos"], n_logits: int = 3, max_nodes: int = 8192, batch_size: int = 64,
                      progress: bool = False) -> AttributionGraph:
    """Nodes and exact direct effects for one prompt. ``transcoders``: one MLP transcoder per layer (skip
    transcoders too), or a cross-layer transcoder. Targets: every active feature's pre-activation and the
    ``n_logits`` most likely next tokens at the last position (their raw logits). Sources: each position's
    embedding (token + position), every active feature, every error node. One batched backward pass per
    ``batch_size`` targets.
    ``max_nodes``: a larger graph is refused before its ``nodes x nodes`` matrix is allocated."""
    rep = _Replacement(model, transcoders, tokens.to(model.cfg.device))
    pos = tokens.shape[0]
    rows = [dict(kind="embed", layer=-1, pos=p, feature=int(tokens[p]), value=float("nan")) for p in range(pos)]
    feature_index = []
    for layer, f in enumerate(rep.feats):
        for p, i in torch.nonzero(f > 0).tolist():
            feature_index.append((layer, p, i))
            rows.append(dict(kind="feature", layer=layer, pos=p, feature=i, value=float(f[p, i])))
    rows += [dict(kind="error", layer=layer, pos=p, feature=-1, value=float(rep.errors[layer][p].norm()))
             for layer in range(len(rep.tcs)) for p in range(pos)]
    top = rep.clean_logits[0, -1].topk(n_logits).indices.tolist()
    rows += [dict(kind="logit", layer=len(rep.tcs), pos=pos - 1, feature=t, value=float(rep.clean_logits[0, -1, t]))
             for t in top]
    nodes = pd.DataFrame(rows)
    if len(nodes) > max_nodes:
        raise InputError(f"This prompt's graph has {len(nodes):,} nodes (its matrix {len(nodes) ** 2 * 4 / 1e9:.1f} GB), "
                         f"over max_nodes={max_nodes:,}: use a shorter prompt or sparser transcoders, or raise "
                         "max_nodes (--max-nodes).")
    n_embed, n_feat = pos, len(feature_index)
    n_err = len(rep.tcs) * pos
    adjacency = torch.zeros(len(nodes), len(nodes))
    leaves = rep.leaves(requires_grad=True)
    logits, pre = rep.forward(leaves)
    rows = [n_embed + j for j in range(n_feat)] + [n_embed + n_feat + n_err + j for j in range(len(top))]
    values = torch.stack([pre[layer][p, i] for layer, p, i in feature_index] + [logits[-1, t] for t in top])
    flat = [leaves["embed"], leaves["pos_embed"], *leaves["feats"], *leaves["errors"]]
    by_layer = [[(j, p, i) for j, (lay, p, i) in enumerate(feature_index) if lay == layer] for layer in range(len(rep.tcs))]
    for start in tqdm(range(0, len(rows), batch_size), desc="attribution", disable=not progress):
        chunk = slice(start, start + batch_size)
        n = len(rows[chunk])
        # one backward pass for ``n`` targets at once: autograd's batched vector-Jacobian products (vmap)
        grads = torch.autograd.grad(values[chunk], flat, grad_outputs=torch.eye(n),
                                    retain_graph=True, allow_unused=True, is_grads_batched=True)
        grads = [torch.zeros(n, *x.shape) if g is None else g for g, x in zip(grads, flat, strict=True)]
        block = torch.zeros(n, len(nodes))
        block[:, :n_embed] = (grads[0] * rep.embed).sum(-1) + (grads[1] * rep.pos_embed).sum(-1)
        for layer, members in enumerate(by_layer):
            if members:
                j, p, i = (torch.tensor(x) for x in zip(*members, strict=True))
                block[:, n_embed + j] = grads[2 + layer][:, p, i] * rep.feats[layer][p, i]
            first = n_embed + n_feat + layer * pos
            block[:, first : first + pos] = (grads[2 + len(rep.tcs) + layer] * rep.errors[layer]).sum(-1)
        adjacency[rows[chunk]] = block
    return AttributionGraph(nodes, adjacency.detach(), logits.detach())


def _normalized(graph: AttributionGraph) -> Tensor:
    """|adjacency| with each target's row summing to 1 (rows without inputs stay 0), as circuit-tracer does."""
    a = graph.adjacency.abs()
    return a / a.sum(1, keepdim=True).clamp(min=1e-12)


def _logit_weights(graph: AttributionGraph) -> Tensor:
    """The logit nodes weighted by their probability (renormalised over the logits in the graph)."""
    w = torch.zeros(len(graph.nodes))
    rows = torch.tensor(graph.nodes.index[graph.nodes.kind == "logit"].tolist())
    probs = graph.logits[-1].softmax(-1)[torch.tensor(graph.nodes.feature[rows.tolist()].tolist())]
    w[rows] = probs / probs.sum()
    return w


def influence(graph: AttributionGraph) -> Float[Tensor, " nodes"]:
    """Each node's influence on the logits through every path: ``w @ (N + N^2 + ...)`` with ``N`` the row-normalised
    |adjacency| and ``w`` the logits' probabilities (the logits themselves get their weight)."""
    n = _normalized(graph)
    w = _logit_weights(graph)
    eye = torch.eye(len(n))
    total = torch.linalg.solve((eye - n).T, w)  # w (I - N)^-1 = w + w N + w N^2 + ...
    return total


def graph_scores(graph: AttributionGraph) -> dict[str, float]:
    """circuit-tracer's two scores. ``replacement``: the share of the logits' influence that starts at token
    embeddings rather than error nodes (1: the transcoders explain everything end to end). ``completeness``: the
    influence-weighted share of each node's direct input that comes from non-error nodes."""
    inf = influence(graph)
    kind = graph.nodes.kind.to_numpy()
    embed, error = torch.tensor(kind == "embed"), torch.tensor(kind == "error")
    replacement = float(inf[embed].sum() / (inf[embed].sum() + inf[error].sum()).clamp(min=1e-12))
    n = _normalized(graph)
    inner = torch.tensor((kind == "feature") | (kind == "logit"))
    has_input = n.sum(1) > 0
    chosen = inner & has_input
    from_error = n[:, error].sum(1)
    weights = inf[chosen] / inf[chosen].sum().clamp(min=1e-12)
    completeness = float((weights * (1 - from_error[chosen])).sum())
    return {"replacement": replacement, "completeness": completeness}


def prune(graph: AttributionGraph, node_threshold: float = 0.8, edge_threshold: float = 0.98) -> AttributionGraph:
    """The graph cut to the feature and error nodes carrying ``node_threshold`` of the cumulative influence on the
    logits (embeddings and logits always kept), then to the edges carrying ``edge_threshold`` of the kept edges'
    influence-weighted mass (circuit-tracer's defaults: 0.8 and 0.98)."""
    inf = influence(graph)
    kind = graph.nodes.kind.to_numpy()
    prunable = torch.tensor((kind == "feature") | (kind == "error"))
    order = torch.argsort(inf.masked_fill(~prunable, -1), descending=True)[: int(prunable.sum())]
    cumulative = inf[order].cumsum(0) / inf[prunable].sum().clamp(min=1e-12)
    keep = ~prunable
    keep[order[: int((cumulative < node_threshold).sum()) + 1]] = True
    idx = torch.nonzero(keep).flatten()
    adj = graph.adjacency[idx][:, idx].clone()
    edge_score = (_normalized(graph)[idx][:, idx] * inf[idx][:, None]).flatten()
    if edge_score.sum() > 0:
        ranked = torch.argsort(edge_score, descending=True)
        mass = edge_score[ranked].cumsum(0) / edge_score.sum()
        drop = ranked[int((mass < edge_threshold).sum()) + 1 :]
        adj.view(-1)[drop] = 0.0
    return AttributionGraph(graph.nodes.iloc[idx.tolist()].reset_index(drop=True), adj, graph.logits)


@torch.no_grad()
def intervene(model: HookedTransformer, transcoders: Sequence[SAE] | CrossLayerTranscoder, tokens: Int[Tensor, " pos"],
              edits: dict[tuple[int, int, int], float], freeze_attention: bool = True) -> Float[Tensor, "pos vocab"]:
    """Logits with features set by ``edits`` ({(layer, pos, feature): value}) in the replacement model, every
    later feature recomputed by its encoder and each MLP's error held at its value on the unedited prompt (no
    edit: the model's own logits). ``freeze_attention``: attention patterns and LayerNorm scales held as on the
    unedited prompt (the linear world the graph's edges live in) or left to respond (the model's own answer to the
    edit). ``intervene(model, tcs, tokens, {(0, 3, 17): 0.0})``"""
    rep = _Replacement(model, transcoders, tokens.to(model.cfg.device))
    feats: list[Tensor] = []
    mlp_in: dict[int, Tensor] = {}

    def keep_in(act: Tensor, hook, layer: int) -> None:
        mlp_in[layer] = act
        f = rep.tcs[layer].encode(act[0]).float()
        for (lay, p, i), value in edits.items():
            if lay == layer:
                f[p, i] = value
        feats.append(f)

    def mlp_out(act: Tensor, hook, layer: int) -> Tensor:
        return (rep.dicts.output(layer, feats, mlp_in[layer][0]) + rep.errors[layer])[None].to(act.dtype)

    hooks = [(n, lambda a, hook: rep.frozen[hook.name]) for n in rep.frozen] if freeze_attention else []
    for layer in range(len(rep.tcs)):
        hooks += [(f"blocks.{layer}.ln2.hook_normalized", lambda a, hook, layer=layer: keep_in(a, hook, layer)),
                  (f"blocks.{layer}.hook_mlp_out", lambda a, hook, layer=layer: mlp_out(a, hook, layer))]
    with model.hooks(fwd_hooks=hooks):
        return model(rep.tokens)[0]

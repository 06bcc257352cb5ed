"""Attribution graphs of one prompt from per-layer transcoders or a cross-layer transcoder (Dunefsky et al. 2024;
Ameisen et al. 2025, as circuit-tracer builds them), with circuit-tracer's influence pruning and replacement /
completeness scores (same definitions: bench/attribution_graph.py gets its masks and scores on its graphs), and
feature interventions. The HTML view is ``graph_view.py``; the command ``interp graph``, ``graph_run.py``.

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


class _Transpose:
    """The transpose of the frozen replacement model, written out: gradients of a batch of targets at every
    residual stream point, propagated down the layers by hand (LayerNorm with its frozen scale, attention's OV path
    with its frozen pattern, a skip transcoder's linear path; nothing through the features, which are leaves).

    Written out rather than taken by autograd: the model is linear once frozen, so its transpose is a few einsums per
    layer, with no hooks and no graph to record. circuit-tracer runs ordinary backward passes through a batch of
    prompt copies; ours before was autograd's batched vector-Jacobian products (``is_grads_batched``). On
    bench/attribution_graph.py (1 CPU thread) this is 3.6-4.6x faster than circuit-tracer's and ~15x faster than the
    batched VJPs (bench/RESULTS.md).
    ``tests/test_attribution_graph.py`` checks every kind of edge against the hooked forward (``_Replacement.forward``)."""

    def __init__(self, rep: _Replacement) -> None:
        model, cfg = rep.model, rep.model.cfg
        if cfg.parallel_attn_mlp or getattr(cfg, "n_key_value_heads", None) or cfg.positional_embedding_type != "standard" \
                or cfg.normalization_type not in ("LN", "LNPre", "RMS", "RMSPre"):
            raise InputError("Attribution graphs take GPT-2-style blocks (attention then MLP, one key/value per head, "
                             "learned positions, LayerNorm or RMSNorm); this model has "
                             f"parallel_attn_mlp={cfg.parallel_attn_mlp}, n_key_value_heads={cfg.n_key_value_heads}, "
                             f"positional_embedding_type={cfg.positional_embedding_type!r}, "
                             f"normalization_type={cfg.normalization_type!r}.")
        self.rep, self.model = rep, model
        self.center = cfg.normalization_type in ("LN", "LNPre")

    def _ln(self, g: Tensor, ln, scale_name: str, weighted: bool = True) -> Tensor:
        """The transpose of a LayerNorm with its scale frozen: ``center(w * g / scale)``. ``weighted=False`` for a
        reader of ``hook_normalized``, which TransformerLens takes before the weight (the transcoders)."""
        if weighted and hasattr(ln, "w"):
            g = g * ln.w.float()
        g = g / self.rep.frozen[scale_name][0].float()
        return g - g.mean(-1, keepdim=True) if self.center else g

    def _attention(self, g: Float[Tensor, "b pos d"], layer: int) -> Float[Tensor, "b pos d"]:
        """The gradient reaching the residual stream before attention ``layer`` through its OV path."""
        attn = self.model.blocks[layer].attn
        pattern = self.rep.frozen[f"blocks.{layer}.attn.hook_pattern"][0].float()  # [head, q, k]
        gz = torch.einsum("bqd,hed->bhqe", g, attn.W_O.float())
        gv = torch.einsum("hqk,bhqe->bhke", pattern, gz)
        gx = torch.einsum("bhke,hde->bkd", gv, attn.W_V.float())
        return self._ln(gx, self.model.blocks[layer].ln1, f"blocks.{layer}.ln1.hook_scale")

    def gradients(self, logit_seeds: Float[Tensor, "b d"] | None, feature_seeds: list[tuple[Tensor, Tensor, Tensor]],
                  n: int) -> tuple[list[Tensor], Tensor]:
        """For ``n`` targets: the gradient at each MLP output (= residual stream after layer l) [layer][b, pos, d]
        and at the embeddings [b, pos, d]. ``logit_seeds``: (rows, directions at ln_final's output, last position);
        ``feature_seeds[layer]``: (rows, positions, directions at ln2's output) of that layer's targets."""
        rep, n_layers = self.rep, len(self.rep.tcs)
        pos, d = rep.embed.shape
        g = rep.embed.new_zeros(n, pos, d)
        if logit_seeds is not None:
            rows, vecs = logit_seeds
            g[rows, -1] = vecs
            g = self._ln(g, self.model.ln_final, "ln_final.hook_scale")
        post: list[Tensor] = [g] * n_layers
        for layer in reversed(range(n_layers)):
            post[layer] = g
            block, tc = self.model.blocks[layer], rep.tcs[layer]
            g_in = g.new_zeros(n, pos, d)  # at ln2's output: the skip path and this layer's targets
            if rep.dicts.clt is None and tc.cfg.skip:
                g_in = g_in + g @ tc.W_skip.to(g.dtype)
            rows, p, vecs = feature_seeds[layer]
            if len(rows):
                g_in[rows, p] += vecs
            g = g + self._ln(g_in, block.ln2, f"blocks.{layer}.ln2.hook_scale", weighted=False)
            g = g + self._attention(g, layer)
        return post, g


@torch.no_grad()
def attribution_graph(model: HookedTransformer, transcoders: Sequence[SAE] | CrossLayerTranscoder,
                      tokens: Int[Tensor, " pos"], n_logits: int = 3, max_nodes: int = 8192, batch_size: int = 512,
                      progress: bool = False) -> AttributionGraph:
    """Nodes and exact direct effects for one prompt. ``transcoders``: one MLP transcoder per layer (skip
    transcoders too), or a cross-layer transcoder. Targets: every active feature's pre-activation and the
    ``n_logits`` most likely next tokens at the last position (their raw logits). Sources: each position's
    embedding (token + position), every active feature, every error node. Targets go ``batch_size`` at a time
    through the model's transpose (fewer when their gradients would pass ~1 GB).
    ``max_nodes``: a larger graph is refused before its ``nodes x nodes`` matrix is allocated."""
    rep = _Replacement(model, transcoders, tokens.to(model.cfg.device))
    transpose = _Transpose(rep)
    pos = tokens.shape[0]
    n_layers = len(rep.tcs)
    rows = [dict(kind="embed", layer=-1, pos=p, feature=int(tokens[p]), value=float("nan")) for p in range(pos)]
    active = [torch.nonzero(f > 0) for f in rep.feats]  # [n_l, 2] (pos, feature), position-major
    for layer, idx in enumerate(active):
        p, i = idx.T.tolist() if len(idx) else ([], [])
        vals = rep.feats[layer][idx[:, 0], idx[:, 1]].tolist()
        rows += [dict(kind="feature", layer=layer, pos=a, feature=b, value=v) for a, b, v in zip(p, i, vals, strict=True)]
    rows += [dict(kind="error", layer=layer, pos=p, feature=-1, value=float(rep.errors[layer][p].norm()))
             for layer in range(n_layers) for p in range(pos)]
    top = rep.clean_logits[0, -1].topk(n_logits).indices
    rows += [dict(kind="logit", layer=n_layers, pos=pos - 1, feature=int(t), value=float(rep.clean_logits[0, -1, t]))
             for t in top]
    nodes = pd.DataFrame(rows)
    if len(nodes) > max_nodes:
        raise InputError(f"This prompt's graph has {len(nodes):,} nodes (its matrix {len(nodes) ** 2 * 4 / 1e9:.1f} GB), "
                         f"over max_nodes={max_nodes:,}: use a shorter prompt or sparser transcoders, or raise "
                         "max_nodes (--max-nodes).")
    counts = [len(idx) for idx in active]
    n_embed, n_feat, n_err = pos, sum(counts), n_layers * pos
    starts = [n_embed + sum(counts[:layer]) for layer in range(n_layers)]
    adjacency = torch.zeros(len(nodes), len(nodes))
    # targets: every active feature (by layer), then the logits; each target's direction at its reading point
    target_layer = torch.cat([torch.full((c,), layer) for layer, c in enumerate(counts)] + [torch.full((len(top),), n_layers)])
    target_rows = list(range(n_embed, n_embed + n_feat)) + list(range(n_embed + n_feat + n_err, len(nodes)))
    enc_dirs = [rep.tcs[layer].W_enc[:, idx[:, 1]].T.float() for layer, idx in enumerate(active)]  # [n_l, d]
    # every source's writing vector(s): features' decoder rows (a CLT's into each layer from its own), errors, embeds
    dec = _decoder_rows(rep, active)
    acts = [f[idx[:, 0], idx[:, 1]] for f, idx in zip(rep.feats, active, strict=True)]
    embed = rep.embed + rep.pos_embed
    n_targets = len(target_rows)
    per_target = 4 * (n_layers + 1) * pos * embed.shape[1]
    step = max(1, min(batch_size, 2**30 // per_target))
    for start in tqdm(range(0, n_targets, step), desc="attribution", disable=not progress):
        stop = min(start + step, n_targets)
        n = stop - start
        layer_of = target_layer[start:stop]
        seeds = []
        for layer in range(n_layers):
            sel = torch.nonzero(layer_of == layer).flatten()
            j = sel + start - starts[layer] + n_embed  # index within the layer's active features
            seeds.append((sel, active[layer][j, 0], enc_dirs[layer][j]))
        sel = torch.nonzero(layer_of == n_layers).flatten()
        logit_seeds = (sel, model.W_U[:, top[sel + start - n_feat]].T.float()) if len(sel) else None
        post, g0 = transpose.gradients(logit_seeds, seeds, n)
        block = torch.zeros(n, len(nodes))
        block[:, :n_embed] = (g0 * embed).sum(-1)
        for layer in range(n_layers):
            # a feature's column: activation x (its gradient at (each layer it writes, its position) . decoder row),
            # one matmul per position (the features are position-major)
            col = starts[layer]
            for p, width in zip(*torch.unique_consecutive(active[layer][:, 0], return_counts=True), strict=True):
                g = torch.cat([post[out][:, p] for out in range(layer, layer + dec[layer].shape[1])], -1)
                cols = slice(col - starts[layer], col - starts[layer] + width)
                block[:, col : col + width] = g @ dec[layer][cols].flatten(1).T * acts[layer][cols]
                col += width
            first = n_embed + n_feat + layer * pos
            block[:, first : first + pos] = (post[layer] * rep.errors[layer]).sum(-1)
        adjacency[target_rows[start:stop]] = block
    return AttributionGraph(nodes, adjacency, rep.clean_logits[0])


def _decoder_rows(rep: _Replacement, active: list[Tensor]) -> list[Float[Tensor, "n n_out d"]]:
    """Each layer's active features' decoder rows into the MLP output of every layer they write (one for a
    transcoder; layers l..L-1 for a CLT's layer l)."""
    if rep.dicts.clt is None:
        return [tc.W_dec[idx[:, 1]][:, None].float() for tc, idx in zip(rep.tcs, active, strict=True)]
    return [rep.dicts.clt.W_dec(layer)[idx[:, 1]].float() for layer, idx in enumerate(active)]


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
    """Each node's influence on the logits through every path: ``w @ (I + N + N^2 + ...)`` with ``N`` the
    row-normalised |adjacency| and ``w`` the logits' probabilities (a logit's influence is its own weight; every
    other node's is circuit-tracer's ``w @ (N + N^2 + ...)``)."""
    n = _normalized(graph)
    return torch.linalg.solve((torch.eye(len(n)) - n).T, _logit_weights(graph))  # w (I - N)^-1


def _kinds(graph: AttributionGraph, *kinds: str) -> Tensor:
    return torch.tensor(graph.nodes.kind.isin(kinds).to_numpy())


def graph_scores(graph: AttributionGraph) -> dict[str, float]:
    """circuit-tracer's two scores, as it defines them. ``replacement``: the share of the logits' influence that
    starts at token embeddings rather than error nodes (1: the transcoders explain everything end to end).
    ``completeness``: over every node, the share of its direct input that comes from non-error nodes (1 for nodes
    without inputs), weighted by its influence."""
    inf = influence(graph)
    path = inf - _logit_weights(graph)
    embed, error = _kinds(graph, "embed"), _kinds(graph, "error")
    replacement = float(path[embed].sum() / (path[embed].sum() + path[error].sum()).clamp(min=1e-12))
    non_error = 1 - _normalized(graph)[:, error].sum(1)
    completeness = float((non_error * inf).sum() / inf.sum().clamp(min=1e-12))
    return {"replacement": replacement, "completeness": completeness}


def _threshold(scores: Tensor, fraction: float) -> float:
    """The lowest score among the highest ones that together carry ``fraction`` of the total."""
    ranked = scores.sort(descending=True).values
    if not ranked.sum() > 0:
        return 0.0
    cumulative = ranked.cumsum(0) / ranked.sum()
    return float(ranked[min(int(torch.searchsorted(cumulative, fraction)), len(ranked) - 1)])


def prune(graph: AttributionGraph, node_threshold: float = 0.8, edge_threshold: float = 0.98) -> AttributionGraph:
    """circuit-tracer's pruning (its defaults 0.8 and 0.98; ``bench/attribution_graph.py`` checks the same masks on
    the same graph): keep the nodes whose influence on the logits is among the highest carrying ``node_threshold``
    of every node's influence (embeddings and logits always kept); on the graph of those, keep the edges whose
    influence-weighted normalised weight is among the highest carrying ``edge_threshold`` of the total; then drop,
    until none is left, feature and error nodes without a kept outgoing edge and features without a kept incoming
    one. Dropped edges are zero in the returned graph's adjacency."""
    if not (0 <= node_threshold <= 1 and 0 <= edge_threshold <= 1):
        raise InputError(f"node_threshold={node_threshold} and edge_threshold={edge_threshold} must lie in [0, 1].")
    weights = _logit_weights(graph)
    node_inf = influence(graph) - weights
    always, prunable, feature = _kinds(graph, "embed", "logit"), _kinds(graph, "feature", "error"), _kinds(graph, "feature")
    keep = (node_inf >= _threshold(node_inf, node_threshold)) | always
    kept = graph.adjacency * keep[:, None] * keep[None, :]
    norm = kept.abs() / kept.abs().sum(1, keepdim=True).clamp(min=1e-12)
    edge_inf = torch.linalg.solve((torch.eye(len(norm)) - norm).T, weights)
    scores = norm * edge_inf[:, None]
    # (an edge of weight 0 is no edge, even where a threshold of 1 puts the cut at 0)
    edges = (scores >= _threshold(scores.flatten(), edge_threshold)) & (scores > 0) & keep[:, None] & keep[None, :]
    while True:
        new = keep & ~(prunable & ~edges.any(0)) & ~(feature & ~edges.any(1))
        if torch.equal(new, keep):
            break
        keep = new
        edges &= keep[:, None] & keep[None, :]
    idx = torch.nonzero(keep).flatten()
    adj = (graph.adjacency * edges)[idx][:, idx]
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

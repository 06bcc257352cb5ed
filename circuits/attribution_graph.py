"""Attribution graphs of one prompt from per-layer transcoders (Dunefsky et al. 2024; Ameisen et al. 2025, as
circuit-tracer builds them): the first part of issue 21 (pruning, scores, HTML view and the CLI come next).

The local replacement model: every MLP replaced by its transcoder plus an error node (the transcoder's miss on
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


@dataclass
class AttributionGraph:
    """Nodes (one row each) and the direct-effect matrix ``adjacency[target, source]``."""

    nodes: pd.DataFrame
    adjacency: Float[Tensor, "nodes nodes"]
    logits: Float[Tensor, "pos vocab"]  # the replacement model's logits (equal to the model's)


def _check(model: HookedTransformer, transcoders: Sequence[SAE], tokens: Tensor) -> None:
    if len(transcoders) != model.cfg.n_layers:
        raise InputError(f"Give one transcoder per layer ({model.cfg.n_layers}), in layer order; got "
                         f"{len(transcoders)}.")
    for layer, tc in enumerate(transcoders):
        want = (f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out")
        if (tc.cfg.hook_name, tc.cfg.hook_name_out) != want:
            raise InputError(f"Transcoder {layer} reads {tc.cfg.hook_name} -> {tc.cfg.hook_name_out}; the graph "
                             f"needs {want[0]} -> {want[1]} (an MLP transcoder of that layer).")
    if tokens.dim() != 1:
        raise InputError(f"One prompt at a time: tokens of shape [pos], got {tuple(tokens.shape)}.")


class _Replacement:
    """The frozen forward of one prompt, its leaves (embeddings, features, errors) and the recorded targets."""

    def __init__(self, model: HookedTransformer, transcoders: Sequence[SAE], tokens: Tensor) -> None:
        self.model, self.tcs, self.tokens = model, list(transcoders), tokens[None]
        names = ("hook_scale", "hook_pattern", "ln2.hook_normalized", "hook_mlp_out", "hook_embed", "hook_pos_embed")
        with torch.no_grad():
            self.clean_logits, cache = model.run_with_cache(self.tokens, names_filter=lambda n: n.endswith(names))
        self.frozen = {n: t.detach() for n, t in cache.items() if n.endswith(("hook_scale", "hook_pattern"))}
        self.embed = cache["hook_embed"][0].detach()
        self.pos_embed = cache["hook_pos_embed"][0].detach()
        self.feats, self.errors = [], []
        with torch.no_grad():
            for layer, tc in enumerate(self.tcs):
                x = cache[f"blocks.{layer}.ln2.hook_normalized"][0]
                f = tc.encode(x).float()
                recon = tc.decode(f) + tc.skip_out(x)
                self.feats.append(f)
                self.errors.append((cache[f"blocks.{layer}.hook_mlp_out"][0] - recon).float())

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
            tc = self.tcs[layer]
            out = leaves["feats"][layer] @ tc.W_dec + tc.b_dec + tc.skip_out(mlp_in[layer][0]) + leaves["errors"][layer]
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


def attribution_graph(model: HookedTransformer, transcoders: Sequence[SAE], tokens: Int[Tensor, " pos"],
                      n_logits: int = 3, progress: bool = False) -> AttributionGraph:
    """Nodes and exact direct effects for one prompt. Targets: every active feature's pre-activation and the
    ``n_logits`` most likely next tokens at the last position (their raw logits). Sources: each position's
    embedding (token + position), every active feature, every error node. One backward pass per target."""
    _check(model, transcoders, tokens)
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
    n_embed, n_feat = pos, len(feature_index)
    n_err = len(rep.tcs) * pos
    adjacency = torch.zeros(len(nodes), len(nodes))
    leaves = rep.leaves(requires_grad=True)
    logits, pre = rep.forward(leaves)
    targets = [(n_embed + j, pre[layer][p, i]) for j, (layer, p, i) in enumerate(feature_index)]
    targets += [(n_embed + n_feat + n_err + j, logits[-1, t]) for j, t in enumerate(top)]
    flat = [leaves["embed"], leaves["pos_embed"], *leaves["feats"], *leaves["errors"]]
    for row, target in tqdm(targets, desc="attribution", disable=not progress):
        grads = torch.autograd.grad(target, flat, retain_graph=True, allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, flat, strict=True)]
        g_embed, g_pos = grads[0], grads[1]
        g_feats, g_errs = grads[2 : 2 + len(rep.tcs)], grads[2 + len(rep.tcs):]
        adjacency[row, :n_embed] = (g_embed * rep.embed).sum(-1) + (g_pos * rep.pos_embed).sum(-1)
        for j, (layer, p, i) in enumerate(feature_index):
            adjacency[row, n_embed + j] = g_feats[layer][p, i] * rep.feats[layer][p, i]
        for layer in range(len(rep.tcs)):
            start = n_embed + n_feat + layer * pos
            adjacency[row, start : start + pos] = (g_errs[layer] * rep.errors[layer]).sum(-1)
    return AttributionGraph(nodes, adjacency.detach(), logits.detach())

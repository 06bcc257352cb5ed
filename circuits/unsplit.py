"""Edge-attribution gradients from one ordinary forward and backward pass, without TransformerLens' split inputs.

EAP needs the gradient at every head's query, key and value input separately. TransformerLens gives those inputs
their own tensors with ``use_split_qkv_input``, which copies the residual stream per head and runs LayerNorm on
each copy: on an 8-layer, 16-head model that forward pass is 9x slower than the ordinary one. At the clean point all
of a layer's per-head inputs are the same vector, so the per-head gradient can be rebuilt exactly from the ordinary
pass: the gradient at head h's query ``dq_h`` maps back through ``W_Q[h]`` and then through LayerNorm's Jacobian
(``dx = (g - mean g - x_hat * mean(g * x_hat)) / scale``, with ``g = w * dq_h W_Q[h]^T``), which is linear and shared
by the heads. ``tests/test_circuits.py`` checks the result against the split pass (``attribute._accumulate``).

Node outputs are rebuilt the same way: a head's output is ``z_h W_O[h]`` (``hook_result`` without the per-head
tensor). Used by EAP, EAP-IG (inputs) and ``upstream_outputs``; the edge-patched runs keep the split inputs, since
there the heads' inputs really differ.

>>> scores = unsplit_scores(model, shape, tokens, delta, metric, scores, input_hook)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from jaxtyping import Float
from torch import Tensor

from circuits.graph import QKV, GraphShape
from interp.analysis.patching.metrics import Metric, scalar
from interp.models.tl import HookedTransformer


def supports_unsplit(model: HookedTransformer) -> bool:
    """The rebuild assumes GPT-2-style attention (no rotary, own keys per head) and LayerNorm, LNPre or none."""
    cfg = model.cfg
    return (cfg.positional_embedding_type in ("standard", "shortformer") and
            getattr(cfg, "n_key_value_heads", None) in (None, cfg.n_heads) and
            cfg.normalization_type in ("LN", "LNPre", None) and not cfg.use_split_qkv_input)


@contextmanager
def mlp_in_hook(model: HookedTransformer) -> Iterator[None]:
    """``hook_mlp_in`` on (a clone of the residual stream: its gradient is the MLP path's alone)."""
    saved = model.cfg.use_hook_mlp_in
    if not model.cfg.attn_only:
        model.set_use_hook_mlp_in(True)
    try:
        yield
    finally:
        if not model.cfg.attn_only:
            model.set_use_hook_mlp_in(saved)
        model.reset_hooks()


def output_hooks(model: HookedTransformer, shape: GraphShape, sink) -> list:
    """Forward hooks calling ``sink(first_upstream_index, outputs [b, p, n, d])`` with each node group's output."""
    def head_out(layer: int):
        def hook(z: Tensor, hook) -> None:
            sink(shape.head_up(layer), torch.einsum("bphe,hed->bphd", z.detach(), model.blocks[layer].attn.W_O))
        return hook

    hooks = [("blocks.0.hook_resid_pre", lambda act, hook: sink(0, act.detach()[:, :, None]))]
    for layer in range(shape.n_layers):
        hooks.append((f"blocks.{layer}.attn.hook_z", head_out(layer)))
        if shape.has_mlp:
            hooks.append((f"blocks.{layer}.hook_mlp_out",
                          lambda act, hook, i=shape.mlp_up(layer): sink(i, act.detach()[:, :, None])))
    return hooks


def _ln_backward(grad: Float[Tensor, "b p h d"], x_hat: Float[Tensor, "b p d"], scale: Float[Tensor, "b p 1"],
                 w: Tensor | None) -> Float[Tensor, "b p h d"]:
    g = grad * w if w is not None else grad
    x_hat, scale = x_hat[:, :, None], scale[:, :, None]
    return (g - g.mean(-1, keepdim=True) - x_hat * (g * x_hat).mean(-1, keepdim=True)) / scale


def unsplit_scores(model: HookedTransformer, shape: GraphShape, tokens: Tensor,
                   delta_fn: Callable[[], Float[Tensor, "up bpd"]], metric: Metric,
                   scores: Float[Tensor, "pos up down"], fwd_hooks: list, capture=None) -> float:
    """One ordinary forward and backward; adds ``delta . grad`` at every downstream input into ``scores``.

    ``delta_fn()``: each upstream node's ablated-minus-clean output, flattened ``[up, batch*pos*d]``; it is first
    called in the backward pass, so ``capture(first, nodes)`` (called with every node group's output in the
    forward pass) can provide the clean outputs from this same pass."""
    per_pos = scores.shape[0] > 1
    b, p = tokens.shape
    d = model.cfg.d_model
    saved: dict[tuple[int, str], Tensor] = {}
    cached: list[Tensor] = []

    def add(down: slice, bound: int, g: Float[Tensor, "b p v d"]) -> None:
        if not cached:
            cached.append(delta_fn())
        delta = cached[0]
        if per_pos:
            scores[..., :bound, down] += torch.einsum("ubpd,bpvd->puv", delta[:bound].view(bound, b, p, d), g)
        else:
            scores[0, :bound, down] += delta[:bound] @ g.permute(0, 1, 3, 2).reshape(b * p * d, -1)

    def keep(layer: int, what: str):
        def hook(act: Tensor, hook) -> None:
            saved[layer, what] = act.detach()
        return hook

    def qkv_grad(layer: int, which: str):
        def hook(grad: Tensor, hook) -> None:
            attn = model.blocks[layer].attn
            g = torch.einsum("bphe,hde->bphd", grad, getattr(attn, f"W_{which.upper()}"))
            if shape_norm := model.cfg.normalization_type:
                ln = model.blocks[layer].ln1
                g = _ln_backward(g, saved[layer, "x_hat"], saved[layer, "scale"], ln.w if shape_norm == "LN" else None)
            add(shape.qkv_down(layer, which), shape.attn_up(layer), g)
        return hook

    def plain_grad(down: int, bound: int):
        return lambda grad, hook: add(slice(down, down + 1), bound, grad[:, :, None])

    fwd, bwd = list(fwd_hooks), []
    if model.cfg.normalization_type:
        for layer in range(shape.n_layers):
            fwd += [(f"blocks.{layer}.ln1.hook_normalized", keep(layer, "x_hat")),
                    (f"blocks.{layer}.ln1.hook_scale", keep(layer, "scale"))]
    if capture is not None:
        fwd += output_hooks(model, shape, capture)
    for layer in range(shape.n_layers):
        bwd += [(f"blocks.{layer}.attn.hook_{x}", qkv_grad(layer, x)) for x in QKV]
        if shape.has_mlp:
            bwd.append((f"blocks.{layer}.hook_mlp_in", plain_grad(shape.mlp_down(layer), shape.mlp_up(layer))))
    bwd.append((f"blocks.{shape.n_layers - 1}.hook_resid_post", plain_grad(shape.logits_down, len(shape.upstream))))
    with mlp_in_hook(model), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        value = scalar(metric(model(tokens)), "circuit metric")
        value.backward()
    return float(value.detach())

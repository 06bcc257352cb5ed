"""Direct logit attribution: how much each component writes along an answer's unembedding direction.

Components: token and position embeddings, every attention head, each layer's attention-output bias, every MLP
(or every neuron), the final LayerNorm bias and the unembedding bias. With the final LayerNorm scale frozen at
its value in the real forward pass (the default), the components sum exactly to the logit (difference).

>>> attr = direct_logit_attribution(model, tokens, answer=io_ids, wrong=s_ids)   # logit difference IO - S
>>> attr.top(5)
[('L1H3', 2.1), ...]
>>> attr.error   # sum of components minus the real logit difference (~1e-6 with the frozen scale)
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.errors import InputError
from interp.models.tl import ActivationCache, HookedTransformer


@dataclass
class Attribution:
    labels: list[str]
    values: Float[Tensor, "component batch"]  # contribution of each component, per prompt
    target: Float[Tensor, " batch"]  # the real logit (difference)
    error: float  # max |sum of components - target| over the batch

    def mean(self) -> dict[str, float]:
        return dict(zip(self.labels, self.values.mean(1).tolist(), strict=True))

    def top(self, k: int = 10) -> list[tuple[str, float]]:
        return sorted(self.mean().items(), key=lambda kv: -abs(kv[1]))[:k]

    def heads(self) -> Float[Tensor, "layer head"]:
        """Mean per-head contributions as a [n_layers, n_heads] grid."""
        cells = [(lab, v) for lab, v in self.mean().items() if lab.startswith("L") and "H" in lab]
        n_layers = 1 + max(int(lab[1:].split("H")[0]) for lab, _ in cells)
        n_heads = 1 + max(int(lab.split("H")[1]) for lab, _ in cells)
        grid = torch.zeros(n_layers, n_heads)
        for lab, v in cells:
            layer, head = lab[1:].split("H")
            grid[int(layer), int(head)] = v
        return grid


def _direction(model: HookedTransformer, answer: Tensor, wrong: Tensor | None) -> tuple[Tensor, Tensor]:
    """Unembedding direction [batch, d_model] and bias term [batch] for the logit (difference)."""
    u = model.W_U[:, answer].T
    bias = model.b_U[answer]
    if wrong is not None:
        u = u - model.W_U[:, wrong].T
        bias = bias - model.b_U[wrong]
    return u, bias


@torch.no_grad()
def direct_logit_attribution(
    model: HookedTransformer, tokens: Int[Tensor, "batch pos"], answer: Int[Tensor, " batch"] | int,
    wrong: Int[Tensor, " batch"] | int | None = None, position: int | Int[Tensor, " batch"] = -1,
    neurons: bool = False, ln_scale: str = "frozen", cache: ActivationCache | None = None,
) -> Attribution:
    """Per-component contributions to ``logit[answer] - logit[wrong]`` at ``position``.

    ``ln_scale='frozen'`` divides every component by the final LayerNorm scale of its own prompt (exact);
    ``'batch_mean'`` uses the scale averaged over the batch, as attributions over many prompts often do; the
    returned ``error`` then shows what that approximation costs.
    """
    B = tokens.shape[0]
    answer = torch.as_tensor(answer).expand(B) if torch.as_tensor(answer).dim() == 0 else torch.as_tensor(answer)
    if wrong is not None:
        wrong = torch.as_tensor(wrong).expand(B) if torch.as_tensor(wrong).dim() == 0 else torch.as_tensor(wrong)
    if answer.shape[0] != B:
        raise InputError(f"answer has {answer.shape[0]} entries for a batch of {B} prompts; give one per prompt.")
    if cache is None:
        logits, cache = model.run_with_cache(tokens)
    else:
        logits = model(tokens)
    rows = torch.arange(B)
    pos = torch.as_tensor(position).expand(B) if torch.as_tensor(position).dim() == 0 else torch.as_tensor(position)
    pos = pos % tokens.shape[1]
    at = lambda name: cache[name][rows, pos]  # noqa: E731  [batch, ...] at the chosen position

    labels, comps = ["embed", "pos_embed"], [at("hook_embed"), at("hook_pos_embed")]
    cfg = model.cfg
    for layer in range(cfg.n_layers):
        z = at(f"blocks.{layer}.attn.hook_z")  # [batch, head, d_head]
        head_out = torch.einsum("bhd,hdm->hbm", z, model.W_O[layer])
        labels += [f"L{layer}H{h}" for h in range(cfg.n_heads)]
        comps += list(head_out)
        labels.append(f"L{layer} attn bias")
        comps.append(model.b_O[layer].expand(B, -1))
        if cfg.attn_only:
            continue
        if neurons:
            post = at(f"blocks.{layer}.mlp.hook_post")  # [batch, d_mlp]
            neuron_out = torch.einsum("bn,nm->nbm", post, model.W_out[layer])
            labels += [f"L{layer}N{n}" for n in range(cfg.d_mlp)]
            comps += list(neuron_out)
            labels.append(f"L{layer} mlp bias")
            comps.append(model.b_out[layer].expand(B, -1))
        else:
            labels.append(f"MLP{layer}")
            comps.append(at(f"blocks.{layer}.hook_mlp_out"))
    stack = torch.stack(comps)  # [component, batch, d_model]
    u, b_u = _direction(model, answer, wrong)
    if cfg.normalization_type in ("LN", "LNPre"):
        scale = at("ln_final.hook_scale")  # [batch, 1]
        if ln_scale == "batch_mean":
            scale = scale.mean(0, keepdim=True).expand_as(scale)
        elif ln_scale != "frozen":
            raise InputError(f"ln_scale={ln_scale!r}: use 'frozen' or 'batch_mean'.")
        w = model.ln_final.w if cfg.normalization_type == "LN" else torch.ones(cfg.d_model)
        b = model.ln_final.b if cfg.normalization_type == "LN" else torch.zeros(cfg.d_model)
        stack = (stack - stack.mean(-1, keepdim=True)) / scale
        values = torch.einsum("cbm,bm->cb", stack, u * w)
        extra = [("final LN bias", (u * b).sum(-1))]
    else:
        values = torch.einsum("cbm,bm->cb", stack, u)
        extra = []
    extra.append(("unembed bias", b_u))
    labels += [name for name, _ in extra]
    values = torch.cat([values, torch.stack([v for _, v in extra])])
    target = logits[rows, pos, answer] - (logits[rows, pos, wrong] if wrong is not None else 0)
    return Attribution(labels, values, target, float((values.sum(0) - target).abs().max()))


def plot_head_attribution(attr: Attribution, title: str = "Direct logit attribution per head") -> go.Figure:
    """Each head's mean direct contribution to the answer's logit (minus the wrong answer's), layer 0 at the
    bottom."""
    from interp.plots import heatmap

    grid = attr.heads()
    return heatmap(grid, [f"H{h}" for h in range(grid.shape[1])], [f"L{i}" for i in range(grid.shape[0])], title,
                   colorbar="logit contribution", x_title="head")

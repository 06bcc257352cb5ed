"""Head detectors: previous-token, duplicate-token and induction scores for every attention head.

A head's score is the attention mass it puts on the positions the pattern names, averaged over the query
positions where such a key exists (TransformerLens' head_detector idea, computed for all heads in one pass).
By default the scores are measured on BOS + random ordinary tokens repeated twice.

>>> scores = head_scores(model)                    # {"previous_token": [L, H], "duplicate_token": ..., ...}
>>> plot_head_scores(scores).show()
>>> head_scores_frame(model).sort_values("induction", ascending=False).head()   # one row per (layer, head)
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import torch
from jaxtyping import Bool, Float, Int
from plotly.subplots import make_subplots
from torch import Tensor

from interp.models.tl import HookedTransformer
from interp.plots import layer_axis

DETECTORS = ("previous_token", "duplicate_token", "induction")


def detector_masks(tokens: Int[Tensor, "batch pos"]) -> dict[str, Bool[Tensor, "batch q k"]]:
    """Which keys each detector looks for, from the tokens alone (causal: k <= q, BOS never counts)."""
    T = tokens.shape[1]
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    earlier = (k < q) & (k > 0)
    same = tokens[:, :, None] == tokens[:, None, :]  # [batch, q, k]
    prev_same = torch.zeros_like(same)
    prev_same[:, :, 1:] = tokens[:, :, None] == tokens[:, None, :-1]  # token before k equals token at q
    return {
        "previous_token": (k == q - 1).expand(tokens.shape[0], T, T) & (k > 0),
        "duplicate_token": same & earlier,
        "induction": prev_same & earlier & (k > 1),
    }


@torch.no_grad()
def head_scores(model: HookedTransformer, tokens: Int[Tensor, "batch pos"] | None = None, n_seqs: int = 32,
                half: int | None = None, seed: int = 0) -> dict[str, Float[Tensor, "layer head"]]:
    """Scores in [0, 1] for every head; ``tokens`` default to repeated random ordinary tokens."""
    if tokens is None:
        from interp.tasks.induction import repeated_tokens

        tokens = repeated_tokens(model, n_seqs, half or min(40, (model.cfg.n_ctx - 1) // 2), seed)
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens.to(model.cfg.device), names_filter=lambda n: n in names)
    masks = detector_masks(tokens.cpu())
    out = {}
    for kind, mask in masks.items():
        valid = mask.any(-1)  # queries that have a target key  [batch, q]
        per_layer = []
        for name in names:
            pattern = cache[name].cpu()  # [batch, head, q, k]
            mass = (pattern * mask[:, None]).sum(-1)  # [batch, head, q]
            per_layer.append((mass * valid[:, None]).sum((0, 2)) / valid.sum().clamp(min=1))
        out[kind] = torch.stack(per_layer)
    return out


def scores_to_frame(scores: dict[str, Float[Tensor, "layer head"]]) -> pd.DataFrame:
    """``head_scores``' dict as a table: one row per (layer, head), a ``head`` label ("L1H2") and a column per
    detector."""
    first = next(iter(scores.values()))
    L, H = first.shape
    frame = pd.DataFrame({"layer": [i // H for i in range(L * H)], "head": [i % H for i in range(L * H)]})
    frame.insert(0, "name", [f"L{layer}H{head}" for layer, head in zip(frame["layer"], frame["head"], strict=True)])
    for kind, grid in scores.items():
        frame[kind] = grid.float().flatten().cpu().numpy()
    return frame


def head_scores_frame(model: HookedTransformer, **kwargs) -> pd.DataFrame:
    """``head_scores(model, **kwargs)`` as a DataFrame: columns name, layer, head and one per detector."""
    return scores_to_frame(head_scores(model, **kwargs))


def plot_head_scores(scores: dict[str, Tensor]) -> go.Figure:
    """One heatmap per detector (layer 0 at the bottom), on one 0-1 colour scale."""
    fig = make_subplots(rows=1, cols=len(scores), subplot_titles=list(scores), horizontal_spacing=0.08)
    for i, grid in enumerate(scores.values(), start=1):
        layers = [f"L{layer}" for layer in range(grid.shape[0])]
        fig.add_trace(go.Heatmap(z=grid.numpy(), zmin=0, zmax=1, colorscale="Blues", showscale=i == len(scores),
                                 colorbar={"title": {"text": "attention mass (0-1)", "side": "right"}}, x=[f"H{h}" for h in range(grid.shape[1])],
                                 y=layers, hovertemplate="%{y}%{x}: %{z:.3f}<extra></extra>"), row=1, col=i)
        layer_axis(fig, layers, "layer" if i == 1 else "", row=1, col=i)
        fig.update_xaxes(title="head", row=1, col=i)
    fig.update_layout(title="Head detector scores (share of attention on the pattern's positions)",
                      template="plotly_white", height=max(300, 190 + 34 * grid.shape[0]))
    return fig

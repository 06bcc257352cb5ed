"""The logit lens: read every layer's residual stream through the model's own final LayerNorm and unembedding.

Unlike ``cache.accumulated_resid(apply_ln=True)`` (which reuses the final layer's LayerNorm scale, the right
choice for attribution), the lens recomputes the normalization for each intermediate residual, as the model
would if that residual were its last.

>>> lens_logits = logit_lens(model, "When Mary and John went to the store, John gave a drink to")
>>> kl = lens_kl(model, tokens)          # [n_layers + 1]: KL(final || lens) per layer
>>> plot_lens_kl({"logit lens": kl}).show()
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.models.tl import ActivationCache, HookedTransformer
from interp.plots import layer_axis


def residual_stack(model: HookedTransformer, tokens: Int[Tensor, "batch pos"] | str,
                   cache: ActivationCache | None = None) -> Float[Tensor, "layer batch pos d_model"]:
    """Residual stream before each block and after the last: ``[n_layers + 1, batch, pos, d_model]``."""
    if cache is None:
        names = [f"blocks.{i}.hook_resid_pre" for i in range(model.cfg.n_layers)]
        names.append(f"blocks.{model.cfg.n_layers - 1}.hook_resid_post")
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    return cache.accumulated_resid(incl_mid=False, apply_ln=False)


def lens_logits_from_resid(model: HookedTransformer, resid: Float[Tensor, "... d_model"]) -> Float[Tensor, "... vocab"]:
    """Apply the model's final normalization (recomputed on ``resid``; none if the model has none) and unembedding."""
    ln_final = getattr(model, "ln_final", None)
    return model.unembed(ln_final(resid) if ln_final is not None else resid)


@torch.no_grad()
def logit_lens(model: HookedTransformer, tokens: Int[Tensor, "batch pos"] | str,
               cache: ActivationCache | None = None) -> Float[Tensor, "layer batch pos vocab"]:
    """Logit-lens logits at every layer and position; the last layer equals the model's logits."""
    return lens_logits_from_resid(model, residual_stack(model, tokens, cache))


def kl_to_final(layer_logits: Float[Tensor, "layer batch pos vocab"],
                final_logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, " layer"]:
    """Mean KL(final || layer) per layer, in nats."""
    logp_final = final_logits.log_softmax(-1)
    logq = layer_logits.log_softmax(-1)
    return (logp_final.exp() * (logp_final - logq)).sum(-1).mean(dim=(1, 2))


@torch.no_grad()
def lens_kl(model: HookedTransformer, tokens: Int[Tensor, "batch pos"], lens=None) -> Float[Tensor, " layer"]:
    """KL to the final distribution at every layer, for the logit lens (``lens=None``) or a ``TunedLens``."""
    final = model(tokens)
    stack = residual_stack(model, tokens)
    if lens is not None:
        stack = lens.translate(stack)
    return kl_to_final(lens_logits_from_resid(model, stack), final)


def plot_lens_kl(curves: dict[str, Tensor], title: str = "KL to the final distribution") -> go.Figure:
    fig = go.Figure()
    for name, kl in curves.items():
        fig.add_trace(go.Scatter(x=list(range(len(kl))), y=kl.tolist(), mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title="layer (residual before block; last = after the final block)",
                      yaxis_title="KL (nats)", template="plotly_white", height=380)
    return fig


def plot_logit_lens(model: HookedTransformer, prompt: str | Int[Tensor, " pos"], top_k: int = 1) -> go.Figure:
    """Heatmap of the logit lens' top token (and its probability) at every layer and position of ``prompt``
    (a string, or one sequence of token ids)."""
    tokens = model.to_tokens(prompt) if isinstance(prompt, str) else prompt.reshape(1, -1)
    probs = logit_lens(model, tokens)[:, 0].softmax(-1)  # [layer, pos, vocab]
    top_p, top_i = probs.max(-1)
    text = [[model.tokenizer.decode([int(t)]) if model.tokenizer else str(int(t)) for t in row] for row in top_i]
    inputs = model.to_str_tokens(tokens[0]) if model.tokenizer else [str(int(t)) for t in tokens[0]]
    layers = [f"L{i}" for i in range(probs.shape[0] - 1)] + ["final"]
    fig = go.Figure(go.Heatmap(z=top_p.numpy(), text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
                               x=[f"{i}:{s}" for i, s in enumerate(inputs)], y=layers,
                               colorbar={"title": {"text": "p(top token)", "side": "right"}},
                               hovertemplate="%{y}, position %{x}<br>top token %{text}: p=%{z:.3f}<extra></extra>"))
    title = prompt if isinstance(prompt, str) else "".join(inputs)
    fig.update_layout(title=f"Logit lens: {title!r}", template="plotly_white", height=max(360, 170 + 40 * len(layers)),
                      xaxis={"title": "input position:token", "tickangle": -45})
    layer_axis(fig, layers, "residual stream entering layer")
    return fig

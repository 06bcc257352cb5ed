"""The figures of the greater-than study (``experiments/greater_than_features.py``, docs/greater-than-study.md):
plotly heatmaps written as PNG for the docs.

``save_figure`` writes PNG through kaleido: plotly's own ``write_image`` when it works (kaleido >= 1 needs a
browser), else kaleido 0.2.1's self-contained scope with plotly's bundled plotly.js (no browser, no network:
``pip install kaleido==0.2.1``, the ``figures`` extra), else HTML with a note.

>>> save_figure(go.Figure(go.Heatmap(z=[[1, 2]])), Path("docs/figures/x.png"))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from circuits.attribution_graph import prune
from circuits.graph_view import graph_figure

DIGITS = [str(d) for d in range(10)]


def save_figure(fig: go.Figure, path: Path) -> Path:
    """``path`` as PNG (1.5x scale), or ``path`` with .html when no PNG exporter works; returns what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = fig.layout.width or 900, fig.layout.height or 500
    try:
        fig.write_image(path, width=width, height=height, scale=1.5)
        return path
    except Exception:  # noqa: BLE001 - plotly 6+ wants kaleido>=1 and a browser; try the self-contained one
        pass
    try:
        import plotly
        from kaleido.scopes.plotly import PlotlyScope

        js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        scope = PlotlyScope(plotlyjs=str(js), mathjax=False)
        path.write_bytes(scope.transform(json.loads(fig.to_json()), format="png", width=width, height=height,
                                         scale=1.5))
        return path
    except Exception as e:  # noqa: BLE001
        print(f"no PNG export ({e}); writing HTML instead: pip install kaleido==0.2.1")
        fig.write_html(path.with_suffix(".html"), include_plotlyjs="cdn")
        return path.with_suffix(".html")


def heat(z, x, y, colorbar: str, zmid: float | None = None) -> go.Heatmap:
    """A heatmap trace: diverging colours around ``zmid`` when given, else Viridis."""
    return go.Heatmap(z=z, x=x, y=y, colorscale="RdBu_r" if zmid is not None else "Viridis", zmid=zmid,
                      colorbar=dict(title=colorbar), hovertemplate="%{y} / %{x}: %{z:.3f}<extra></extra>")


def label(key: tuple) -> str:
    """(layer, role, feature) -> 'L1 #363 (last)'."""
    layer, role, f = key
    return f"L{layer} #{f} ({role})"


def _one_scale(fig: go.Figure, last: bool = False) -> None:
    fig.update_traces(showscale=False)
    fig.data[-1 if last else 0].update(showscale=True)


def model_decades(probs: torch.Tensor) -> go.Figure:
    """P(next decade digit | start decade) [10, 10]: Hanna et al.'s figure for the model."""
    fig = go.Figure(heat(probs.numpy(), DIGITS, [f"{d}x" for d in range(10)], "probability"))
    fig.update_layout(title="The model: P(next decade digit | start decade)", height=430, width=560,
                      xaxis_title="end year's decade digit (next token)", yaxis_title="start year")
    return fig


def activation_by_year(panels: list[tuple[str, list[tuple], np.ndarray]], years: list[int]) -> go.Figure:
    """Per panel (title, feature keys, mean activation [n_features, n_years]): each row over its own max."""
    fig = make_subplots(rows=len(panels), cols=1, vertical_spacing=0.16, subplot_titles=[t for t, _, _ in panels])
    for row, (_, keys, z) in enumerate(panels, start=1):
        top = np.maximum(z.max(1, keepdims=True), 1e-9)
        names = [f"{label(k)}, max {m:.2g}" for k, m in zip(keys, top[:, 0], strict=True)]
        fig.add_trace(heat(z / top, years, names, "activation / row max"), row=row, col=1)
    _one_scale(fig)
    fig.update_xaxes(title_text="start year (last two digits)", row=len(panels), col=1)
    fig.update_layout(title="Feature activation against the start year (mean over prompts)", height=330 * len(panels),
                      width=950)
    return fig


def effects_by_decade(nodes: pd.DataFrame, panels: list[tuple[str, pd.Series]]) -> go.Figure:
    """Hanna et al.'s start x end figure for direct effects: per panel (title, mask of ``nodes``), the mean per
    prompt of the selected nodes' edges to each digit logit, by start decade, each row centred."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels], horizontal_spacing=0.05)
    n_by_decade = nodes.groupby("decade").prompt.nunique()
    for c, (_, mask) in enumerate(panels, start=1):
        z = nodes[mask].groupby("decade")[[f"e{d}" for d in range(10)]].sum().reindex(n_by_decade.index,
                                                                                      fill_value=0.0)
        z = z.div(n_by_decade, axis=0).to_numpy()
        fig.add_trace(heat(z - z.mean(1, keepdims=True), DIGITS, [f"{d}x" for d in n_by_decade.index],
                           "logit (row-centred)", zmid=0.0), row=1, col=c)
    _one_scale(fig, last=True)
    fig.update_xaxes(title_text="next decade digit")
    fig.update_layout(title="Direct effect on the next decade digit by start decade (graph edges, mean per prompt)",
                      height=400, width=300 * len(panels) + 150)
    return fig


def digit_weights(deemb: torch.Tensor, carriers: list, via_l0: torch.Tensor, tracked: list) -> go.Figure:
    """Left: the layer-0 carriers' de-embeddings on the digit tokens; right: the digits' weight-based effect on the
    layer-1 trackers through layer 0's heads (each column centred over the digits)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.26, subplot_titles=(
        "de-embeddings of layer-0 carriers", "digit embedding -> layer-0 heads -> layer-1 trackers"))
    fig.add_trace(heat(deemb.T.numpy(), DIGITS, [label(k) for k in carriers], "pre-activation"), row=1, col=1)
    z = (via_l0 - via_l0.mean(0, keepdim=True)).T.numpy()
    fig.add_trace(heat(z, DIGITS, [label(k) for k in tracked], "pre-activation (centred)", zmid=0.0), row=1, col=2)
    fig.data[0].colorbar.update(x=0.37)
    fig.update_xaxes(title_text="digit token")
    fig.update_layout(title="What the digit tokens do to features, from the weights alone", height=420, width=1150)
    return fig


def connections(predicted: torch.Tensor, measured: torch.Tensor, sources: list, targets: list) -> go.Figure:
    """Input-invariant connections (through layer-1 heads, mean attention) next to the graphs' edges."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("from the weights (layer-1 heads x mean attention)",
                                                        "measured (graph edges per unit activation)"))
    lim = float(np.nanmax(np.abs(torch.cat([predicted, measured]).numpy())))
    for c, z in enumerate((predicted, measured), start=1):
        fig.add_trace(heat(z.numpy(), [label(k) for k in targets], [label(k) for k in sources], "edge / activation",
                           zmid=0.0), row=1, col=c)
    fig.update_traces(zmin=-lim, zmax=lim)
    _one_scale(fig, last=True)
    fig.update_layout(title="Layer-0 carriers (decade digit) -> layer-1 promoters (last position)", height=440,
                      width=1150)
    return fig


def pruned_graph(graph, words: list[str], text: str) -> go.Figure:
    fig = graph_figure(prune(graph), words)
    fig.update_layout(title=f"Pruned attribution graph (circuit-tracer's thresholds): {text!r}", width=1250,
                      height=560)
    return fig

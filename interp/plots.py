"""Plots (plotly): the loss curve from ``metrics.jsonl`` and labelled heatmaps.

Layer order: every heatmap with a layer axis puts layer 0 at the bottom (the residual stream flows upward, as in
the usual transformer diagrams); ``layer_axis`` is the one place that sets it.

>>> fig = loss_curve(read_metrics("runs/quickstart/model/metrics.jsonl"), drills={"copy": (2500, 3250)})
>>> heatmap(effect, x=["H0", "H1"], y=["L0", "L1"], title="Head patching", colorbar="fraction restored")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

LAYER_ORDER = "layer 0 at the bottom"


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


DRILL_COLORS = {"copy": "#f0a030", "lookback": "#3080d0", "task": "#40a060"}


def loss_curve(rows: list[dict], title: str = "Loss", drills: Mapping[str, tuple[int, int]] | None = None
               ) -> go.Figure:
    """Train loss (per log step) and validation loss (per evaluation) against the optimizer step (tokens seen on
    hover). ``drills``: per drill kind (copy, lookback, task), the steps ``[start, stop)`` that mixed those drills
    into the batches, each shaded."""
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r]
    hover = "step %{x:,}<br>%{customdata:,} tokens<br>%{y:.3f} nats"
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r["step"] for r in train], y=[r["loss"] for r in train], name="train",
                             mode="lines", customdata=[r["tokens"] for r in train], hovertemplate=hover))
    fig.add_trace(go.Scatter(x=[r["step"] for r in val], y=[r["val_loss"] for r in val], name="validation",
                             mode="lines+markers", customdata=[r["tokens"] for r in val], hovertemplate=hover))
    per_step = {r["tokens"] // r["step"] for r in train if r.get("step")}
    x_title = "optimizer step" + (f" ({per_step.pop():,} tokens per step)" if len(per_step) == 1 else "")
    for i, (kind, (start, stop)) in enumerate((drills or {}).items()):
        fig.add_vrect(x0=start, x1=stop, fillcolor=DRILL_COLORS.get(kind, "#999999"), opacity=0.18, line_width=0,
                      layer="below", annotation_text=f"{kind} drills (steps {start:,}-{stop:,})",
                      annotation_position="top left" if i % 2 == 0 else "bottom left")
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="cross-entropy (nats)", template="plotly_white",
                      height=420, legend={"orientation": "h", "y": -0.2})
    return fig


def layer_axis(fig: go.Figure, labels: Sequence[str] | None = None, title: str = "layer", **subplot) -> go.Figure:
    """Make the y axis a layer axis with layer 0 at the bottom (``labels`` in layer order, first = layer 0).
    ``subplot``: ``row=``/``col=`` of a subplot figure."""
    axis: dict = {"title": title, "autorange": True}
    if labels is not None:
        axis |= {"type": "category", "categoryorder": "array", "categoryarray": list(labels)}
    fig.update_yaxes(**axis, **subplot)
    return fig


def heatmap(grid, x: list[str], y: list[str], title: str, zmid: float | None = 0.0, colorscale: str = "RdBu",
            colorbar: str = "", x_title: str = "", y_title: str = "layer") -> go.Figure:
    """A labelled heatmap (rows ``y``, columns ``x``); diverging around ``zmid`` unless it is None.

    Rows are layers by default, drawn with the first row (layer 0) at the bottom; ``colorbar`` names the values'
    unit."""
    z = grid.tolist() if hasattr(grid, "tolist") else grid
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, zmid=zmid, colorbar={"title": {"text": colorbar, "side": "right"}},
                               hovertemplate=f"{y_title} %{{y}}<br>{x_title or 'x'} %{{x}}<br>%{{z:.3f}}<extra></extra>"))
    long_x = max((len(str(v)) for v in x), default=0) * len(x) > 90
    fig.update_layout(title=title, template="plotly_white", height=max(340, 170 + 34 * len(y)) + (60 * long_x),
                      xaxis={"type": "category", "title": x_title, "tickangle": -45 if long_x else 0})
    return layer_axis(fig, y, y_title)

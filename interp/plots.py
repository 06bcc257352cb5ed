"""Plots (plotly): the loss curve from ``metrics.jsonl`` and labelled heatmaps.

>>> fig = loss_curve(read_metrics("runs/quickstart/model/metrics.jsonl"))
"""

from __future__ import annotations

import json
from pathlib import Path

import plotly.graph_objects as go


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def loss_curve(rows: list[dict], title: str = "Loss") -> go.Figure:
    """Train loss (per log step) and validation loss (per evaluation) against tokens seen."""
    train = [r for r in rows if "loss" in r]
    val = [r for r in rows if "val_loss" in r]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r["tokens"] for r in train], y=[r["loss"] for r in train], name="train",
                             mode="lines"))
    fig.add_trace(go.Scatter(x=[r["tokens"] for r in val], y=[r["val_loss"] for r in val], name="validation",
                             mode="lines+markers"))
    fig.update_layout(title=title, xaxis_title="tokens", yaxis_title="cross-entropy (nats)", template="plotly_white",
                      height=420)
    return fig


def heatmap(grid, x: list[str], y: list[str], title: str, zmid: float | None = 0.0, colorscale: str = "RdBu",
            colorbar: str = "") -> go.Figure:
    """A labelled heatmap (rows ``y``, columns ``x``); diverging around ``zmid`` unless it is None."""
    z = grid.tolist() if hasattr(grid, "tolist") else grid
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, zmid=zmid, colorbar={"title": colorbar}))
    fig.update_layout(title=title, template="plotly_white", height=160 + 32 * len(y),
                      xaxis={"type": "category"}, yaxis={"type": "category", "autorange": "reversed"})
    return fig

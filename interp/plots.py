"""Training plots (plotly): the loss curve from ``metrics.jsonl``.

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

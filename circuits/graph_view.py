"""The attribution graph as an interactive offline page: nodes by position (x, the prompt's tokens) and layer (y:
embeddings at the bottom, logits on top), sized by influence on the logits; the strongest edges drawn with width
by |weight| and colour by sign; hover text with each feature's top-activating tokens and promoted logits (the
dashboards' numbers, ``saes.dashboard_data.feature_table``) when labels are given.

>>> fig = graph_figure(prune(graph), tokens=["<bos>", " Mary", ...], labels={(0, 17): "top: Mary, Anna"})
>>> write_graph_page(graph, "graph.html", tokens, labels, scores=graph_scores(graph))
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go
import torch

from circuits.attribution_graph import AttributionGraph, influence
from interp.report import table_html, write_report

_COLORS = {"embed": "#6c757d", "feature": "#1f77b4", "error": "#d62728", "logit": "#2ca02c"}


def _xy(graph: AttributionGraph) -> tuple[list[float], list[float]]:
    """Positions: x = token position (nodes of one cell spread a little), y = layer (embed -1, logits n_layers)."""
    xs, ys, seen = [], [], {}
    for node in graph.nodes.itertuples():
        cell = (node.pos, node.layer)
        k = seen.get(cell, 0)
        seen[cell] = k + 1
        xs.append(node.pos + 0.12 * ((k % 7) - 3))
        ys.append(node.layer + 0.08 * (k // 7))
    return xs, ys


def graph_figure(graph: AttributionGraph, tokens: Sequence[str], labels: Mapping[tuple[int, int], str] | None = None,
                 max_edges: int = 300) -> go.Figure:
    """The figure: nodes and the ``max_edges`` strongest edges."""
    labels = labels or {}
    xs, ys = _xy(graph)
    inf = influence(graph)
    fig = go.Figure()
    adj = graph.adjacency
    flat = adj.abs().flatten()
    top = torch.argsort(flat, descending=True)[: min(max_edges, int((flat > 0).sum()))]
    scale = float(flat[top[0]]) if len(top) else 1.0
    for idx in top.tolist():
        t, s = divmod(idx, adj.shape[1])
        w = float(adj[t, s])
        fig.add_scatter(x=[xs[s], xs[t]], y=[ys[s], ys[t]], mode="lines", hoverinfo="skip", showlegend=False,
                        line=dict(width=0.5 + 5 * abs(w) / scale, color="#e8590c" if w > 0 else "#4263eb"),
                        opacity=0.55)
    for kind, group in graph.nodes.groupby("kind"):
        rows = group.index.tolist()
        text = []
        for r in rows:
            node = graph.nodes.iloc[r]
            where = f"pos {node.pos} ({html.escape(tokens[node.pos]) if node.pos < len(tokens) else ''})"
            what = {"embed": "token embedding", "error": f"error L{node.layer}",
                    "feature": f"feature L{node.layer} #{node.feature}", "logit": f"logit {node.feature}"}[kind]
            extra = labels.get((node.layer, node.feature), "") if kind == "feature" else ""
            text.append(f"{what}, {where}<br>value {node.value:.3g}, influence {float(inf[r]):.3g}"
                        + (f"<br>{html.escape(extra)}" if extra else ""))
        sizes = [6 + 30 * float(inf[r]) ** 0.5 for r in rows]
        fig.add_scatter(x=[xs[r] for r in rows], y=[ys[r] for r in rows], mode="markers", name=kind, text=text,
                        hoverinfo="text", marker=dict(size=sizes, color=_COLORS[kind], line=dict(width=0.5)))
    n_layers = int(graph.nodes.layer.max())
    fig.update_layout(template="plotly_white", height=520, title="Attribution graph (edge colour: orange +, blue -)",
                      xaxis=dict(tickmode="array", tickvals=list(range(len(tokens))), ticktext=list(tokens)),
                      yaxis=dict(tickmode="array", tickvals=list(range(-1, n_layers + 1)),
                                 ticktext=["embed"] + [f"L{i}" for i in range(n_layers)] + ["logits"]))
    return fig


def write_graph_page(graph: AttributionGraph, path: str | Path, tokens: Sequence[str],
                     labels: Mapping[tuple[int, int], str] | None = None, scores: Mapping[str, float] | None = None,
                     title: str = "Attribution graph") -> Path:
    """One self-contained HTML page: the scores, the figure, the strongest features by influence."""
    inf = influence(graph)
    feats = graph.nodes.assign(influence=inf.tolist())
    feats = feats[feats.kind == "feature"].sort_values("influence", ascending=False).head(25)
    rows = [(int(r.layer), int(r.pos), html.escape(tokens[int(r.pos)]), int(r.feature), f"{r.value:.3g}",
             f"{r.influence:.3g}", html.escape((labels or {}).get((int(r.layer), int(r.feature)), "")))
            for r in feats.itertuples()]
    sections = [("Scores", table_html([(k, f"{v:.3f}") for k, v in (scores or {}).items()], ("score", "value"))),
                ("Graph", graph_figure(graph, tokens, labels)),
                ("Most influential features", table_html(rows, ("layer", "pos", "token", "feature", "activation",
                                                                 "influence", "top tokens / promotes")))]
    return write_report(path, title, sections)

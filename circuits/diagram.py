"""A circuit diagram: layers bottom to top, a node per head and MLP, edges as lines whose width grows with |score|.

Blue edges help the metric (negative score: ablating them lowers it), red ones hurt it. Nodes outside the circuit
are drawn faintly so the model's shape stays visible. A plotly figure, so it embeds in the offline HTML report.

>>> circuit_figure(top_n(graph, 50)).show()
"""

from __future__ import annotations

import plotly.graph_objects as go
import torch

from circuits.graph import Graph

_COLOR = {True: "rgba(33,102,172,{a})", False: "rgba(178,24,43,{a})"}


def node_positions(graph: Graph) -> dict[str, tuple[float, float]]:
    """x, y of every upstream node and of the logits: heads of layer L on row 2L+1, its MLP on row 2L+2."""
    s = graph.shape
    pos: dict[str, tuple[float, float]] = {"input": ((s.n_heads - 1) / 2, 0.0)}
    for layer in range(s.n_layers):
        for h in range(s.n_heads):
            pos[f"a{layer}.h{h}"] = (float(h), 2.0 * layer + 1)
        if s.has_mlp:
            pos[f"m{layer}"] = ((s.n_heads - 1) / 2, 2.0 * layer + 2)
    pos["logits"] = ((s.n_heads - 1) / 2, 2.0 * s.n_layers + 1)
    return pos


def _target(down: str) -> tuple[str, str]:
    """('a1.h0', 'q') for 'a1.h0<q>', ('m0', '') for 'm0'."""
    return (down[:-3], down[-2]) if down.endswith(">") else (down, "")


def circuit_figure(graph: Graph, title: str = "Circuit", max_edges: int = 400) -> go.Figure:
    """The circuit's edges (at most ``max_edges``, the highest |score| first) on the model's node grid."""
    pos = node_positions(graph)
    df = graph.frame()
    df = df[df.in_circuit].head(max_edges)
    top = float(df.score.abs().max()) if len(df) else 1.0
    fig = go.Figure()
    offset = {"q": -0.18, "k": 0.0, "v": 0.18, "": 0.0}
    for row in df.itertuples():
        node, which = _target(row.downstream)
        (x0, y0), (x1, y1) = pos[row.upstream], pos[node]
        strength = abs(row.score) / top if top > 0 else 1.0
        fig.add_trace(go.Scatter(
            x=[x0, x1 + offset[which]], y=[y0, y1 - 0.12], mode="lines", showlegend=False,
            line={"width": 0.5 + 6 * strength, "color": _COLOR[row.score <= 0].format(a=0.25 + 0.7 * strength)},
            hovertext=f"{row.edge}<br>score {row.score:.4g}", hoverinfo="text"))
    used = set(df.upstream) | {_target(d)[0] for d in df.downstream}
    names = list(pos)
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text", text=names,
        textposition="top center", showlegend=False, hoverinfo="text",
        marker={"size": [16 if n in used else 8 for n in names], "symbol": ["square" if n[0] == "m" else "circle"
                                                                          for n in names],
                "color": ["#333" if n in used else "#ccc" for n in names]}))
    n_in = int(torch.as_tensor(graph.in_circuit & graph.allowed).sum())
    fig.update_layout(title=f"{title}: {n_in} of {graph.n_edges} edges (blue helps the metric, red hurts; width "
                            "~ |score|)", height=140 + 90 * (2 * graph.shape.n_layers + 2),
                      xaxis={"visible": False}, yaxis={"visible": False}, plot_bgcolor="white")
    return fig


def faithfulness_figure(curves: dict[str, object]) -> go.Figure:
    """Faithfulness against the share of edges kept (log axis), one line per method; 1 = the full model."""
    fig = go.Figure()
    for name, df in curves.items():
        fig.add_scatter(x=df["percent"], y=df["faithfulness"], mode="lines+markers",
                        name=f"{name} (CPR {df.attrs['cpr']:.3f}, CMD {df.attrs['cmd']:.3f})",
                        text=[f"{e} edges kept" for e in df["edges"]])
    fig.add_hline(y=1.0, line_dash="dot", line_color="#888")
    fig.update_xaxes(type="log", title_text="edges selected (% of the graph, MIB's grid)")
    fig.update_yaxes(title_text="faithfulness f")
    fig.update_layout(height=420, title="Faithfulness curve: the best-scored edges alone, everything else ablated")
    return fig

"""The HTML report of ``interp circuit``: summary, circuit diagram, faithfulness curve, the top edges.

>>> write_circuit_report(CircuitLayout(out_dir), record, result)
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from circuits.diagram import circuit_figure, faithfulness_figure
from circuits.layout import CircuitLayout
from interp.report import table_html, write_report


def write_circuit_report(out: CircuitLayout, record: dict[str, Any], result) -> Path:
    m = record["metrics"]
    intro = (f"<p class='summary'>Task <b>{html.escape(record['task'])}</b> ({html.escape(record['pairs'])}); "
             f"metric: {html.escape(record['metric_name'])}. Edges scored with <b>{html.escape(record['method'])}"
             f"</b>, ablation <b>{html.escape(record['config']['ablation'])}</b>. The circuit keeps "
             f"{m['circuit_edges']} of {m['graph_edges']} edges ({m['edge_share']:.1%}) and reaches faithfulness "
             f"<b>{m['faithfulness']:.3f}</b> (metric {m['metric_circuit']:.3f}; full model "
             f"{m['metric_full_model']:.3f}, everything ablated {m['metric_all_ablated']:.3f}).</p>")
    sections: list = [("Circuit", circuit_figure(result.circuit, title=f"{record['task']} circuit"))]
    if result.curve is not None:
        sections.append(("Faithfulness", faithfulness_figure({record["method"]: result.curve})))
        sections.append(("", table_html(result.curve[["percent", "edges", "metric", "faithfulness"]].values.tolist(),
                                        ["% of edges", "edges kept", "metric", "faithfulness"])))
    sections.append(("Numbers", table_html([[k, v] for k, v in m.items()], ["quantity", "value"])))
    top = result.graph.frame().head(30)
    sections.append(("Top edges by |score|", table_html(top[["rank", "edge", "score", "in_circuit"]].values.tolist(),
                                                        ["rank", "edge", "score", "in circuit"])))
    return write_report(out.report, f"Circuit: {record['task']} ({record['method']})", sections, intro=intro)

"""The steering harness's HTML report: concept rate against fluency cost per method (dev split), the test table,
and sample continuations.

>>> write_steering_report(SteeringLayout("runs/quickstart/model/steering/sea"), results)
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.layout import SteeringLayout
from interp.report import table_html, write_report


def curves_figure(dev: pd.DataFrame) -> go.Figure:
    """Per goal, each method's concept rate against its fluency cost as the strength grows (dev split)."""
    goals = list(dict.fromkeys(dev.goal))
    fig = make_subplots(rows=1, cols=len(goals), subplot_titles=[f"goal: {g}" for g in goals])
    for col, goal in enumerate(goals, start=1):
        for method, g in dev[dev.goal == goal].groupby("method", sort=False):
            g = g.sort_values("strength")
            fig.add_scatter(x=g.fluency_cost, y=g.concept_rate, mode="lines+markers", name=f"{goal}: {method}",
                            text=[f"strength {s:g}" for s in g.strength], row=1, col=col)
        fig.update_xaxes(title_text="fluency cost (nats per token)", row=1, col=col)
        fig.update_yaxes(title_text="concept rate", range=[-0.02, 1.02], row=1, col=col)
    fig.update_layout(height=430, title="Concept rate against fluency cost, one point per strength (dev split)")
    return fig


def write_steering_report(out: SteeringLayout, results: dict[str, Any]) -> Path:
    """Write ``OUT/report.html`` from ``results.json``'s contents."""
    dev, test = pd.DataFrame(results["dev"]), pd.DataFrame(results["test"])
    cols = ["goal", "method", "strength", "base_rate", "concept_rate", "fluency_cost", "harmonic", "val_loss",
            "steerability"]
    rows = [[r[c] if c != "val_loss" or r[c] is not None else "-" for c in cols] for r in test.to_dict("records")]
    samples = "".join(
        f"<h3>{html.escape(r['goal'])}: {html.escape(r['method'])} at strength {r['strength']:g}</h3>"
        + "".join(f"<pre>{html.escape(t)}</pre>" for t in r["samples"]) for r in test.to_dict("records"))
    base_html = "".join(f"<h3>{html.escape(r['goal'])}: unsteered (concept rate {r['concept_rate']:.2f})</h3>"
                        + "".join(f"<pre>{html.escape(t)}</pre>" for t in r["samples"]) for r in results["unsteered"])
    intro = (f"<p class='summary'>Concept <b>{html.escape(results['concept'])}</b>, steered at "
             f"<code>{html.escape(results['hook'])}</code>. Each method's strength was chosen on the dev prompts "
             "(highest harmonic mean of concept and fluency scores) and is reported on the test prompts. Fluency "
             "cost: the continuations' mean per-token loss under the unsteered model, minus the unsteered "
             f"continuations'. {results['seconds']:.0f} s.</p>")
    return write_report(out.report, f"Steering: {results['concept']}", [
        ("Concept against fluency", curves_figure(dev)),
        ("Test split, chosen strengths", table_html(rows, cols)),
        ("Sample continuations (test split)", base_html + samples),
    ], intro=intro)

"""The removal's HTML report: the loss curve with every freeze marked, the before/after table, the DLA check.

>>> write_removal_report(LNRemovalLayout("runs/quickstart/model-noLN"), summary)
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from interp.layout import LNRemovalLayout
from interp.ln_removal.compare import comparison_frame
from interp.plots import read_metrics
from interp.report import table_html, write_report


def _event_label(e: dict[str, Any]) -> str:
    return "BOS (position 0) everywhere" if e["path"] == "bos" else e["site"] + (f" {e['path']}" if e["path"] else "")


def loss_figure(out: LNRemovalLayout, events: list[dict[str, Any]]) -> go.Figure:
    """Training loss of the removal (and of the LayerNorm-kept fine-tune), each freeze a dotted line."""
    fig = go.Figure()
    for name, run in (("LayerNorm removal", out.removal), ("fine-tune, LayerNorm kept", out.baseline)):
        rows = read_metrics(run.metrics) if run.metrics.exists() else []
        if rows:
            fig.add_scatter(x=[r["step"] for r in rows], y=[r["loss"] for r in rows], name=f"{name}: train loss")
            val = [r for r in rows if "val_loss" in r]
            fig.add_scatter(x=[r["step"] for r in val], y=[r["val_loss"] for r in val], mode="markers+lines",
                            name=f"{name}: val loss", line={"dash": "dash"})
    for e in events:
        fig.add_vline(x=e["step"], line={"dash": "dot", "width": 1, "color": "#999"})
    fig.add_scatter(x=[e["step"] for e in events], y=[None] * len(events), mode="markers", showlegend=False,
                    hovertext=[_event_label(e) for e in events])
    fig.update_layout(title="Fine-tuning loss (dotted: a norm's scale frozen)", xaxis_title="step",
                      yaxis_title="loss (nats)", height=420)
    return fig


def heads_figure(dla: dict[str, Any]) -> go.Figure:
    """Mean direct logit attribution per head on IOI: parent (batch-mean LN scale) against the LN-free model."""
    fig = go.Figure()
    for key, name in (("parent", "parent (LN, batch-mean scale)"), ("ln_free", "LN-free (exact)")):
        grid = dla[key]["heads"]
        fig.add_bar(x=[f"L{layer}H{h}" for layer, row in enumerate(grid) for h in range(len(row))],
                    y=[v for row in grid for v in row], name=name)
    fig.update_layout(barmode="group", title="Direct logit attribution per head (IO - S logit difference)",
                      yaxis_title="mean contribution", height=380)
    return fig


def write_removal_report(out: LNRemovalLayout, summary: dict[str, Any]) -> Path:
    """Write ``OUT/report.html`` from ``ln_removal.json``'s contents."""
    frame = comparison_frame(summary)
    dla = summary["dla"]
    val = frame.loc["val_loss"] if "val_loss" in frame.index else None
    parts = []
    if val is not None:
        parts.append(f"validation loss {val['parent']:.3f} -> {val['LN-free']:.3f} ({val['LN-free - parent']:+.3f} "
                     "nats against the parent")
        if "LN-free - LN kept" in val:
            parts[-1] += f", {val['LN-free - LN kept']:+.3f} against the same fine-tune with LayerNorm kept"
        parts[-1] += ")"
    for metric, name in (("ioi_heldout_family accuracy", "IOI on held-out phrasing families"),
                         ("ioi accuracy", "IOI in distribution"), ("induction induction_gain", "induction gain")):
        if metric in frame.index:
            parts.append(f"{name} {frame.loc[metric, 'parent']:.3f} -> {frame.loc[metric, 'LN-free']:.3f}")
    fraction = summary.get("step_fraction")
    steps = f"{summary['removal_steps']} fine-tuning steps" + (f" ({fraction:.1%} of the parent's)" if fraction else "")
    intro = (f"<p class='summary'>LayerNorm removed from <code>{html.escape(summary['parent'])}</code> with the "
             f"<b>{html.escape(summary['config']['schedule'])}</b> schedule in {steps}: {'; '.join(parts)}. The model "
             "in this directory has no normalization: <code>interp.load</code> gives a HookedTransformer with "
             "normalization_type=None whose residual stream decomposes linearly into the logits.</p>")
    rows = [[metric, *(float(v) if v == v else "-" for v in row)] for metric, row in frame.iterrows()]
    dla_rows = [["parent (LayerNorm)", dla["parent"]["mean_logit_diff"], dla["parent"]["error"],
                 dla["parent"].get("error_batch_mean_scale", float("nan"))],
                ["LN-free", dla["ln_free"]["mean_logit_diff"], dla["ln_free"]["error"], "- (no scale)"]]
    dla_html = (
        f"<p class='note'>{dla['ln_free']['n_prompts']} IOI prompts. Error: the largest |sum of every component's "
        "direct contribution - the real logit difference|. The LayerNorm model's components sum exactly only after "
        "dividing each prompt by its own final-LN scale, which every component moves; with one scale for the "
        "batch, the usual shortcut, they do not. The LN-free model needs no scale.</p>"
        + table_html(dla_rows, ["model", "mean logit diff", "error (own scale)", "error (batch-mean scale)"]))
    events = summary["events"]
    event_rows = [[e["step"], _event_label(e)] for e in events]
    sections = [
        ("Loss during the removal", loss_figure(out, events)),
        ("Before and after", table_html(rows, ["metric", *frame.columns])),
        ("Direct logit attribution check", dla_html),
        ("", heads_figure(dla)),
        ("Schedule", table_html(event_rows, ["freeze before step", "scale frozen"])),
        ("Settings", f"<pre>{html.escape(json.dumps(summary['config'], indent=1))}</pre>"),
    ]
    return write_report(out.report, "LayerNorm removal", sections, intro=intro)

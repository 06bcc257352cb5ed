"""HTML pages of the ground-truth evaluation: one SAE (``ground_truth.html`` in its directory) and a comparison
of several (architecture x width x L0) on every axis.

>>> write_ground_truth_page(result, "runs/saes/topk/ground_truth.html", title="topk")
>>> write_comparison(ground_truth_frame(results, extra), "runs/sae-compare/report.html")
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from interp.report import table_html, write_report
from saes.ground_truth.evaluate import SCORE_HELP, GroundTruth

# The axes a comparison plots, each against L0: (score column, title, higher is better).
AXES = (
    ("ioi_sufficiency", "IOI sufficiency (share of logit diff kept)", True),
    ("ioi_necessity", "IOI necessity (share lost without it)", True),
    ("ioi_edit_accuracy_swap", "IOI edit accuracy, top-F1 swap", True),
    ("ioi_edit_accuracy_greedy", "IOI edit accuracy, greedy", True),
    ("ioi_control_swap", "IOI sparse control (names' logits), top-F1 swap", True),
    ("ioi_control_greedy", "IOI sparse control (names' logits), greedy", True),
    ("ioi_f1", "IOI attribute F1 (best latent)", True),
    ("f1_mean", "corpus attribute F1 (best latent, mean)", True),
    ("probe_k1", "1-sparse probe accuracy", True),
    ("probe_k5", "5-sparse probe accuracy", True),
    ("absorption_rate", "first-letter absorption rate", False),
    ("fvu", "fraction of variance unexplained", False),
    ("ce_recovered", "CE loss recovered", True),
)


def _scores_table(scores: dict[str, float]) -> str:
    rows = [(k, f"{v:.4g}" if isinstance(v, float) else v, SCORE_HELP.get(k, "")) for k, v in scores.items()]
    return table_html(rows, ("score", "value", "meaning"))


def write_ground_truth_page(result: GroundTruth, path: str | Path, title: str = "SAE") -> Path:
    """One SAE's scores, the IOI axes beside the supervised dictionary, F1 per attribute value, probing and
    absorption per letter."""
    sections: list[tuple[str, go.Figure | str]] = [("Scores", _scores_table(result.scores))]
    if result.notes:
        sections.append(("Notes", "".join(f"<p class='warn'>{html.escape(n)}</p>" for n in result.notes)))
    if "ioi" in result.tables:
        frame = result.tables["ioi"]
        shown = frame[frame.dictionary != "model"]
        fig = px.bar(shown, x="metric", y="value", color="dictionary", barmode="group", hover_data=["attribute"],
                     title="IOI axes: SAE against the supervised dictionary (1 = as good as it gets)")
        sections.append(("IOI: approximation, control, interpretability", fig.update_layout(template="plotly_white")))
    if "f1" in result.tables:
        f1 = result.tables["f1"]
        fig = px.box(f1, x="attribute", y="f1", points="all", hover_data=["value", "best_latent", "n_split"],
                     title="Best-latent F1 per attribute value (each point a value)")
        sections.append(("Corpus attributes: F1", fig.update_layout(template="plotly_white")))
    if "probing" in result.tables and len(result.tables["probing"]):
        probing = result.tables["probing"]
        cols = [c for c in probing.columns if c == "dense" or (c.startswith("k") and c[1:].isdigit())]
        means = probing.groupby("attribute")[cols].mean().reset_index().melt("attribute", var_name="probe")
        fig = px.bar(means, x="attribute", y="value", color="probe", barmode="group",
                     title="k-sparse probing on latents against a dense probe on the activations")
        sections.append(("Sparse probing", fig.update_layout(template="plotly_white", yaxis_range=[0.4, 1])))
    if "absorption" in result.tables and len(result.tables["absorption"]):
        ab = result.tables["absorption"]
        fig = px.bar(ab, x="letter", y=["absorption_rate", "false_negative_rate"], barmode="group",
                     title="First-letter absorption per letter")
        sections.append(("Absorption", fig.update_layout(template="plotly_white")))
    return write_report(path, f"Ground-truth evaluation: {title}", sections)


def with_mean_f1(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds ``f1_mean``: the mean of the per-attribute corpus F1 columns."""
    cols = [c for c in frame.columns if c.startswith("f1_")]
    return frame.assign(f1_mean=frame[cols].mean(axis=1)) if cols else frame


def winners(frame: pd.DataFrame) -> pd.DataFrame:
    """Per axis, the SAE (row) that scores best and its value; transcoders (``kind``) are left out: their FVU
    and losses are of another activation."""
    if "kind" in frame:
        frame = frame[frame.kind != "transcoder"]
    rows = []
    for col, title, higher in AXES:
        if col in frame and frame[col].notna().any():
            best = frame[col].idxmax() if higher else frame[col].idxmin()
            rows.append(dict(axis=col, meaning=title, best=best, value=float(frame.loc[best, col]),
                             architecture=frame.loc[best].get("architecture", "")))
    return pd.DataFrame(rows)


def write_comparison(frame: pd.DataFrame, path: str | Path) -> Path:
    """Every axis against L0, one trace per architecture (marker size by width), and the winners table."""
    frame = with_mean_f1(frame)
    sections: list[tuple[str, go.Figure | str]] = []
    win = winners(frame)
    sections.append(("Best per axis", table_html(win.values.tolist(), list(win.columns)) if len(win) else ""))
    for col, title, higher in AXES:
        if col not in frame or "l0" not in frame or not frame[col].notna().any():
            continue
        fig = go.Figure()
        for arch, group in frame.groupby(frame.get("architecture", pd.Series("sae", index=frame.index))):
            width = group["d_sae"] if "d_sae" in group else pd.Series(1, index=group.index)
            fig.add_scatter(x=group["l0"], y=group[col], mode="markers+text", name=str(arch),
                            text=[f"{w}" for w in width], textposition="top center",
                            marker=dict(size=[8 + 4 * (w / width.max()) ** 0.5 * 3 for w in width]))
        fig.update_layout(title=f"{title} ({'higher' if higher else 'lower'} is better); labels: width",
                          xaxis_title="L0", yaxis_title=col, template="plotly_white", height=360)
        fig.update_xaxes(type="log")
        sections.append(("", fig))
    shown = frame.reset_index(names="sae")
    sections.append(("All scores", table_html(shown.round(4).values.tolist(), list(shown.columns))))
    return write_report(path, "SAEs against ground truth", sections)

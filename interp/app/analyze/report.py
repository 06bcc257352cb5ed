"""The HTML report of ``interp analyze``: a written summary, the ranked heads, attention patterns, and every
measurement as a labelled plot.

Every heatmap with a layer axis draws layer 0 at the bottom (``interp.plots.layer_axis``); attention patterns
are matrices (query rows top to bottom, key columns left to right).

>>> sections = analysis_sections(model, pairs, findings, patched, attr_heads, attr, scores)
>>> write_analysis_report(out / "report.html", pairs.task, findings, sections)
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import torch

from interp.analysis.attribution import Attribution, plot_head_attribution
from interp.analysis.heads import plot_head_scores
from interp.analysis.lens import plot_logit_lens
from interp.models.tl import HookedTransformer
from interp.plots import LAYER_ORDER, heatmap
from interp.report import table_html, write_report
from interp.tasks.pairs import PromptPairs

N_PATTERNS = 3  # attention patterns shown: the top heads by importance
HEADS_SORTED_BY = "importance"


def position_labels(model: HookedTransformer, pairs: PromptPairs) -> list[str]:
    """``"5: Tom (S2)"`` for each position of the first clean prompt: index, token and, if any, its role."""
    tokens = (model.to_str_tokens(pairs.clean[0]) if model.tokenizer is not None
              else [str(int(t)) for t in pairs.clean[0]])
    return [f"{i}:{tok}" + (f" ({role})" if role != tok else "")
            for i, (tok, role) in enumerate(zip(tokens, pairs.labels, strict=True))]


@torch.no_grad()
def attention_figure(model: HookedTransformer, tokens: torch.Tensor, layer: int, head: int, labels: list[str],
                     title: str) -> go.Figure:
    """The attention pattern of one head on one prompt: queries as rows (top to bottom), keys as columns."""
    name = f"blocks.{layer}.attn.hook_pattern"
    _, cache = model.run_with_cache(tokens.reshape(1, -1).to(model.cfg.device), names_filter=lambda n: n == name)
    pattern = cache[name][0, head].float().cpu()  # [query, key]
    fig = go.Figure(go.Heatmap(z=pattern.tolist(), x=labels, y=labels, zmin=0, zmax=1, colorscale="Blues",
                               colorbar={"title": {"text": "attention weight (0-1)", "side": "right"}},
                               hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>"))
    side = min(900, max(460, 240 + 22 * len(labels)))
    fig.update_layout(title=title, template="plotly_white", height=side, width=side + 120,
                      xaxis={"type": "category", "title": "key position (attended to)", "tickangle": -45},
                      yaxis={"type": "category", "title": "query position (attending)", "autorange": "reversed"})
    return fig


def _heads_table(findings: dict[str, Any], score_names: list[str]) -> str:
    heads = sorted(findings["top_heads"], key=lambda h: h[HEADS_SORTED_BY], reverse=True)
    rows = [[h["head"], h["importance"], h["patch_effect"], h["noise_patch_effect"], h["attribution_patch_effect"],
             h["dla"], *(h[f"{k}_score"] for k in score_names)] for h in heads]
    header = ["head", "importance ▼", "restores (clean into corrupted)", "breaks (corrupted into clean)",
              "attribution patch", "direct logit attribution", *(f"{k} score" for k in score_names)]
    note = (f"<p>Sorted by <b>{HEADS_SORTED_BY}</b>, descending: the larger of |restores| and |breaks|, as a "
            f"{html.escape(findings['patch_unit'])} (a head matters if patching it in restores the behaviour, or "
            "patching it out breaks it).</p>")
    return note + table_html(rows, header).replace("<table>", '<table id="important-heads">', 1)


def _intro(findings: dict[str, Any]) -> str:
    warn = (f'<div class="warn"><b>Warning:</b> {html.escape(findings["warning"])}</div>'
            if findings.get("warning") else "")
    return (f"{warn}<p class='summary'>{html.escape(findings['summary'])}</p>"
            f"<p class='note'>Layer order: {LAYER_ORDER} in every heatmap. Patching effects are a "
            f"{html.escape(findings['patch_unit'])} unless a colour bar says otherwise.</p>")


def analysis_sections(model: HookedTransformer, pairs: PromptPairs, findings: dict[str, Any],
                      patched: dict[str, torch.Tensor], attr_heads: torch.Tensor, attr: Attribution,
                      scores: dict[str, torch.Tensor]) -> list[tuple[str, go.Figure | str]]:
    """The report's sections (heading, plotly figure or HTML); ``patched`` holds the activation-patching grids by
    kind (plus ``head_noise``)."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    layers, heads = [f"L{i}" for i in range(L)], [f"H{h}" for h in range(H)]
    pos = position_labels(model, pairs)
    unit = findings["patch_unit"]
    normalised = unit.startswith("fraction")
    bar = "fraction of the gap restored" if normalised else "change of the metric"
    bar_noise = "change, as a fraction of the gap" if normalised else "change of the metric"
    curve = go.Figure(go.Scatter(x=layers + ["final"], y=findings["metric_through_layers"], mode="lines+markers"))
    curve.update_layout(title=f"{pairs.metric_name} read through the logit lens at each layer",
                        template="plotly_white", height=380, yaxis_title=pairs.metric_name,
                        xaxis_title="residual stream entering layer (final: the model's output)")
    summary = [["task", pairs.task], ["prompts", pairs.description],
               ["pairs x tokens", f"{findings['n_prompts']} x {findings['n_tokens']}"],
               [f"clean {pairs.metric_name}", findings["clean_metric"]],
               [f"corrupted {pairs.metric_name}", findings["corrupted_metric"]],
               ["patching effects measured in", unit],
               ["attribution vs activation patching (heads, Pearson)", findings["attribution_vs_activation_corr"]],
               ["DLA sum error (frozen LN scale)", findings["dla_error"]]]
    sections: list[tuple[str, go.Figure | str]] = [
        ("Numbers", table_html(summary, ["", "value"])),
        ("Most important heads (activation patching)", _heads_table(findings, list(scores))),
    ]
    for rank, h in enumerate(findings["top_heads"][:N_PATTERNS], start=1):
        sections.append((f"Attention pattern of {h['head']} (rank {rank})", attention_figure(
            model, pairs.clean[0], h["layer"], h["index"], pos,
            f"{h['head']} on the first clean prompt (importance {h['importance']:.3g})")))
    sections.append(("Logit lens of the metric", curve))
    if model.tokenizer is not None:
        sections.append(("Logit lens of the first clean prompt", plot_logit_lens(model, pairs.clean[0])))
    head_pos = patched["head_pos"].reshape(L * H, -1)
    sections += [
        ("Direct logit attribution per head", plot_head_attribution(attr)),
        ("Top components by DLA", table_html([[c["component"], c["value"]] for c in findings["top_dla"]],
                                             ["component", "mean contribution (logits)"])),
        ("Head detector scores", plot_head_scores(scores)),
        ("Patching: heads", heatmap(patched["head"], heads, layers, "Clean head output patched into the corrupted "
                                    "run (restores)", colorbar=bar, x_title="head")),
        ("Patching: heads (noising)", heatmap(patched["head_noise"], heads, layers, "Corrupted head output patched "
                                              "into the clean run (breaks; -1 = all lost)",
                                              colorbar=bar_noise, x_title="head")),
        ("Attribution patching: heads", heatmap(attr_heads, heads, layers, "Attribution patching per head (linear "
                                                "estimate of 'restores')", colorbar=bar,
                                                x_title="head")),
        ("Patching: heads x positions", heatmap(head_pos, pos, [f"L{i}H{h}" for i in range(L) for h in range(H)],
                                                "One head's clean output at one position patched into the "
                                                "corrupted run", colorbar=bar,
                                                x_title="position:token", y_title="head (layer 0 at the bottom)")),
    ]
    for kind, title in (("resid", "residual stream"), ("attn_out", "attention output"), ("mlp", "MLP output")):
        if kind in patched:
            sections.append((f"Patching: {title}", heatmap(
                patched[kind], pos, layers, f"Clean {title} at one (layer, position) patched into the corrupted run",
                colorbar=bar, x_title="position:token")))
    return sections


def write_analysis_report(path: Path, task: str, findings: dict[str, Any],
                          sections: list[tuple[str, go.Figure | str]]) -> Path:
    """Write the page: the warning (if any), the written summary, then ``sections``."""
    return write_report(path, f"interp analyze: {task}", sections, intro=_intro(findings))

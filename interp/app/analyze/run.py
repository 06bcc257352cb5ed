"""``interp analyze``: one task analysed end to end with every instrument, as an HTML report and a JSON of findings.

For a task's clean/corrupted prompt pairs (``pairs.py``) it measures
- the metric read off every layer's residual stream through the logit lens, and the logit lens of one prompt;
- direct logit attribution of the answer (heads, MLPs, embeddings) on the clean prompts;
- previous-token, duplicate-token and induction scores of every head;
- activation patching (clean activations into the corrupted run, normalised so 1 = fully restored) of the
  residual stream, attention and MLP outputs (layer x position) and of every head, and attribution patching of
  every head for comparison.
``findings.json`` ranks the heads and (layer, position) sites whose patching matters most.

>>> findings = analyze(model, "ioi", out_dir="runs/quickstart/analysis/ioi")
>>> findings["top_heads"][0]
{'head': 'L1H2', 'patch_effect': 0.61, 'attribution_patch_effect': 0.58, 'dla': 1.9, 'induction_score': 0.02, ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import torch

from interp.analysis.attribution import direct_logit_attribution, plot_head_attribution
from interp.analysis.heads import head_scores, plot_head_scores
from interp.analysis.lens import lens_logits_from_resid, plot_logit_lens, residual_stack
from interp.analysis.patching import activation_patch, attribution_patch, normalized
from interp.analysis.patching.metrics import scalar
from interp.app.analyze.pairs import PromptPairs, build_pairs
from interp.app.report import table_html, write_report
from interp.io import atomic_write_json, git_commit
from interp.models.tl import HookedTransformer
from interp.plots import heatmap


@torch.no_grad()
def metric_through_layers(model: HookedTransformer, pairs: PromptPairs) -> list[float]:
    """The task metric computed from the logit lens of the residual stream before each block and at the end."""
    stack = residual_stack(model, pairs.clean.to(model.cfg.device))
    return [float(scalar(pairs.metric(lens_logits_from_resid(model, resid)))) for resid in stack]


def _ranked_heads(head_effect: torch.Tensor, noise_effect: torch.Tensor, attr_effect: torch.Tensor,
                  dla: torch.Tensor, scores: dict[str, torch.Tensor], k: int) -> list[dict[str, Any]]:
    """Heads by importance = the larger of |restoring it| and |breaking it| (sufficiency or necessity)."""
    L, H = head_effect.shape
    importance = torch.maximum(head_effect.abs(), noise_effect.abs())
    order = importance.flatten().argsort(descending=True)[:k]
    out = []
    for flat in order.tolist():
        layer, head = divmod(flat, H)
        row = {"head": f"L{layer}H{head}", "layer": layer, "index": head,
               "importance": round(float(importance[layer, head]), 4),
               "patch_effect": round(float(head_effect[layer, head]), 4),
               "noise_patch_effect": round(float(noise_effect[layer, head]), 4),
               "attribution_patch_effect": round(float(attr_effect[layer, head]), 4),
               "dla": round(float(dla[layer, head]), 4)}
        row.update({f"{name}_score": round(float(s[layer, head]), 4) for name, s in scores.items()})
        out.append(row)
    return out


def _ranked_positions(resid_effect: torch.Tensor, labels: list[str], k: int) -> list[dict[str, Any]]:
    order = resid_effect.abs().flatten().argsort(descending=True)[:k]
    T = resid_effect.shape[1]
    return [{"layer": flat // T, "position": flat % T, "label": labels[flat % T],
             "patch_effect": round(float(resid_effect.flatten()[flat]), 4)} for flat in order.tolist()]


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def analyze(model: HookedTransformer, task: str, out_dir: str | Path | None = None, n_prompts: int = 64,
            seed: int = 0, top_k: int = 5, progress: bool = True) -> dict[str, Any]:
    """Analyse ``task`` ('ioi', 'induction' or 'facts') on ``model``; with ``out_dir``, write ``report.html``
    and ``findings.json`` there. Returns the findings."""
    say = print if progress else (lambda *_: None)
    cfg = model.cfg
    pairs = build_pairs(model, task, n=n_prompts, seed=seed)
    clean, corrupt = pairs.clean.to(cfg.device), pairs.corrupt.to(cfg.device)
    with torch.no_grad():
        clean_value = float(scalar(pairs.metric(model(clean))))
        corrupt_value = float(scalar(pairs.metric(model(corrupt))))
    say(f"{task}: {len(clean)} prompt pairs of {clean.shape[1]} tokens; {pairs.metric_name}: clean "
        f"{clean_value:.3f}, corrupted {corrupt_value:.3f}")
    restored = normalized(pairs.metric, clean_value, corrupt_value)

    say("  logit lens and direct logit attribution")
    lens_curve = metric_through_layers(model, pairs)
    attr = direct_logit_attribution(model, clean, pairs.answer, pairs.wrong, position=pairs.position)
    scores = head_scores(model)

    say("  activation patching (residual stream, attention, MLP, heads) and attribution patching")
    kinds = ["resid", "attn_out", "head"] + ([] if cfg.attn_only else ["mlp"])
    patched = {k: activation_patch(model, clean, corrupt, restored, kind=k, direction="denoise").effect
               for k in kinds}
    noise_heads = activation_patch(model, clean, corrupt, restored, kind="head", direction="noise").effect
    attr_heads = attribution_patch(model, clean, corrupt, restored, kind="head", direction="denoise").effect

    findings: dict[str, Any] = {
        "task": task, "description": pairs.description, "n_prompts": len(clean), "n_tokens": clean.shape[1],
        "metric": pairs.metric_name, "clean_metric": clean_value, "corrupted_metric": corrupt_value,
        "patching": "patch_effect: a clean activation patched into the corrupted run (fraction of the metric "
                    "restored); noise_patch_effect: a corrupted activation patched into the clean run (change, "
                    "in the same units; -1 = all lost)",
        "top_heads": _ranked_heads(patched["head"], noise_heads, attr_heads, attr.heads(), scores, top_k),
        "top_positions": _ranked_positions(patched["resid"], pairs.labels, top_k),
        "top_dla": [{"component": c, "value": round(v, 4)} for c, v in attr.top(top_k)],
        "dla_error": attr.error,
        "metric_through_layers": lens_curve,
        "attribution_vs_activation_corr": _pearson(patched["head"], attr_heads),
        "position_labels": pairs.labels,
        "head_patching": patched["head"].tolist(),
        "git_commit": git_commit(),
    }
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_json(out / "findings.json", findings)
        _write_report(out / "report.html", model, pairs, findings, {**patched, "head_noise": noise_heads},
                      attr_heads, attr, scores)
        say(f"  wrote {out / 'report.html'} and {out / 'findings.json'}")
    return findings


def _write_report(path: Path, model: HookedTransformer, pairs: PromptPairs, findings: dict[str, Any],
                  patched: dict[str, torch.Tensor], attr_heads: torch.Tensor, attr, scores) -> None:
    L, H = model.cfg.n_layers, model.cfg.n_heads
    layers, heads = [f"L{i}" for i in range(L)], [f"H{h}" for h in range(H)]
    pos = [f"{i}:{s}" for i, s in enumerate(pairs.labels)]
    curve = go.Figure(go.Scatter(x=[f"resid_pre {i}" for i in range(L)] + ["final"],
                                 y=findings["metric_through_layers"], mode="lines+markers"))
    curve.update_layout(title=f"{pairs.metric_name} read through the logit lens at each layer",
                        template="plotly_white", height=360, yaxis_title=pairs.metric_name)
    summary = [["task", pairs.task], ["prompts", pairs.description],
               ["pairs x tokens", f"{findings['n_prompts']} x {findings['n_tokens']}"],
               [f"clean {pairs.metric_name}", findings["clean_metric"]],
               [f"corrupted {pairs.metric_name}", findings["corrupted_metric"]],
               ["attribution vs activation patching (heads, Pearson)", findings["attribution_vs_activation_corr"]],
               ["DLA sum error (frozen LN scale)", findings["dla_error"]]]
    top = [[h["head"], h["patch_effect"], h["noise_patch_effect"], h["attribution_patch_effect"], h["dla"],
            *(h[f"{k}_score"] for k in scores)] for h in findings["top_heads"]]
    sections: list[tuple[str, go.Figure | str]] = [
        ("Summary", table_html(summary, ["", "value"])),
        ("Most important heads (activation patching)",
         table_html(top, ["head", "restores (clean -> corrupted)", "breaks (corrupted -> clean)",
                          "attribution patch", "DLA", *(f"{k} score" for k in scores)])),
        ("Logit lens of the metric", curve),
    ]
    if model.tokenizer is not None:
        sections.append(("Logit lens of the first clean prompt", plot_logit_lens(model, pairs.clean[0])))
    sections += [
        ("Direct logit attribution per head", plot_head_attribution(attr)),
        ("Top components by DLA", table_html([[c["component"], c["value"]] for c in findings["top_dla"]],
                                             ["component", "mean contribution"])),
        ("Head detector scores", plot_head_scores(scores)),
        ("Patching: heads", heatmap(patched["head"], heads, layers, "Clean head output patched into the "
                                    "corrupted run (fraction restored)")),
        ("Patching: heads (noising)", heatmap(patched["head_noise"], heads, layers, "Corrupted head output "
                                              "patched into the clean run (change)")),
        ("Attribution patching: heads", heatmap(attr_heads, heads, layers, "Attribution patching per head")),
    ]
    for kind, title in (("resid", "residual stream"), ("attn_out", "attention output"), ("mlp", "MLP output")):
        if kind in patched:
            sections.append((f"Patching: {title}", heatmap(patched[kind], pos, layers,
                                                            f"Activation patching of the {title} (layer x position)")))
    write_report(path, f"interp analyze: {pairs.task}", sections)

"""``interp analyze``: one task analysed end to end with every instrument, as an HTML report and a JSON of findings.

For a task's clean/corrupted prompt pairs (``interp.tasks.pairs``) it measures
- the metric read off every layer's residual stream through the logit lens, and the logit lens of one prompt;
- direct logit attribution of the answer (heads, MLPs, embeddings) on the clean prompts;
- previous-token, duplicate-token and induction scores of every head;
- activation patching (clean activations into the corrupted run, normalised so 1 = fully restored) of the
  residual stream, attention and MLP outputs (layer x position) and of every head, and attribution patching of
  every head for comparison, and of every head at every position;
- the attention patterns of the most important heads (in the report).
``findings.json`` ranks the heads, the (layer, position) sites and the (head, position) cells whose patching
matters most, says in words what was found (``summary``) and warns when the clean and corrupted metrics barely
differ (``warning``; see ``findings.weak_contrast``). ``report.html`` shows it all (``report.py``).

>>> findings = analyze(model, "ioi", out_dir="runs/quickstart/analysis/ioi")
>>> findings["top_heads"][0]
{'head': 'L1H2', 'patch_effect': 0.61, 'attribution_patch_effect': 0.58, 'dla': 1.9, 'induction_score': 0.02, ...}
>>> findings.heads                  # the same as a DataFrame; also .positions, .dla, .head_grid
>>> findings.figures["Patching: heads"].show()   # every plot of the report
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from interp.analysis.attribution import direct_logit_attribution
from interp.analysis.heads import head_scores
from interp.analysis.lens import lens_logits_from_resid, residual_stack
from interp.analysis.patching import activation_patch, attribution_patch, normalized
from interp.analysis.patching.metrics import scalar
from interp.app.analyze.findings import Findings, summary_text, weak_contrast
from interp.app.analyze.report import analysis_sections, write_analysis_report
from interp.errors import ConfigError
from interp.io import atomic_write_json, git_commit
from interp.layout import AnalysisLayout
from interp.models.tl import HookedTransformer
from interp.tasks.pairs import PromptPairs, build_pairs


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


def _ranked_head_positions(head_pos_effect: torch.Tensor, labels: list[str], k: int) -> list[dict[str, Any]]:
    """(head, position) cells [layer, head, pos] by |effect|."""
    _, H, T = head_pos_effect.shape
    order = head_pos_effect.abs().flatten().argsort(descending=True)[:k]
    out = []
    for flat in order.tolist():
        layer, rest = divmod(flat, H * T)
        head, pos = divmod(rest, T)
        out.append({"head": f"L{layer}H{head}", "layer": layer, "index": head, "position": pos,
                    "label": labels[pos], "patch_effect": round(float(head_pos_effect[layer, head, pos]), 4)})
    return out


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def analyze(model: HookedTransformer, task: str | PromptPairs, out_dir: str | Path | None = None,
            n_prompts: int = 64, seed: int = 0, top_k: int = 5, progress: bool = True) -> Findings:
    """Analyse ``task`` (a name in ``interp.tasks.pairs.PAIR_BUILDERS``, or your own ``PromptPairs``) on
    ``model``; with ``out_dir``, write ``report.html`` and ``findings.json`` there. Returns the findings (a dict
    with DataFrame views)."""
    if n_prompts < 1:
        raise ConfigError(f"n_prompts (--n-prompts) must be at least 1, got {n_prompts}.")
    say = print if progress else (lambda *_: None)
    cfg = model.cfg
    pairs = task if isinstance(task, PromptPairs) else build_pairs(model, task, n=n_prompts, seed=seed)
    clean, corrupt = pairs.clean.to(cfg.device), pairs.corrupt.to(cfg.device)
    with torch.no_grad():
        clean_value = float(scalar(pairs.metric(model(clean))))
        corrupt_value = float(scalar(pairs.metric(model(corrupt))))
    say(f"{pairs.task}: {len(clean)} prompt pairs of {clean.shape[1]} tokens; {pairs.metric_name}: clean "
        f"{clean_value:.3f}, corrupted {corrupt_value:.3f}")
    warning = weak_contrast(clean_value, corrupt_value)
    if warning:
        say(f"  warning: {warning}")
    if abs(clean_value - corrupt_value) > 1e-9:
        restored, unit = normalized(pairs.metric, clean_value, corrupt_value), "fraction of the clean - corrupted metric gap"
    else:  # nothing to normalise by: report raw changes of the metric
        restored, unit = pairs.metric, f"change of the {pairs.metric_name}"

    say("  logit lens and direct logit attribution")
    lens_curve = metric_through_layers(model, pairs)
    attr = direct_logit_attribution(model, clean, pairs.answer, pairs.wrong, position=pairs.position)
    scores = head_scores(model)

    say("  activation patching (residual stream, attention, MLP, heads, heads x positions) and attribution patching")
    kinds = ["resid", "attn_out", "head", "head_pos"] + ([] if cfg.attn_only else ["mlp"])
    patched = {k: activation_patch(model, clean, corrupt, restored, kind=k, direction="denoise").effect
               for k in kinds}
    patched["head_noise"] = activation_patch(model, clean, corrupt, restored, kind="head", direction="noise").effect
    attr_heads = attribution_patch(model, clean, corrupt, restored, kind="head", direction="denoise").effect

    findings = Findings({
        "task": pairs.task, "description": pairs.description, "n_prompts": len(clean), "n_tokens": clean.shape[1],
        "metric": pairs.metric_name, "clean_metric": clean_value, "corrupted_metric": corrupt_value,
        "warning": warning, "patch_unit": unit,
        "patching": "patch_effect: a clean activation patched into the corrupted run (fraction of the metric "
                    "restored); noise_patch_effect: a corrupted activation patched into the clean run (change, "
                    "in the same units; -1 = all lost)",
        "top_heads": _ranked_heads(patched["head"], patched["head_noise"], attr_heads, attr.heads(), scores, top_k),
        "top_positions": _ranked_positions(patched["resid"], pairs.labels, top_k),
        "top_head_positions": _ranked_head_positions(patched["head_pos"], pairs.labels, top_k),
        "top_dla": [{"component": c, "value": round(v, 4)} for c, v in attr.top(top_k)],
        "dla_error": attr.error,
        "metric_through_layers": lens_curve,
        "attribution_vs_activation_corr": _pearson(patched["head"], attr_heads),
        "position_labels": pairs.labels,
        "head_patching": patched["head"].tolist(),
        "git_commit": git_commit(),
    })
    findings["summary"] = summary_text(findings)
    findings.sections_builder = lambda: analysis_sections(model, pairs, findings, patched, attr_heads, attr, scores)
    if out_dir is not None:
        out = Path(out_dir)
        files = AnalysisLayout(out)
        atomic_write_json(files.findings, findings)
        write_analysis_report(files.report, pairs.task, findings, findings.sections())
        say(f"  wrote {out / 'report.html'} and {out / 'findings.json'}")
    return findings

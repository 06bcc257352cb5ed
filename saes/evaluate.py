"""SAE and transcoder evaluation (``interp eval-sae``): reconstruction, sparsity and what splicing costs the model.

Metrics on held-out tokens (BOS positions left out of the reconstruction metrics):
- ``l0`` (mean active features per token), ``fvu`` (fraction of variance unexplained), ``cosine`` (mean cosine
  similarity of reconstruction and target);
- ``ce_clean``, ``ce_spliced`` (the SAE's output in place of the activation; a transcoder replaces the MLP),
  ``ce_zero`` and ``ce_mean`` (that activation zero- / mean-ablated), ``ce_recovered`` =
  (ce_zero - ce_spliced) / (ce_zero - ce_clean) and ``ce_recovered_mean`` (against mean ablation);
- ``kl`` (KL(clean || spliced) per token);
- ``dead`` (features that never fired), ``dense`` (firing on more than 10% of tokens) and the feature-density
  histogram (log10 firing frequency), as a plotly figure.

>>> metrics = evaluate_sae(model, sae, tokens)          # tokens: [n_seq, ctx]
>>> metrics["ce_recovered"], metrics["l0"]
>>> evaluate_saes(model, {"topk": sae, "relu": other}, tokens)   # a DataFrame, one row per SAE
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from interp.models.tl import HookedTransformer
from saes.base import SAE
from saes.hooked import _flat, splice_hooks


def _ce(logits: Tensor, tokens: Tensor) -> Tensor:
    """Per-token next-token loss ``[batch, pos-1]``."""
    return F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), tokens[:, 1:], reduction="none")


@torch.no_grad()
def evaluate_sae(model: HookedTransformer, sae: SAE, tokens: Tensor, batch_size: int = 16,
                 dense_threshold: float = 0.1, progress: bool = False) -> dict[str, Any]:
    """All metrics above, averaged over ``tokens`` ([n_seq, ctx]); ``density`` holds per-feature firing rates."""
    dev = model.cfg.device
    target_hook = sae.cfg.hook_name_out or sae.cfg.hook_name
    names = {sae.cfg.hook_name, target_hook}
    mean_act = None
    sums = dict(ce_clean=0.0, ce_spliced=0.0, ce_zero=0.0, ce_mean=0.0, kl=0.0, sq_err=0.0, cos=0.0, l0=0.0, n=0,
                n_tok=0)
    fired = torch.zeros(sae.cfg.d_sae)
    sq_sum = lin_sum = None
    batches = [tokens[i : i + batch_size].to(dev) for i in range(0, len(tokens), batch_size)]
    # The mean activation (for mean ablation) over all tokens, from a first pass.
    for toks in batches:
        _, cache = model.run_with_cache(toks, names_filter=lambda n: n == target_hook)
        a = cache[target_hook].float().sum(dim=(0, 1))
        mean_act = a if mean_act is None else mean_act + a
    mean_act = mean_act / (len(tokens) * tokens.shape[1])

    for toks in tqdm(batches, desc="eval-sae", disable=not progress):
        logits, cache = model.run_with_cache(toks, names_filter=lambda n: n in names)
        x = _flat(cache[sae.cfg.hook_name])[:, 1:].float()  # BOS positions left out
        target = _flat(cache[target_hook])[:, 1:].float()
        feats = sae.encode(x)
        recon = sae.decode(feats) + sae.skip_out(x)
        active = feats > 0
        fired += active.flatten(0, 1).float().sum(0).cpu()
        rows = x.shape[0] * x.shape[1]
        sums["l0"] += float(active.sum())
        sums["sq_err"] += float((recon - target).pow(2).sum())
        sums["cos"] += float(F.cosine_similarity(recon, target, dim=-1).sum())
        flat_t = target.flatten(0, 1).double()
        sq_sum = flat_t.pow(2).sum(0) if sq_sum is None else sq_sum + flat_t.pow(2).sum(0)
        lin_sum = flat_t.sum(0) if lin_sum is None else lin_sum + flat_t.sum(0)
        sums["n"] += rows

        with model.hooks(fwd_hooks=splice_hooks(model, [sae])):
            spliced = model(toks)
        with model.hooks(fwd_hooks=[(target_hook, lambda act, hook: torch.zeros_like(act))]):
            zero = model(toks)
        with model.hooks(fwd_hooks=[(target_hook, lambda act, hook: mean_act.to(act.dtype).expand_as(act))]):
            mean = model(toks)
        for key, lg in (("ce_clean", logits), ("ce_spliced", spliced), ("ce_zero", zero), ("ce_mean", mean)):
            sums[key] += float(_ce(lg, toks).sum())
        logp, logq = logits.float().log_softmax(-1), spliced.float().log_softmax(-1)
        sums["kl"] += float((logp.exp() * (logp - logq)).sum())
        sums["n_tok"] += toks.shape[0] * (toks.shape[1] - 1)

    n, n_tok = sums["n"], sums["n_tok"]
    total_var = float((sq_sum - lin_sum.pow(2) / n).sum())
    ce = {k: sums[k] / n_tok for k in ("ce_clean", "ce_spliced", "ce_zero", "ce_mean")}
    density = fired / n
    return {
        "l0": sums["l0"] / n, "fvu": sums["sq_err"] / total_var, "cosine": sums["cos"] / n, **ce,
        "ce_recovered": _recovered(ce["ce_zero"], ce["ce_spliced"], ce["ce_clean"]),
        "ce_recovered_mean": _recovered(ce["ce_mean"], ce["ce_spliced"], ce["ce_clean"]),
        "kl": sums["kl"] / (len(tokens) * tokens.shape[1]),
        "dead": float((density == 0).float().mean()), "dense": float((density > dense_threshold).float().mean()),
        "n_tokens": n, "density": density,
    }


METRIC_COLUMNS = ("l0", "fvu", "cosine", "ce_recovered", "ce_recovered_mean", "kl", "dead", "dense", "ce_clean",
                  "ce_spliced", "ce_zero", "ce_mean", "n_tokens")
"""The scalar metrics of ``evaluate_sae``, in the order a table shows them (the headline ones first)."""


def metrics_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``evaluate_sae`` dicts (by SAE name) as a DataFrame: one row per SAE (index ``sae``), one column per scalar
    metric (``density``, a per-feature tensor, left out; metrics beyond ``METRIC_COLUMNS`` follow them).

    >>> metrics_table({name: evaluate_sae(model, sae, tokens) for name, sae in saes.items()}).sort_values("fvu")
    """
    rows = {name: {k: v for k, v in m.items() if isinstance(v, (int, float))} for name, m in results.items()}
    columns = [c for c in METRIC_COLUMNS if any(c in r for r in rows.values())]
    columns += sorted({k for r in rows.values() for k in r} - set(columns))
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("sae")


def evaluate_saes(model: HookedTransformer, saes: Mapping[str, SAE], tokens: Tensor, **kw: Any) -> pd.DataFrame:
    """``evaluate_sae`` for each SAE (by name) on the same ``tokens`` ([n_seq, ctx]), as one DataFrame (see
    ``metrics_table``); ``kw`` go to ``evaluate_sae``.

    >>> evaluate_saes(model, {"topk": topk_sae, "relu": relu_sae}, tokens)[["l0", "fvu", "ce_recovered"]]
    """
    return metrics_table({name: evaluate_sae(model, sae, tokens, **kw) for name, sae in saes.items()})


def _recovered(ablated: float, spliced: float, clean: float) -> float:
    gap = ablated - clean
    return (ablated - spliced) / gap if abs(gap) > 1e-9 else math.nan


def density_histogram(density: Tensor, title: str = "Feature density") -> go.Figure:
    """Histogram of log10 firing frequency; dead features shown as a separate count in the title."""
    alive = density[density > 0]
    fig = go.Figure(go.Histogram(x=alive.log10().tolist(), nbinsx=50))
    fig.update_layout(title=f"{title} ({int((density == 0).sum())} dead of {len(density)})",
                      xaxis_title="log10 firing frequency", yaxis_title="features", template="plotly_white",
                      height=340)
    return fig

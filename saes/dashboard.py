"""Feature dashboards (``interp dashboard``): one offline HTML page per feature and an index linking them.

Each page shows the feature's top-activating contexts (tokens shaded by activation), its activation histogram,
the output tokens its decoder direction promotes and suppresses (through the unembedding), and for a
transcoder also the input tokens it reads (its encoder direction against the token embeddings: de-embedding).

>>> write_dashboards(model, sae, tokens, "runs/saes/topk-resid1/dashboard", features=[0, 5, 17])
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import torch
from torch import Tensor

from interp.app.report import table_html, write_report
from interp.io import atomic_write_text
from interp.models.tl import HookedTransformer
from saes.base import SAE
from saes.hooked import feature_acts


@dataclass
class FeatureStats:
    index: int
    density: float  # fraction of tokens on which it fires
    max_act: float
    contexts: list[tuple[list[str], list[float], int]]  # (tokens, activations, position of the max)
    acts: Tensor  # its non-zero activations
    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]
    reads: list[tuple[str, float]] | None  # transcoders: input tokens it reads


def _tok(model: HookedTransformer, t: int) -> str:
    return model.tokenizer.decode([t]) if model.tokenizer is not None else f"<{t}>"


@torch.no_grad()
def feature_stats(model: HookedTransformer, sae: SAE, tokens: Tensor, features: list[int], n_contexts: int = 10,
                  window: int = 8, n_logits: int = 10, acts: Tensor | None = None) -> list[FeatureStats]:
    acts = feature_acts(model, tokens, sae) if acts is None else acts  # [n_seq, pos, d_sae]
    acts[:, 0] = 0  # BOS carries no feature information worth showing
    W_U = model.W_U.detach().cpu()
    out = []
    for f in features:
        a = acts[..., f]
        flat = a.flatten()
        top = flat.topk(min(n_contexts, int((flat > 0).sum()))).indices.tolist() if (flat > 0).any() else []
        contexts = []
        for i in top:
            seq, pos = divmod(i, a.shape[1])
            lo, hi = max(0, pos - window), min(a.shape[1], pos + 3)
            contexts.append(([_tok(model, int(t)) for t in tokens[seq, lo:hi]], a[seq, lo:hi].tolist(), pos - lo))
        direction = sae.W_dec[f].detach().cpu()
        logits = direction @ W_U if direction.shape[0] == W_U.shape[0] else torch.zeros(W_U.shape[1])
        up, down = logits.topk(n_logits), (-logits).topk(n_logits)
        reads = None
        if sae.cfg.is_transcoder and sae.cfg.d_in == model.cfg.d_model:
            emb = model.W_E.detach().cpu()
            emb = (emb - emb.mean(-1, keepdim=True)) / emb.std(-1, keepdim=True)  # as LayerNorm would see them
            score = emb @ sae.W_enc[:, f].detach().cpu()
            r = score.topk(n_logits)
            reads = [(_tok(model, int(i)), float(v)) for v, i in zip(r.values, r.indices, strict=True)]
        out.append(FeatureStats(
            f, float((a > 0).float().mean()), float(a.max()), contexts, a[a > 0],
            [(_tok(model, int(i)), float(v)) for v, i in zip(up.values, up.indices, strict=True)],
            [(_tok(model, int(i)), -float(v)) for v, i in zip(down.values, down.indices, strict=True)], reads))
    return out


def _context_html(tokens: list[str], values: list[float], peak: int, scale: float) -> str:
    spans = []
    for i, (t, v) in enumerate(zip(tokens, values, strict=True)):
        alpha = max(0.0, min(1.0, v / scale)) if scale > 0 else 0.0
        border = "border-bottom:2px solid #cf222e;" if i == peak else ""
        spans.append(f'<span title="{v:.3f}" style="background:rgba(255,120,0,{alpha:.2f});{border}">'
                     f"{html.escape(t).replace(' ', '&nbsp;')}</span>")
    return "<pre>" + "".join(spans) + "</pre>"


def write_dashboards(model: HookedTransformer, sae: SAE, tokens: Tensor, out_dir: str | Path,
                     features: list[int] | None = None, n_features: int = 20, acts: Tensor | None = None) -> Path:
    """Write ``feature_{i}.html`` for each feature (default: the ``n_features`` most frequent) and ``index.html``."""
    out = Path(out_dir)
    acts = feature_acts(model, tokens, sae) if acts is None else acts
    if features is None:
        density = (acts[:, 1:] > 0).float().mean(dim=(0, 1))
        features = density.argsort(descending=True)[:n_features].tolist()
    rows = []
    for st in feature_stats(model, sae, tokens, features, acts=acts):
        hist = go.Figure(go.Histogram(x=st.acts.tolist(), nbinsx=40))
        hist.update_layout(title=f"Activations of feature {st.index} (where it fires)", template="plotly_white",
                           height=300, xaxis_title="activation", yaxis_title="tokens")
        sections: list[tuple[str, go.Figure | str]] = [
            ("Summary", table_html([["density", st.density], ["max activation", st.max_act],
                                    ["hook", sae.cfg.hook_name + (f" -> {sae.cfg.hook_name_out}"
                                                                 if sae.cfg.is_transcoder else "")]], ["", ""])),
            ("Top-activating contexts", "".join(_context_html(*c, st.max_act) for c in st.contexts) or
             "<p>Never fires on these tokens (dead here).</p>"),
            ("Activation histogram", hist),
            ("Logits it promotes", table_html([[t, v] for t, v in st.promoted], ["token", "logit"])),
            ("Logits it suppresses", table_html([[t, v] for t, v in st.suppressed], ["token", "logit"])),
        ]
        if st.reads is not None:
            sections.append(("Input tokens it reads (de-embedding)", table_html([[t, v] for t, v in st.reads],
                                                                                 ["token", "score"])))
        write_report(out / f"feature_{st.index}.html", f"Feature {st.index}", sections)
        top_ctx = "".join(st.contexts[0][0]) if st.contexts else ""
        rows.append(f'<tr><td><a href="feature_{st.index}.html">{st.index}</a></td><td>{st.density:.4f}</td>'
                    f"<td>{st.max_act:.3f}</td><td>{html.escape(' '.join(t for t, _ in st.promoted[:5]))}</td>"
                    f"<td><code>{html.escape(top_ctx)}</code></td></tr>")
    index = ("<!doctype html><html><head><meta charset='utf-8'><title>Feature dashboards</title></head><body>"
             f"<h1>Features of {html.escape(sae.cfg.architecture)} SAE on {html.escape(sae.cfg.hook_name)}</h1>"
             "<table><tr><th>feature</th><th>density</th><th>max act</th><th>promotes</th><th>top context</th></tr>"
             + "".join(rows) + "</table></body></html>")
    atomic_write_text(out / "index.html", index)
    return out / "index.html"

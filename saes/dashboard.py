"""Feature dashboards (``interp dashboard``): one offline HTML page per feature and a sortable index linking them.

Each page shows the feature's numbers, its top-activating examples and examples from quantile intervals of its
activation distribution (every token shaded by its activation, the value on hover and beside each example), its
activation histogram, the output tokens its decoder direction promotes and suppresses (through the unembedding)
and, for a transcoder, the input tokens it reads (de-embedding). Pages link to the index and to the previous and
next feature in index order. All pages share one ``plotly.min.js`` in the directory (referenced relatively), so
the directory opens offline and still works wherever it is copied.

>>> write_dashboards(model, sae, tokens, "runs/saes/topk-resid1/dashboard", features=[0, 5, 17])
>>> write_dashboards(model, sae, tokens, out, n_features=50, sort_by="mean_act")   # see SORT_COLUMNS
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.io as pio
import plotly.offline
from torch import Tensor

from interp.io import atomic_write_text
from interp.models.tl import HookedTransformer
from saes.base import SAE
from saes.dashboard_data import (
    SORT_COLUMNS,
    DashboardError,
    Example,
    FeatureStats,
    Interval,
    density,
    feature_stats,
    feature_table,
    sort_features,
)
from saes.dashboard_html import (
    LABELS,
    context_html,
    examples_html,
    index_html,
    intervals_html,
    nav_html,
    page,
    summary_html,
    token_table,
)
from saes.hooked import feature_acts

PLOTLY_JS = "plotly.min.js"
"""The one copy of plotly.js in a dashboard directory; every page loads it by this relative name."""



def _context_html(tokens: list[str], values: list[float], peak: int, scale: float) -> str:
    """One example as its own ``<pre>`` block (the form notebooks/05 displays; pages use ``examples_html``)."""
    return f"<pre>{context_html(tokens, values, peak, scale)}</pre>"


__all__ = ["PLOTLY_JS", "SORT_COLUMNS", "DashboardError", "Example", "FeatureStats", "Interval", "feature_stats",
           "feature_table", "sort_features", "write_dashboards"]


def _histogram_html(st: FeatureStats) -> str:
    """Pre-binned histogram of the firing values (the page stays small), the interval edges dashed. Built as a
    plain plotly figure dict: validating a ``go.Figure`` and its template costs ~0.25 s a page."""
    counts, edges = np.histogram(st.acts.numpy(), bins=40) if len(st.acts) else (np.zeros(0), np.zeros(1))
    lines = [{"type": "line", "xref": "x", "yref": "paper", "x0": lo, "x1": lo, "y0": 0, "y1": 1,
              "line": {"dash": "dash", "color": "#57606a", "width": 1}} for lo in sorted({iv.lo for iv in st.intervals})[1:]]
    axis = {"gridcolor": "#eaeef2", "zeroline": False}
    fig = {"data": [{"type": "bar", "x": ((edges[:-1] + edges[1:]) / 2).tolist(), "y": counts.tolist(),
                     "width": np.diff(edges).tolist(), "marker": {"color": "#f08c00"},
                     "hovertemplate": "activation %{x:.3g}<br>%{y} tokens<extra></extra>"}],
           "layout": {"height": 280, "margin": {"l": 50, "r": 20, "t": 10, "b": 45}, "bargap": 0, "shapes": lines,
                      "plot_bgcolor": "white", "font": {"family": "system-ui, sans-serif", "size": 12},
                      "xaxis": {**axis, "title": {"text": "activation where it fires (dashed: quantile-interval "
                                                          "edges)"}},
                      "yaxis": {**axis, "title": {"text": "tokens"}}}}
    return pio.to_html(fig, full_html=False, include_plotlyjs=PLOTLY_JS, validate=False,
                       config={"displaylogo": False})


def _feature_page(st: FeatureStats, sae: SAE, rank: str, n_scored: int, prev: int | None, next_: int | None) -> str:
    hook = sae.cfg.hook_name + (f" \u2192 {sae.cfg.hook_name_out}" if sae.cfg.is_transcoder else "")
    nav = nav_html(prev, next_)
    parts = [nav, f"<h1>Feature {st.index}</h1>",
             f"<p class='meta'>{html.escape(sae.cfg.architecture)} SAE on <code>{html.escape(hook)}</code> \u00b7 "
             f"{rank}</p>", summary_html(st, n_scored),
             "<h2>Top activations</h2>",
             examples_html(st.top, st.max_act) if st.top else "<p class='meta'>It never fires on these tokens.</p>",
             "<h2>Examples across its activation range</h2>"
             "<p class='meta'>Random examples from equal-count quantile intervals of the values where it fires "
             "(top examples left out); shading is relative to its maximum.</p>",
             intervals_html(st.intervals, st.max_act),
             "<h2>Activation histogram</h2>",
             _histogram_html(st)]
    if st.promoted:
        parts += ["<h2>Logits its decoder direction moves</h2><div class='side'>",
                  f"<div><h3>promotes</h3>{token_table(st.promoted, 'logit')}</div>",
                  f"<div><h3>suppresses</h3>{token_table(st.suppressed, 'logit')}</div></div>"]
    if st.reads is not None:
        parts += ["<h2>Input tokens it reads (de-embedding)</h2>", token_table(st.reads, "score")]
    return page(f"Feature {st.index}", "".join(parts) + nav)


def write_dashboards(model: HookedTransformer, sae: SAE, tokens: Tensor, out_dir: str | Path,
                     features: list[int] | None = None, n_features: int = 20, acts: Tensor | None = None,
                     sort_by: str = "max_act") -> Path:
    """Write ``feature_{i}.html`` for each feature (default: the ``n_features`` most frequent), ``index.html``
    (sorted by ``sort_by``, one of ``SORT_COLUMNS``) and ``plotly.min.js`` into ``out_dir``; returns the index.
    ``tokens``: [n_seq, pos]; ``acts``: their feature activations [n_seq, pos, d_sae] if already computed."""
    if sort_by not in SORT_COLUMNS:
        raise DashboardError(f"Cannot sort features by {sort_by!r}: choose one of {', '.join(SORT_COLUMNS)}.")
    out = Path(out_dir)
    acts = feature_acts(model, tokens, sae) if acts is None else acts
    if features is None:
        features = density(acts).argsort(descending=True)[:n_features].tolist()
    table = sort_features(feature_table(model, sae, tokens, features, acts=acts), sort_by)
    order = table.index.tolist()
    n_scored = tokens.shape[0] * (tokens.shape[1] - 1)
    atomic_write_text(out / PLOTLY_JS, plotly.offline.get_plotlyjs())
    by = LABELS[sort_by] + (" (ascending)" if sort_by == "feature" else " (descending)")
    for i, st in enumerate(feature_stats(model, sae, tokens, order, acts=acts)):
        rank = f"#{i + 1} of {len(order)} by {LABELS[sort_by]}"
        prev, next_ = (order[i - 1] if i else None), (order[i + 1] if i + 1 < len(order) else None)
        atomic_write_text(out / f"feature_{st.index}.html", _feature_page(st, sae, rank, n_scored, prev, next_))
    hook = sae.cfg.hook_name + (f" \u2192 {sae.cfg.hook_name_out}" if sae.cfg.is_transcoder else "")
    meta = (f"{html.escape(sae.cfg.architecture)} SAE on <code>{html.escape(hook)}</code> \u00b7 "
            f"{sae.cfg.d_sae:,} features \u00b7 {n_scored:,} tokens scored ({tokens.shape[0]} windows of "
            f"{tokens.shape[1]}, first position left out) \u00b7 {len(order)} features shown, sorted by {by}. "
            "Click a column heading to re-sort; density is the fraction of tokens where it fires, mean activation "
            "the mean where it fires.")
    index = out / "index.html"
    atomic_write_text(index, index_html(table, "Feature dashboards", meta))
    return index

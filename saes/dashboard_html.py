"""HTML fragments of the feature dashboards: highlighted examples, the index table, a feature page's sections.

Every token of an example is shaded by the feature's activation on it (relative to the feature's maximum); the
value shows on hover (``title``) and is kept in ``data-act``; the chosen token's value is printed beside it.

>>> context_html(example.tokens, example.acts, example.peak, scale=stats.max_act)   # one example, one line
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

from saes.dashboard_data import Example, FeatureStats, Interval

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
color:#1f2328;background:#fff}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d0d7de;
padding-bottom:.2em}h3{font-size:.95em;margin:1.2em 0 .3em;color:#444}
.meta{color:#57606a;margin:.2em 0 1em}a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
nav{display:flex;margin-top:1em;justify-content:space-between;font-size:.95em;padding:.5em 0;border-bottom:1px solid #eee}
nav .off{color:#bbb}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left;
vertical-align:top}th{background:#f6f8fa;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.features th{cursor:pointer;user-select:none}table.features th:hover{background:#eaeef2}
table.features tbody tr:hover{background:#f6f8fa}
code.tok{background:#f0f2f4;border-radius:4px;padding:0 4px;margin-right:4px;white-space:pre;font-size:.9em}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;
min-width:120px}.card b{display:block;font-size:1.3em;font-variant-numeric:tabular-nums}
.card span{color:#57606a;font-size:.85em}
table.ex{width:100%}table.ex td.ctx{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88em;
white-space:pre-wrap;word-break:break-all;line-height:1.7}
table.ex td.val{width:5em;color:#9a3412;font-weight:600;font-size:.88em;line-height:1.7}
span.t{border-radius:2px;padding:1px 0}span.t.peak{outline:1.5px solid #cf222e;font-weight:600}
span.t:hover{outline:1px solid #333}
.side{display:flex;gap:40px;flex-wrap:wrap}
"""

_SORT_JS = """
document.querySelectorAll('table.features th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
  const up = th.dataset.dir !== 'desc', num = th.classList.contains('num');
  const key = r => num ? parseFloat(r.cells[col].dataset.v) : r.cells[col].textContent;
  rows.sort((a, b) => { const x = key(a), y = key(b);
    if (num && isNaN(x) !== isNaN(y)) return isNaN(x) ? 1 : -1;
    return (x < y ? -1 : x > y ? 1 : 0) * (up ? -1 : 1); });
  th.closest('table').querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = up ? 'desc' : 'asc'; rows.forEach(r => body.appendChild(r));
}));
"""

LABELS = {"feature": "feature", "density": "density", "max_act": "max activation", "mean_act": "mean activation"}


def page(title: str, body: str, script: str = "") -> str:
    """A complete HTML page with the dashboard style."""
    js = f"<script>{script}</script>" if script else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}{js}</body></html>")


def _shown(token: str) -> str:
    return html.escape(token.replace("\n", "\u21b5").replace("\t", "\u21e5"))


def context_html(tokens: Sequence[str], values: Sequence[float], peak: int, scale: float) -> str:
    """Tokens shaded by activation (``values``, relative to ``scale``); the ``peak`` token outlined."""
    spans = []
    for i, (t, v) in enumerate(zip(tokens, values, strict=True)):
        alpha = max(0.0, min(1.0, v / scale)) if scale > 0 else 0.0
        cls = "t peak" if i == peak else "t"
        spans.append(f'<span class="{cls}" title="{v:.4g}" data-act="{v:.6g}" '
                     f'style="background:rgba(255,120,0,{alpha:.2f})">{_shown(t)}</span>')
    return "".join(spans)


def examples_html(examples: Sequence[Example], scale: float) -> str:
    """A table of examples: the chosen token's activation, then the highlighted context."""
    rows = [f'<tr class="example" data-seq="{e.seq}" data-pos="{e.pos}" data-start="{e.start}">'
            f'<td class="num val" title="sequence {e.seq}, position {e.pos}">{e.value:.3g}</td>'
            f'<td class="ctx">{context_html(e.tokens, e.acts, e.peak, scale)}</td></tr>' for e in examples]
    return f'<table class="ex">{"".join(rows)}</table>'


def intervals_html(intervals: Sequence[Interval], scale: float) -> str:
    """One block per quantile interval: its range, how many tokens fall in it, and its examples."""
    parts = []
    for iv in intervals:
        head = (f"Quantiles {iv.q_lo:.0%}\u2013{iv.q_hi:.0%} of firing tokens: activation {iv.lo:.3g}\u2013"
                f"{iv.hi:.3g} ({iv.n_tokens:,} tokens)")
        body = examples_html(iv.examples, scale) if iv.examples else "<p class='meta'>No examples beyond the top " \
                                                                        "ones.</p>"
        parts.append(f'<div class="interval" data-lo="{iv.lo!r}" data-hi="{iv.hi!r}"><h3>{html.escape(head)}</h3>'
                     f"{body}</div>")
    return "".join(parts) or "<p class='meta'>It never fires on these tokens.</p>"


def _num(v: float, fmt: str, suffix: str = "") -> str:
    text = "\u2013" if math.isnan(v) else format(v, fmt) + suffix
    return f'<td class="num" data-v="{v!r}">{text}</td>'


def _chip(token: str) -> str:
    """A token on its own: whitespace-only tokens made visible (a space as \u2423)."""
    visible = token if token.strip() else token.replace(" ", "\u2423")
    return f'<code class="tok">{_shown(visible)}</code>'


def _chips(tokens: Sequence[str]) -> str:
    return "".join(_chip(t) for t in tokens)


def index_html(table: pd.DataFrame, title: str, meta: str) -> str:
    """The index page: ``table`` (from ``feature_table``, already in display order), each id linking its page."""
    head = ('<tr><th class="num">feature</th><th class="num">density</th><th class="num">max activation</th>'
            '<th class="num">mean activation</th><th>top tokens</th><th>promotes</th></tr>')
    rows = [f'<tr><td class="num" data-v="{f}"><a href="feature_{f}.html">{f}</a></td>'
            f"{_num(r.density * 100, '.3g', '%')}{_num(r.max_act, '.3g')}{_num(r.mean_act, '.3g')}"
            f"<td>{_chips(r.top_tokens)}</td><td>{_chips(r.promotes)}</td></tr>"
            for f, r in zip(table.index, table.itertuples(), strict=True)]
    body = (f"<h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>"
            f'<table class="features"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')
    return page(title, body, _SORT_JS)


def nav_html(prev: int | None, next_: int | None) -> str:
    """Links to the previous and next feature (in index order) and back to the index."""
    left = f'<a rel="prev" href="feature_{prev}.html">\u2190 feature {prev}</a>' if prev is not None else \
        "<span class='off'>\u2190 first</span>"
    right = f'<a rel="next" href="feature_{next_}.html">feature {next_} \u2192</a>' if next_ is not None else \
        "<span class='off'>last \u2192</span>"
    return f'<nav>{left}<a href="index.html">index of features</a>{right}</nav>'


def summary_html(st: FeatureStats, n_scored: int) -> str:
    """Cards with the feature's numbers (from its ``feature_table`` row)."""
    cards = [("density", f"{st.density:.3%}"), ("max activation", f"{st.max_act:.4g}"),
             ("mean activation (where it fires)", "\u2013" if math.isnan(st.mean_act) else f"{st.mean_act:.4g}"),
             ("fires on", f"{len(st.acts):,} of {n_scored:,} tokens")]
    return '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>'
                                           for k, v in cards) + "</div>"


def token_table(pairs: Sequence[tuple[str, float]], what: str) -> str:
    """A two-column table of tokens and a score."""
    rows = "".join(f'<tr><td>{_chip(t)}</td><td class="num">{v:.3g}</td></tr>'
                   for t, v in pairs)
    return f'<table><tr><th>token</th><th class="num">{html.escape(what)}</th></tr>{rows}</table>'

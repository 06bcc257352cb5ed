"""A self-contained HTML report for a run: loss curve, task scores, sample generations.

Plotly's JavaScript is embedded once, so the page opens offline.

>>> write_report(run_dir, title="Quickstart", sections=[("Loss", fig), ("Samples", "<pre>...</pre>")])
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from interp.io import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}pre{background:#f6f8fa;padding:10px;white-space:pre-wrap}
.ok{color:#1a7f37}.bad{color:#cf222e}
.warn{background:#fff4e5;border-left:5px solid #e8590c;padding:8px 12px;margin:1em 0}
.flag{background:#ffebe9;color:#cf222e;font-weight:600;padding:1px 4px;white-space:nowrap}
p.summary{font-size:1.05em;line-height:1.5}.note,.explain{color:#555}td.verdict{min-width:9em}
td.explain{font-size:.92em;max-width:32em}code{background:#f6f8fa;padding:1px 4px}li{margin-bottom:.5em}
"""


def table_html(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """An HTML table; floats get 4 significant digits."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:.4g}</td>'
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def samples_html(samples: Sequence[tuple[str, str]]) -> str:
    """Prompt/continuation pairs, the prompt in bold."""
    return "".join(f"<pre><b>{html.escape(p)}</b>{html.escape(c)}</pre>" for p, c in samples)


def write_report(
    path: str | Path, title: str, sections: Sequence[tuple[str, go.Figure | str]], intro: str = ""
) -> Path:
    """Write ``sections`` (a heading with a plotly figure or an HTML fragment) to one HTML file."""
    parts, js_done = [], False
    for heading, content in sections:
        if heading:  # an empty heading continues the previous section
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, go.Figure):
            parts.append(content.to_html(full_html=False, include_plotlyjs=not js_done))
            js_done = True
        else:
            parts.append(content)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{intro}{''.join(parts)}</body></html>"
    )
    path = Path(path)
    atomic_write_text(path, page)
    return path

"""What ``interp analyze`` found, as a dict (the content of ``findings.json``) with pandas views and a summary.

``Findings`` is the findings dict itself (so ``findings["top_heads"]`` and ``json.dump`` work as before) with
tables on top: ``.heads`` (the ranked heads), ``.positions`` (the ranked residual-stream sites), ``.dla`` (the
top direct-logit-attribution components) and ``.head_grid`` (every head's patching effect).

Weak contrast: patching measures how much of the gap between the clean and the corrupted metric a patch
restores, so it needs a gap. ``weak_contrast`` flags a gap smaller than ``WEAK_GAP_ABSOLUTE`` (0.1: every
analysed metric is a logit difference or a log-probability, in nats) or than ``WEAK_GAP_RELATIVE`` (10 %) of the
larger of the two metrics' magnitudes; the report then shows a warning, because normalised effects divide by
that small gap and are mostly noise.

>>> findings = load_findings("runs/quickstart/model/analysis/ioi/findings.json")
>>> findings.heads.head(3)          # sorted by importance, descending
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from interp.io import read_json
from interp.layout import AnalysisLayout

WEAK_GAP_ABSOLUTE = 0.1
WEAK_GAP_RELATIVE = 0.1


def weak_contrast(clean: float, corrupt: float) -> str | None:
    """A warning when the clean and corrupted metrics barely differ (see the module docstring), else None."""
    gap = abs(clean - corrupt)
    relative = WEAK_GAP_RELATIVE * max(abs(clean), abs(corrupt))
    if gap >= WEAK_GAP_ABSOLUTE and gap >= relative:
        return None
    why = (f"under {WEAK_GAP_ABSOLUTE} nats" if gap < WEAK_GAP_ABSOLUTE
           else f"under {WEAK_GAP_RELATIVE:.0%} of the larger magnitude ({relative / WEAK_GAP_RELATIVE:.3g})")
    return (f"The clean and corrupted metrics barely differ ({clean:.4g} vs {corrupt:.4g}: a gap of {gap:.3g}, {why}). "
            "Patching effects are measured against this gap, so they are mostly noise: the corruption does not "
            "remove what the task needs, or the model does not do the task. Use a stronger corruption, more "
            "prompts, or a better-trained model.")


class Findings(dict):
    """The findings dict with DataFrame views (see the module docstring) and, after ``analyze``, the report's
    plots in ``.figures`` (heading -> plotly figure, built on first use; not saved in ``findings.json``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections_builder: Callable[[], list[tuple[str, Any]]] | None = None
        self._sections: list[tuple[str, Any]] | None = None

    def sections(self) -> list[tuple[str, Any]]:
        """The report's sections (heading, plotly figure or HTML), built once; empty for loaded findings."""
        if self._sections is None:
            self._sections = self.sections_builder() if self.sections_builder is not None else []
        return self._sections

    @property
    def figures(self) -> dict[str, Any]:
        """The report's plots by section heading."""
        import plotly.graph_objects as go

        return {heading: fig for heading, fig in self.sections() if isinstance(fig, go.Figure)}

    @property
    def heads(self) -> pd.DataFrame:
        """The ranked heads, most important first (sorted by ``importance``)."""
        frame = pd.DataFrame(self["top_heads"])
        return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)

    @property
    def positions(self) -> pd.DataFrame:
        """The residual-stream (layer, position) sites whose patching matters most, by |patch_effect|."""
        return pd.DataFrame(self["top_positions"], columns=["layer", "position", "label", "patch_effect"])

    @property
    def dla(self) -> pd.DataFrame:
        """The components with the largest mean direct logit attribution."""
        return pd.DataFrame(self["top_dla"], columns=["component", "value"])

    @property
    def head_grid(self) -> pd.DataFrame:
        """Every head's activation-patching effect (clean into corrupted): columns head, layer, index, patch_effect."""
        rows = [{"head": f"L{layer}H{h}", "layer": layer, "index": h, "patch_effect": v}
                for layer, row in enumerate(self["head_patching"]) for h, v in enumerate(row)]
        return pd.DataFrame(rows, columns=["head", "layer", "index", "patch_effect"])


def load_findings(path: str | Path) -> Findings:
    """A ``findings.json`` (or the directory holding it) as ``Findings``."""
    path = Path(path)
    return Findings(read_json(AnalysisLayout(path).findings if path.is_dir() else path))


def summary_text(findings: dict[str, Any], n_heads: int = 3, n_positions: int = 2) -> str:
    """A plain-language paragraph of what the analysis found."""
    f = findings
    parts = [f"On {f['n_prompts']} {f['task']} prompt pairs of {f['n_tokens']} tokens, the metric ({f['metric']}) is "
             f"{f['clean_metric']:.3f} on the clean prompts and {f['corrupted_metric']:.3f} on the corrupted ones."]
    unit = f.get("patch_unit", "fraction of the clean - corrupted metric gap")
    heads = [h for h in f["top_heads"][:n_heads] if h["importance"] > 0]
    if heads:
        described = "; ".join(
            f"{h['head']} (restores {h['patch_effect']:+.2f}, corrupting it in the clean run changes the metric by "
            f"{h['noise_patch_effect']:+.2f}, direct logit attribution {h['dla']:+.2f})" for h in heads)
        parts.append(f"Patching one head at a time (effects as a {unit}), the most important heads are {described}.")
    else:
        parts.append("No single head's patching changes the metric.")
    top_pos = [p for p in f["top_positions"][:n_positions] if p["patch_effect"] != 0]
    if top_pos:
        parts.append("In the residual stream, the metric depends most on " + " and ".join(
            f"layer {p['layer']} at position {p['position']} ('{p['label']}', {p['patch_effect']:+.2f})"
            for p in top_pos) + ".")
    cells = f.get("top_head_positions", [])[:n_positions]
    if cells:
        parts.append("Patching heads at single positions points at " + " and ".join(
            f"{c['head']} at position {c['position']} ('{c['label']}', {c['patch_effect']:+.2f})" for c in cells) + ".")
    corr = f.get("attribution_vs_activation_corr")
    if corr is not None and corr == corr:  # not NaN
        parts.append(f"Attribution patching agrees with activation patching across heads with Pearson r = {corr:.2f}.")
    return " ".join(parts)

"""One task analysed end to end (``interp analyze``): prompt pairs, lenses, attribution, head scores, patching."""

from interp.app.analyze.findings import Findings, load_findings
from interp.app.analyze.pairs import (
           BUILDERS,
           PromptPairs,
           build_pairs,
           facts_pairs,
           induction_pairs,
           ioi_pairs,
)
from interp.app.analyze.run import analyze, metric_through_layers

__all__ = ["BUILDERS", "Findings", "PromptPairs", "analyze", "build_pairs", "facts_pairs", "induction_pairs",
           "ioi_pairs", "load_findings", "metric_through_layers"]

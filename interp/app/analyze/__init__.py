"""One task analysed end to end (``interp analyze``): prompt pairs, lenses, attribution, head scores, patching."""

from interp.app.analyze.pairs import (
           BUILDERS,
           PromptPairs,
           build_pairs,
           facts_pairs,
           induction_pairs,
           ioi_pairs,
)
from interp.app.analyze.run import analyze, metric_through_layers

__all__ = ["BUILDERS", "PromptPairs", "analyze", "build_pairs", "facts_pairs", "induction_pairs", "ioi_pairs",
           "metric_through_layers"]

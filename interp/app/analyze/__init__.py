"""One task analysed end to end (``interp analyze``) on its prompt pairs (``interp.tasks.pairs``): lenses,
attribution, head scores, patching."""

from interp.app.analyze.findings import Findings, load_findings
from interp.app.analyze.run import analyze, metric_through_layers

__all__ = ["Findings", "analyze", "load_findings", "metric_through_layers"]

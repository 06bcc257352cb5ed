"""interp-workbench core: GPT-2-class models, training, conversion to TransformerLens, analysis.

>>> import interp
>>> model = interp.load("runs/quickstart/model")   # a HookedTransformer with its tokenizer
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# MKL may run a product on fewer threads when the machine is busy (MKL_DYNAMIC, on by default), which splits its
# sums differently: a run resumed beside another busy process then missed the uninterrupted one by float rounding
# (docs/reliability.md). Fixed thread counts keep training reproducible; set before torch first calls MKL. A user's
# own MKL_DYNAMIC wins.
os.environ.setdefault("MKL_DYNAMIC", "FALSE")

__version__ = "0.1.0"
__all__ = ["load", "__version__"]

if TYPE_CHECKING:
    from interp.models.loading import load


def __getattr__(name: str) -> Any:  # keep `import interp` light: torch/TransformerLens load on first use
    if name == "load":
        from interp.models.loading import load

        return load
    raise AttributeError(f"module 'interp' has no attribute {name!r}")

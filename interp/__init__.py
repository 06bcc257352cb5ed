"""interp-workbench core: GPT-2-class models, training, conversion to TransformerLens, analysis.

>>> import interp
>>> model = interp.load("runs/quickstart/model")   # a HookedTransformer with its tokenizer
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load", "__version__"]

if TYPE_CHECKING:
    from interp.models.loading import load


def __getattr__(name: str) -> Any:  # keep `import interp` light: torch/TransformerLens load on first use
    if name == "load":
        from interp.models.loading import load

        return load
    raise AttributeError(f"module 'interp' has no attribute {name!r}")

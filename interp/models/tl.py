"""The one place the workbench imports TransformerLens.

TransformerLens 3.x warns (DeprecationWarning) on every ``HookedTransformer`` construction because 4.x moves to
``TransformerBridge``; the warning is filtered here once, so a later move is a change to this file.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"transformer_lens(\..*)?")
warnings.filterwarnings("ignore", message=r".*(HookedTransformer|TransformerBridge).*", category=DeprecationWarning)

from transformer_lens import ActivationCache, HookedTransformer, HookedTransformerConfig  # noqa: E402
from transformer_lens.hook_points import HookPoint  # noqa: E402

__all__ = ["ActivationCache", "HookPoint", "HookedTransformer", "HookedTransformerConfig"]

"""Hook names: resolve patterns to a model's hook points, with close-match suggestions for typos.

>>> resolve_hook_names(model, "blocks.*.hook_resid_post")
['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post']
>>> resolve_hook_names(model, "blocks.0.hook_resid_pots")
HookNameError: Unknown hook 'blocks.0.hook_resid_pots'. Close matches: blocks.0.hook_resid_post, ...
"""

from __future__ import annotations

import difflib
import fnmatch
import re

from interp.errors import HookNameError
from interp.models.tl import HookedTransformer


def hook_names(model: HookedTransformer) -> list[str]:
    return list(model.hook_dict)


def resolve_hook_names(model: HookedTransformer, pattern: str | list[str]) -> list[str]:
    """Hook names matching ``pattern``: exact names, comma-separated lists, globs (``*``), or ``re:REGEX``.

    Returned in the model's forward order. Raises ``HookNameError`` listing close matches when a part
    matches nothing.
    """
    parts = pattern if isinstance(pattern, list) else [p.strip() for p in pattern.split(",") if p.strip()]
    names = hook_names(model)
    chosen: set[str] = set()
    for part in parts:
        if part.startswith("re:"):
            rx = re.compile(part[3:])
            hits = [n for n in names if rx.fullmatch(n)]
        elif any(c in part for c in "*?["):
            hits = fnmatch.filter(names, part)
        else:
            hits = [part] if part in model.hook_dict else []
        if not hits:
            close = difflib.get_close_matches(part, names, n=5, cutoff=0.5)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            raise HookNameError(f"Unknown hook {part!r}.{hint} See model.hook_dict for all "
                                f"{len(names)} hook names (e.g. {names[1] if len(names) > 1 else names[0]!r}).")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def hook_layer(name: str) -> int | None:
    """The block index of a hook name (``blocks.3.attn.hook_z`` -> 3), or None for embed/final hooks."""
    m = re.match(r"blocks\.(\d+)\.", name)
    return int(m.group(1)) if m else None

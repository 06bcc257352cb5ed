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
    matches nothing, and for an empty pattern (``","``) or an invalid regular expression.
    """
    names = hook_names(model)
    example = names[1] if len(names) > 1 else names[0]
    if isinstance(pattern, str):
        parts = [p.strip() for p in pattern.split(",") if p.strip()]
    elif isinstance(pattern, (list, tuple)) and all(isinstance(p, str) for p in pattern):
        parts = [p.strip() for p in pattern if p.strip()]
    else:
        raise HookNameError(f"Hook pattern {pattern!r} is not a string or a list of strings.")
    if not parts:
        raise HookNameError(f"No hook names in {pattern!r}: give a hook name (e.g. {example!r}), a comma-separated "
                            "list, a glob like 'blocks.*.hook_resid_post', or 're:REGEX'.")
    chosen: set[str] = set()
    for part in parts:
        if part.startswith("re:"):
            try:
                rx = re.compile(part[3:])
            except re.error as err:
                raise HookNameError(f"Hook pattern {part!r} is not a valid regular expression ({err}); fix it, or "
                                    "use a glob like 'blocks.*.hook_resid_post'.") from err
            hits = [n for n in names if rx.fullmatch(n)]
        elif any(c in part for c in "*?["):
            hits = fnmatch.filter(names, part)
        else:
            hits = [part] if part in model.hook_dict else []
        if not hits:
            close = difflib.get_close_matches(part, names, n=5, cutoff=0.5)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            raise HookNameError(f"Unknown hook {part!r}.{hint} See model.hook_dict for all "
                                f"{len(names)} hook names (e.g. {example!r}).")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def hook_layer(name: str) -> int | None:
    """The block index of a hook name (``blocks.3.attn.hook_z`` -> 3), or None for embed/final hooks."""
    m = re.match(r"blocks\.(\d+)\.", name)
    return int(m.group(1)) if m else None

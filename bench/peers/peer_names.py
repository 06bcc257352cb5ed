"""auto-circuit's node names -> ours (circuits.graph, the EAP-IG names); shared by the scripts run in its venv."""

from __future__ import annotations

import re


def our_node(name: str) -> str:
    """'Resid Start' -> input, 'Resid End' -> logits, 'MLP 2' -> m2, 'A0.1' -> a0.h1, 'A0.1.Q' -> a0.h1<q>."""
    if name == "Resid Start":
        return "input"
    if name == "Resid End":
        return "logits"
    if m := re.fullmatch(r"MLP (\d+)", name):
        return f"m{m[1]}"
    if m := re.fullmatch(r"A(\d+)\.(\d+)", name):
        return f"a{m[1]}.h{m[2]}"
    if m := re.fullmatch(r"A(\d+)\.(\d+)\.([QKV])", name):
        return f"a{m[1]}.h{m[2]}<{m[3].lower()}>"
    raise ValueError(f"unmapped auto-circuit node name {name!r}")

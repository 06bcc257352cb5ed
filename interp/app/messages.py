"""How every ``interp`` command ends: what it wrote (real paths) and what to do next (commands to copy).

>>> print_done({"run directory": run_dir, "loss curve": run_dir / "loss_curve.html"}, [command("interp eval", run_dir)])
Wrote:
  run directory  runs/ts8m
  loss curve     runs/ts8m/loss_curve.html
Next:
  interp eval runs/ts8m
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any


def command(*parts: str | os.PathLike | int | float) -> str:
    """A shell line from its parts, each path quoted only when the shell needs it: ``command("interp eval", p)``.

    The first part is taken as written (the program and subcommand); the others are quoted.
    """
    head, *rest = parts
    return " ".join([str(head), *(shlex.quote(str(p)) for p in rest)])


def format_table(rows: Mapping[str, Any], header: tuple[str, str] = ("", "")) -> str:
    """Two aligned columns, names left and values right (floats to 4 significant digits)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float) and math.isfinite(v):
            return f"{v:.4g}"
        return str(v)

    cells = [(str(k), fmt(v)) for k, v in rows.items()]
    if any(header):
        cells.insert(0, header)
    left = max((len(k) for k, _ in cells), default=0)
    right = max((len(v) for _, v in cells), default=0)
    return "\n".join(f"  {k:<{left}}  {v:>{right}}" for k, v in cells)


def print_done(wrote: Mapping[str, str | os.PathLike], next_steps: Sequence[str] = ()) -> None:
    """Print ``Wrote:`` (label -> path, one a line) and ``Next:`` (commands), the end of every command."""
    if wrote:
        left = max(len(k) for k in wrote)
        print("Wrote:")
        for label, path in wrote.items():
            print(f"  {label:<{left}}  {os.fspath(path)}")
    if next_steps:
        print("Next:")
        for step in next_steps:
            print(f"  {step}")

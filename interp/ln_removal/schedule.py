"""When each norm's scale is frozen: schedules as data, and applying them to a model at a training step.

Order (as both anchors do): every layer's ``ln2``, then every ``ln1``'s query/key path, then its value path, then
``ln_f``, then position 0's own scale (BOS) everywhere. ``fast`` is Baroni et al.'s (from step 20, gaps 2 / 2 / 3),
``gradual`` Heimersheim's (from step 200, gaps 20 / 20 / 30, BOS 100 steps after ``ln_f``).

>>> events = removal_events(n_layers=2, schedule=SCHEDULES["fast"])
>>> apply_schedule(gpt, events, step=25)   # freezes what is due by step 25 (idempotent: safe on resume)
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from interp.errors import ConfigError
from interp.models.norms import RemovableNorm


@dataclass(frozen=True)
class Schedule:
    """Steps between freezes; every field a whole number of steps."""

    start: int
    """Step of the first freeze (the scales' moving averages need some steps before it)."""
    gap_ln2: int
    """Steps between freezing consecutive layers' ln2."""
    gap_ln1_qk: int
    """Steps between freezing consecutive layers' ln1 query/key path (the first one gap_ln2 after the last ln2)."""
    gap_ln1_v: int
    """Steps between freezing consecutive layers' ln1 value path."""
    gap_ln_f: int
    """Steps from the last ln1 value path to ln_f."""
    gap_bos: int
    """Steps from ln_f to dropping position 0's own scale at every site."""


SCHEDULES = {
    "fast": Schedule(start=20, gap_ln2=2, gap_ln1_qk=2, gap_ln1_v=3, gap_ln_f=3, gap_bos=10),
    "gradual": Schedule(start=200, gap_ln2=20, gap_ln1_qk=20, gap_ln1_v=30, gap_ln_f=30, gap_bos=100),
}


@dataclass(frozen=True)
class RemovalEvent:
    step: int
    site: str  # "blocks.{i}.ln1", "blocks.{i}.ln2", "ln_f", or "*" (every site, for "bos")
    path: str  # "" (ln2, ln_f), "qk" / "v" (ln1), or "bos"


def removal_events(n_layers: int, schedule: Schedule) -> list[RemovalEvent]:
    """Every freeze of a model with ``n_layers`` layers, in order."""
    for name, value in vars(schedule).items():
        if not isinstance(value, int) or value < (1 if name == "start" else 0):
            raise ConfigError(f"Schedule.{name} must be a whole number of steps (start >= 1), got {value!r}.")
    events, step = [], schedule.start
    for site, path, gap in (("ln2", "", schedule.gap_ln2), ("ln1", "qk", schedule.gap_ln1_qk),
                            ("ln1", "v", schedule.gap_ln1_v)):
        for i in range(n_layers):
            events.append(RemovalEvent(step, f"blocks.{i}.{site}", path))
            step += gap
    step += schedule.gap_ln_f - schedule.gap_ln1_v
    events.append(RemovalEvent(step, "ln_f", ""))
    events.append(RemovalEvent(step + schedule.gap_bos, "*", "bos"))
    return events


def removable_norms(model: nn.Module) -> dict[str, RemovableNorm]:
    """The model's removable norms by site (``blocks.0.ln1`` ... ``ln_f``)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, RemovableNorm)}


def apply_schedule(model: nn.Module, events: list[RemovalEvent], step: int) -> list[RemovalEvent]:
    """Freeze everything due by ``step`` (an event's freeze holds from its step on); returns the events newly
    applied. Idempotent, so a resumed run calls it with its step and gets the same state."""
    norms = removable_norms(model)
    if not norms:
        raise ConfigError("This model has no removable norms: convert it with interp.ln_removal.to_removable first.")
    done = []
    for e in events:
        if e.step > step:
            continue
        if e.site != "*" and e.site not in norms:
            raise ConfigError(f"The schedule freezes {e.site}, which is not a removable norm of this model "
                              f"(it has {sorted(norms)}).")
        targets = norms.values() if e.site == "*" else [norms[e.site]]
        for norm in targets:
            flag = norm.bos_removed if e.path == "bos" else getattr(norm, norm.buffer("frozen", e.path))
            if not bool(flag):
                flag.fill_(True)
                done.append(e)
    return list(dict.fromkeys(done))

"""LayerNorm removal by fine-tuning (Heimersheim 2024; Baroni et al. 2025): each norm's per-token scale is replaced,
site by site on a schedule, by a fixed one, and the fixed scales are then folded into the weights.

>>> to_removable(gpt); apply_schedule(gpt, removal_events(gpt.cfg.n_layers, SCHEDULES["fast"]), step)
>>> ln_free = finalize(gpt)   # norm "fixed" everywhere: to_hooked gives a normalization_type=None model

With the trainer: ``train(TrainConfig(..., model_overrides={"norm": "removable"}, init_from=PARENT_RUN),
before_step=lambda t: apply_schedule(t.model, events, t.step))``, then ``finalize`` the result
(tests/test_ln_removal.py; the ``interp remove-ln`` command is still to come).
"""

from interp.ln_removal.finalize import finalize, to_removable
from interp.ln_removal.schedule import SCHEDULES, RemovalEvent, Schedule, apply_schedule, removal_events

__all__ = ["SCHEDULES", "RemovalEvent", "Schedule", "apply_schedule", "finalize", "removal_events", "to_removable"]

"""LayerNorm removal by fine-tuning (Heimersheim 2024; Baroni et al. 2025): each norm's per-token scale is replaced,
site by site on a schedule, by a fixed one, and the fixed scales are then folded into the weights.

>>> result = remove_ln(LNRemovalConfig(run_dir="runs/quickstart/model"))   # = interp remove-ln runs/quickstart/model
>>> interp.load(result.out)    # HookedTransformer, normalization_type=None: DLA sums to the logits exactly
>>> result.table()             # validation loss and probe scores: parent, LN kept, LN-free

The pieces, for other loops: ``to_removable(gpt)``, ``apply_schedule(gpt, removal_events(n_layers, SCHEDULES["fast"]),
step)`` and ``finalize(gpt)`` (norm ``fixed`` everywhere: ``to_hooked`` folds it into a normalization-free model).
"""

from interp.ln_removal.compare import comparison_frame, dla_check
from interp.ln_removal.config import LNRemovalConfig
from interp.ln_removal.finalize import finalize, to_removable
from interp.ln_removal.run import LNRemovalResult, plan_removal, remove_ln
from interp.ln_removal.schedule import SCHEDULES, RemovalEvent, Schedule, apply_schedule, removal_events

__all__ = ["SCHEDULES", "LNRemovalConfig", "LNRemovalResult", "RemovalEvent", "Schedule", "apply_schedule",
           "comparison_frame", "dla_check", "finalize", "plan_removal", "remove_ln", "removal_events", "to_removable"]

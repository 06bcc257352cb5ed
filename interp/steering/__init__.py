"""Steering a ``HookedTransformer``: concept directions (DiffMean, ActAdd, a linear probe), interventions that add
or project out a direction at any hook and positions, and ``Steering``, which applies them as a context manager.

>>> d = diff_mean(text_activations(model, with_concept, hook), text_activations(model, without, hook))
>>> with Steering([Add(hook, d, strength=2.0)]).applied(model):
...     model.generate("Once upon a time", max_new_tokens=30)

SAE-feature steering (decoder directions, clamping with the error term kept) is ``saes.steering``; scoring methods
against each other (concept rate, fluency, harmonic mean, steerability) is ``interp.steering.evaluate``.
"""

from interp.steering.directions import act_add, diff_mean, probe_direction, text_activations
from interp.steering.interventions import (
           INTERVENTIONS,
           Ablate,
           Add,
           Intervention,
           position_mask,
           register_intervention,
)
from interp.steering.steering import Steering

__all__ = ["INTERVENTIONS", "Ablate", "Add", "Intervention", "Steering", "act_add", "diff_mean", "position_mask",
           "probe_direction", "register_intervention", "text_activations"]

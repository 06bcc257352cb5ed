"""Steering methods by name: each turns a concept's fitting data into a ``Steering`` at unit strength, which the
harness rescales by every strength it tries.

Units are shared so strengths compare across methods: DiffMean adds the mean difference itself (strength 1 moves
the mean activation without the concept onto the mean with it); ActAdd, the probe and SAE decoder directions are
rescaled to that same length; ablation removes the direction's component at strength 1; clamping sets features
to strength x their mean activation where they fire on concept text. For ``goal="remove"`` the added directions
point away from the concept.

Methods from other packages register through the ``interp.steering_methods`` entry point (``saes`` adds ``sae``
and ``sae_clamp`` this way, since ``interp`` does not import ``saes``):

>>> @register_method("mine", goals=("add",), description="...")
... def build(inputs: MethodInputs) -> Steering: ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from torch import Tensor

from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.steering.directions import act_add, diff_mean, probe_direction, text_activations
from interp.steering.interventions import Ablate, Add
from interp.steering.steering import Steering


@dataclass
class MethodInputs:
    """What a method may use: the model, the hook and positions to steer, the goal, and the concept's fitting
    data (texts with and without it and the positions read from them, an ActAdd prompt pair, an SAE directory
    if one was given)."""

    model: HookedTransformer
    hook: str
    positions: str
    goal: str
    with_concept: Sequence[str]
    without_concept: Sequence[str]
    actadd_pair: tuple[str, str]
    sae_dir: str = ""
    sae_features: int = 4
    fit_positions: str = "all"
    cache: dict[str, object] = field(default_factory=dict)

    def activations(self, which: str, hook: str | None = None) -> Tensor:
        """Activations at ``hook`` (default: the steering hook) on the texts with (``which="with"``) or without
        the concept, at ``fit_positions`` (every token, or each text's last); computed once."""
        hook = hook or self.hook
        key = f"acts/{which}/{hook}/{self.fit_positions}"
        if key not in self.cache:
            texts = self.with_concept if which == "with" else self.without_concept
            self.cache[key] = text_activations(self.model, texts, hook, self.fit_positions)
        return self.cache[key]  # type: ignore[return-value]

    def diffmean(self, hook: str | None = None) -> Tensor:
        """The DiffMean direction at ``hook`` (the unit of every method's strength)."""
        return diff_mean(self.activations("with", hook), self.activations("without", hook))

    @property
    def sign(self) -> float:
        """+1 to add the concept, -1 to remove it."""
        return 1.0 if self.goal == "add" else -1.0

    def to_unit(self, direction: Tensor, hook: str | None = None) -> Tensor:
        """``direction`` rescaled to the DiffMean direction's length, pointing towards the concept."""
        ref = self.diffmean(hook)
        direction = direction.float()
        if float(direction @ ref) < 0:
            direction = -direction
        return direction / direction.norm().clamp_min(1e-12) * ref.norm()


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable[[MethodInputs], Steering]
    goals: tuple[str, ...]
    description: str
    needs_sae: bool = False


METHODS: dict[str, Method] = {}


def register_method(name: str, goals: tuple[str, ...] = ("add", "remove"), description: str = "",
                    needs_sae: bool = False) -> Callable[[Callable[[MethodInputs], Steering]],
                                                          Callable[[MethodInputs], Steering]]:
    """Register a method builder under ``name`` (a decorator)."""

    def decorate(build: Callable[[MethodInputs], Steering]) -> Callable[[MethodInputs], Steering]:
        METHODS[name] = Method(name, build, goals, description, needs_sae)
        return build

    return decorate


@functools.cache
def load_plugins() -> None:
    """Import the packages that register methods through the ``interp.steering_methods`` entry point."""
    for ep in entry_points(group="interp.steering_methods"):
        ep.load()


def methods_for(goal: str, names: Sequence[str] = (), with_sae: bool = False) -> list[Method]:
    """The methods to run for ``goal``: ``names`` (each must exist and support the goal), or every method that
    supports it (SAE methods only ``with_sae``)."""
    load_plugins()
    if not names:
        return [m for m in METHODS.values() if goal in m.goals and (with_sae or not m.needs_sae)]
    out = []
    for name in names:
        if name not in METHODS:
            raise InputError(f"Unknown steering method {name!r}; choose from {sorted(METHODS)}.")
        method = METHODS[name]
        if goal not in method.goals:
            raise InputError(f"Method {name!r} cannot {goal} a concept (it supports: {', '.join(method.goals)}).")
        if method.needs_sae and not with_sae:
            raise InputError(f"Method {name!r} steers with SAE features: give --sae-dir (an SAE of this model).")
        out.append(method)
    return out


@register_method("diffmean", description="mean activation with the concept minus without it, added (CAA)")
def _diffmean(inputs: MethodInputs) -> Steering:
    return Steering([Add(inputs.hook, inputs.sign * inputs.diffmean(), 1.0, inputs.positions)])


@register_method("actadd", description="ActAdd: the difference of two prompts' last-token activations")
def _actadd(inputs: MethodInputs) -> Steering:
    positive, negative = inputs.actadd_pair
    d = inputs.to_unit(act_add(inputs.model, positive, negative, inputs.hook))
    return Steering([Add(inputs.hook, inputs.sign * d, 1.0, inputs.positions)])


@register_method("probe", description="a logistic-regression probe's weight direction (concept vs not), added")
def _probe(inputs: MethodInputs) -> Steering:
    d = probe_direction(inputs.activations("with"), inputs.activations("without"))
    return Steering([Add(inputs.hook, inputs.sign * inputs.to_unit(d), 1.0, inputs.positions)])


@register_method("ablate", goals=("remove",), description="directional ablation: the DiffMean direction projected "
                                                          "out (strength 1 removes its component)")
def _ablate(inputs: MethodInputs) -> Steering:
    return Steering([Ablate(inputs.hook, inputs.diffmean(), 1.0, inputs.positions)])

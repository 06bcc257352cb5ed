"""One edit of one activation: add a direction, or project it out. The pieces ``Steering`` is made of.

>>> Add("blocks.1.hook_resid_post", direction, strength=4.0, positions="from:5")
>>> Ablate("blocks.1.hook_resid_post", direction)          # removes the direction's component (strength 1)

``positions``: ``all``; ``last`` (the last position of each forward pass: with cached generation, every new token);
``from:N`` (positions N.. of the pass; a cached generation step, one position, is past the prompt and is edited);
``prompt`` (every position of a pass of more than one position, none of a cached generation step: the prompt is
steered, the new tokens read it through attention and are left alone).
Other packages add kinds (``saes.steering`` adds feature clamping) with ``register_intervention``, so a saved
``Steering`` loads them by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InputError

INTERVENTIONS: dict[str, type[Intervention]] = {}


def register_intervention(cls: type[Intervention]) -> type[Intervention]:
    """Make ``cls`` loadable by its ``kind`` (a class decorator)."""
    INTERVENTIONS[cls.kind] = cls
    return cls


def position_mask(positions: str, n_pos: int, device: torch.device | None = None) -> Tensor:
    """Which of ``n_pos`` positions ``positions`` edits: a bool tensor ``[n_pos]``."""
    if positions == "all":
        return torch.ones(n_pos, dtype=torch.bool, device=device)
    if positions == "last":
        return torch.arange(n_pos, device=device) == n_pos - 1
    if positions == "prompt":
        return torch.full((n_pos,), n_pos > 1, dtype=torch.bool, device=device)
    m = re.fullmatch(r"from:(\d+)", positions)
    if m:
        start = int(m.group(1))
        return torch.arange(n_pos, device=device) >= (start if n_pos > 1 else 0)
    raise InputError(f"positions={positions!r}: use 'all', 'last', 'prompt' or 'from:N' (N a position, e.g. "
                     "'from:5').")


class Intervention:
    """An edit at ``hook`` (a TransformerLens hook name whose activation is [batch, pos, d]). Each kind is a
    dataclass whose fields start with ``hook`` and include ``strength`` (0: no edit) and ``positions``."""

    hook: str
    strength: float
    positions: str
    kind: ClassVar[str] = ""

    def edit(self, act: Float[Tensor, "batch pos d"]) -> Float[Tensor, "batch pos d"]:
        """The edited activation at every position (the mask is applied by ``__call__``)."""
        raise NotImplementedError

    def width(self) -> int | None:
        """The activation width this edit needs (checked against the model), or None."""
        return None

    def check_model(self, model: Any) -> None:
        """Further checks that this edit belongs to ``model`` (an SAE's own model and hook); none by default."""

    def __call__(self, act: Tensor, hook: Any = None) -> Tensor:
        if act.dim() != 3:
            raise InputError(f"Steering at {self.hook} needs a [batch, pos, d] activation, got {tuple(act.shape)}; "
                             "steer a residual-stream, attention-output or MLP-output hook.")
        if self.strength == 0:
            return act
        mask = position_mask(self.positions, act.shape[1], act.device)[None, :, None]
        return torch.where(mask, self.edit(act), act)

    # -- serialisation: tensors by name, the rest as JSON --------------------------------------------------
    def tensors(self) -> dict[str, Tensor]:
        return {}

    def config(self) -> dict[str, Any]:
        """Every field that is not a tensor (those are ``tensors()``), with the kind."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)  # type: ignore[arg-type]
                                      if f.name not in self.tensors()}}

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, Tensor]) -> Intervention:
        kw = {k: v for k, v in config.items() if k != "kind"}
        return cls(**kw, **tensors)


def _unit(direction: Tensor) -> Tensor:
    norm = direction.norm()
    return direction / norm if norm > 0 else direction


@dataclass
class DirectionIntervention(Intervention):
    """An edit along one direction of the activation's width (``Add``, ``Ablate``)."""

    hook: str
    direction: Tensor
    strength: float = 1.0
    positions: str = "all"

    def width(self) -> int:
        return int(self.direction.shape[-1])

    def tensors(self) -> dict[str, Tensor]:
        return {"direction": self.direction}


@register_intervention
@dataclass
class Add(DirectionIntervention):
    """``act + strength * direction`` (activation addition, DiffMean, ActAdd, a probe or an SAE decoder direction).
    The direction is used as given: its norm is part of the strength's unit."""

    kind: ClassVar[str] = "add"

    def edit(self, act: Tensor) -> Tensor:
        return act + self.strength * self.direction.to(act.device, act.dtype)


@register_intervention
@dataclass
class Ablate(DirectionIntervention):
    """Directional ablation: ``act - strength * (act . d) d`` with ``d`` the unit direction (strength 1 removes the
    component entirely; Arditi et al. 2024 remove refusal this way)."""

    kind: ClassVar[str] = "ablate"

    def edit(self, act: Tensor) -> Tensor:
        d = _unit(self.direction.to(act.device, act.dtype))
        return act - self.strength * (act @ d)[..., None] * d

"""The architecture registry: name -> SAE class. Each architecture module registers its class here, and the class
itself declares its family facts (``needs_k``, ``uses_l1``, ``uses_l0``, ``uses_aux_k``, ``nested_widths``,
``scalar_threshold``, ``saelens_name``), so configs, the trainer and the SAELens format ask the class instead of
keeping their own lists of names.

This module imports no other ``saes`` module (only the error classes), so ``saes.config`` can ask it without an
import cycle; ``saes/__init__.py`` imports ``saes.architectures`` first, which fills it.

>>> architecture_class("topk").needs_k
True
>>> registered()
['batchtopk', 'gated', 'jumprelu', 'matryoshka_batchtopk', 'standard', 'topk']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from saes.errors import SAEConfigError

if TYPE_CHECKING:
    from saes.base import SAE

ARCHITECTURES: dict[str, type[SAE]] = {}
_C = TypeVar("_C")


def register(name: str) -> Callable[[_C], _C]:
    """Class decorator: make an architecture available by name (to configs, loaders and the CLI)."""

    def wrap(cls: _C) -> _C:
        if name in ARCHITECTURES and ARCHITECTURES[name] is not cls:
            raise SAEConfigError(f"Two SAE classes register the architecture name {name!r}: "
                                 f"{ARCHITECTURES[name].__qualname__} and {cls.__qualname__}; rename one.")
        cls.architecture = name  # type: ignore[attr-defined]
        ARCHITECTURES[name] = cls  # type: ignore[assignment]
        return cls

    return wrap


def registered() -> list[str]:
    """The names of every registered architecture, sorted."""
    return sorted(ARCHITECTURES)


def architecture_class(name: str) -> type[SAE]:
    """The SAE class registered as ``name``; an unknown name raises an error listing the known ones."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise SAEConfigError(f"Unknown SAE architecture {name!r}; known: {registered()}.") from None


__all__ = ["ARCHITECTURES", "architecture_class", "register", "registered"]

"""Dataclass <-> argparse: every config dataclass is its own command line (and loads from ``--config x.json``).

>>> parser = argparse.ArgumentParser()
>>> add_dataclass_args(parser, TrainConfig)
>>> cfg = dataclass_from_args(TrainConfig, parser.parse_args(["--lr", "1e-3", "--compile"]))
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

from interp.errors import ConfigError

T = TypeVar("T")


def _base_type(tp: Any) -> Any:
    """``int | None`` -> int; ``Optional[str]`` -> str."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return tp


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected JSON, got {text!r} ({err})") from err


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` option per dataclass field (defaults left unset so ``--config`` can fill them)."""
    hints = typing.get_type_hints(cls)
    parser.add_argument("--config", default=None, help="JSON file of options (flags override it)")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        help_text = f"(default: {default!r})"
        if tp is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif typing.get_origin(tp) in (dict, list) or tp in (dict, list):
            parser.add_argument(flag, dest=f.name, type=_parse_json, default=None, help=help_text + " as JSON")
        else:
            parser.add_argument(flag, dest=f.name, type=tp if tp in (int, float, str) else str, default=None,
                                help=help_text)


def dataclass_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} option(s) {unknown}; known: {sorted(known)}.")
    return cls(**data)


def dataclass_from_args(cls: type[T], ns: argparse.Namespace) -> T:
    """Config from ``--config`` JSON (if given) overridden by the flags that were set."""
    values: dict[str, Any] = {}
    if getattr(ns, "config", None):
        with open(ns.config, encoding="utf-8") as f:
            values.update(json.load(f))
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        v = getattr(ns, f.name, None)
        if v is not None:
            values[f.name] = v
    return dataclass_from_dict(cls, values)

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
from pathlib import Path
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


def dataclass_from_dict(cls: type[T], data: dict[str, Any], source: str = "") -> T:
    """``cls(**data)`` after checking that every key is a field and every value has the field's type."""
    where = f" in {source}" if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} options{where} must be a JSON object of option: value, got a "
                          f"{type(data).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} option(s) {unknown}{where}; known: {sorted(known)}.")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        if not _has_type(value, hints[name]):
            raise ConfigError(f"{cls.__name__}.{name}{where} must be {_type_name(hints[name])}, got {value!r}.")
    return cls(**data)


def _has_type(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    base = origin or tp
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base) if isinstance(base, type) else True


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def read_config_file(path: str) -> dict[str, Any]:
    """The JSON object of a ``--config`` file, with errors that name the file."""
    from interp.io import read_json

    try:
        data = read_json(path)
    except FileNotFoundError as err:
        raise ConfigError(f"--config {path}: no such file (resolved from {Path.cwd()}).") from err
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path} must hold a JSON object of option: value, got a {type(data).__name__}.")
    return data


def dataclass_from_args(cls: type[T], ns: argparse.Namespace) -> T:
    """Config from ``--config`` JSON (if given) overridden by the flags that were set."""
    values: dict[str, Any] = {}
    if getattr(ns, "config", None):
        values.update(read_config_file(ns.config))
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        v = getattr(ns, f.name, None)
        if v is not None:
            values[f.name] = v
    return dataclass_from_dict(cls, values, source=f"--config {ns.config}" if getattr(ns, "config", None) else "")

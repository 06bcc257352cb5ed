"""Dataclass <-> argparse: every config dataclass is its own command line (and loads from ``--config x.json``).

Each option's help is the field's docstring (a string literal right after the field, as in sparsify and
simple_parsing), followed by its default and, for ``Literal`` fields or ``metadata={"choices": ...}``, the
allowed values. Renamed options keep their old spelling for one release as hidden aliases that print a note.

>>> parser = argparse.ArgumentParser()
>>> add_dataclass_args(parser, TrainConfig)
>>> cfg = dataclass_from_args(TrainConfig, parser.parse_args(["--lr", "1e-3", "--compile"]))
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import json
import sys
import textwrap
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from interp.errors import ConfigError

T = TypeVar("T")
_POSITIONAL = "_positional_"  # dest prefix of a field also taken as a positional argument


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


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of a dataclass and its dataclass bases, parsed once per class from the source.

    >>> field_docs(TrainConfig)["lr"]
    'Peak learning rate, reached after warmup_steps ...'
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # no source (built in a REPL, frozen): help shows defaults only
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


def field_choices(f: dataclasses.Field, tp: Any) -> tuple[Any, ...] | None:
    """Allowed values of a field: its ``Literal[...]`` type or ``metadata["choices"]``; None when free."""
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    choices = f.metadata.get("choices")
    return tuple(choices) if choices is not None else None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def field_help(cls: type, name: str) -> str:
    """The ``--help`` text of one field: docstring, allowed values, default (``%`` escaped for argparse)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    tp = _base_type(typing.get_type_hints(cls)[name])
    text = field_docs(cls).get(name, "").rstrip()
    choices = field_choices(f, tp)
    if choices is not None and not all(str(c) in text for c in choices):
        text += f" Choices: {', '.join(str(c) for c in choices)}."
    text = (text + " " if text else "") + f"(default: {_default(f)!r})"
    return text.replace("%", "%%")


class DeprecatedAlias(argparse.Action):
    """An old option name that still works for one release: stores into the new option's dest with a note.

    >>> parser.add_argument("--out", dest="out_dir", action=DeprecatedAlias, new="--out-dir", help=argparse.SUPPRESS)
    """

    def __init__(self, option_strings: list[str], dest: str, new: str, note: str = "",
                 target: argparse.Action | None = None, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new, self.note, self.target = new, note, target

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        extra = f" ({self.note})" if self.note else ""
        print(f"note: {option_string} is deprecated and will be removed in the next release; use {self.new}{extra}.",
              file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        if self.target is not None:
            # argparse checks required options after every option has run, and cannot count an alias as the
            # option itself: the alias lifts the requirement (each `interp` call builds a fresh parser).
            self.target.required = False


def add_renamed_option(parser: argparse.ArgumentParser, new: str, old: str, **kwargs: Any) -> argparse.Action:
    """Add option ``new`` and its former name ``old`` as a hidden deprecated alias of it (``required`` works).

    >>> add_renamed_option(p, "--out-dir", "--out", required=True, help="output directory")
    """
    action = parser.add_argument(new, **kwargs)
    alias_kw = {k: v for k, v in kwargs.items() if k in ("type", "choices")}
    parser.add_argument(old, dest=action.dest, action=DeprecatedAlias, new=new, target=action, help=argparse.SUPPRESS,
                        metavar=action.metavar, **alias_kw)
    return action


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
                       positional: tuple[str, ...] = (), flags: Mapping[str, str] | None = None) -> None:
    """One ``--field-name`` option per dataclass field, its help from the field's docstring.

    Defaults are left unset so ``--config`` can fill them. ``positional``: fields also taken as an optional
    positional argument (``interp train-sae RUN_DIR``), their ``--field-name`` kept as a deprecated alias.
    ``flags``: field -> option name where the flag differs from the field (``{"data": "--data-dir"}``), the
    ``--field-name`` spelling kept as a deprecated alias. ``cls.renamed_fields`` (``{old: new}``, a ClassVar)
    keeps renamed fields' old flags working the same way.
    """
    hints = typing.get_type_hints(cls)
    flags = dict(flags or {})
    parser.add_argument("--config", default=None, help="JSON file of options (flags override it)")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp = _base_type(hints[f.name])
        help_text = field_help(cls, f.name)
        plain = "--" + f.name.replace("_", "-")
        flag = flags.get(f.name, plain)
        old = [plain] if flag != plain else []
        old += ["--" + o.replace("_", "-") for o, n in getattr(cls, "renamed_fields", {}).items() if n == f.name]
        if f.name in positional:
            parser.add_argument(_POSITIONAL + f.name, nargs="?", default=None, metavar=f.name.upper(),
                                help=help_text)
            old, flag = old + [plain], ""
        if tp is bool:
            kwargs: dict[str, Any] = dict(action=argparse.BooleanOptionalAction)
        elif typing.get_origin(tp) in (dict, list) or tp in (dict, list):
            kwargs = dict(type=_parse_json, metavar="JSON")
        else:
            choices = field_choices(f, tp)
            value_type = type(choices[0]) if choices else tp
            kwargs = dict(type=value_type if value_type in (int, float, str) else str, choices=choices)
        if flag:
            if "metavar" not in kwargs and tp is not bool and not kwargs.get("choices"):
                kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
            parser.add_argument(flag, dest=f.name, default=None, help=help_text, **kwargs)
        new = flag or f"the positional argument {f.name.upper()}"
        for name in dict.fromkeys(o for o in old if o != flag):
            if tp is bool:
                parser.add_argument(name, dest=f.name, action=DeprecatedAlias, new=new, nargs=0, const=True,
                                    help=argparse.SUPPRESS)
            else:
                parser.add_argument(name, dest=f.name, action=DeprecatedAlias, new=new, help=argparse.SUPPRESS,
                                    **{k: v for k, v in kwargs.items() if k != "metavar"})


def dataclass_from_dict(cls: type[T], data: dict[str, Any], source: str = "") -> T:
    """``cls(**data)`` after checking that every key is a field and every value has the field's type; renamed keys
    (``cls.renamed_fields``) still load."""
    where = f" in {source}" if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} options{where} must be a JSON object of option: value, got a "
                          f"{type(data).__name__}.")
    renamed: dict[str, str] = getattr(cls, "renamed_fields", {})
    data = {renamed.get(k, k): v for k, v in data.items()}
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
        given = getattr(ns, _POSITIONAL + f.name, None)
        v = getattr(ns, f.name, None)
        if given is not None and v is not None and given != v:
            raise ConfigError(f"{f.name} given twice ({given!r} and {v!r}); give it once, as the positional argument.")
        v = given if given is not None else v
        if v is not None:
            values[f.name] = v
    return dataclass_from_dict(cls, values, source=f"--config {ns.config}" if getattr(ns, "config", None) else "")


def add_n_tokens_option(parser: argparse.ArgumentParser, default: int, help: str) -> None:
    """``--n-tokens N`` for commands that read whole context windows, with ``--n-seqs`` (windows) as the
    deprecated former option; ``n_windows`` turns either into a number of windows.

    >>> add_n_tokens_option(p, 16_384, "tokens to evaluate on")
    """
    parser.add_argument("--n-tokens", type=int, default=default,
                        help=f"{help}, rounded up to whole context windows (default {default:,})".replace("%", "%%"))
    parser.add_argument("--n-seqs", dest="n_seqs", type=int, default=None, action=DeprecatedAlias, new="--n-tokens",
                        note="N sequences are N x the model's context length in tokens", help=argparse.SUPPRESS)


def n_windows(args: argparse.Namespace, n_ctx: int) -> int:
    """Context windows to read: ``--n-seqs`` if the deprecated option was given, else ``--n-tokens / n_ctx``
    rounded up."""
    if getattr(args, "n_seqs", None):
        return int(args.n_seqs)
    return max(1, -(-int(args.n_tokens) // n_ctx))

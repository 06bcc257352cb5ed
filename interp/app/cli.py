"""The ``interp`` command. Each subcommand lives in its own module with a ``register(subparsers)`` function.

Built-in subcommands are listed in ``BUILTIN``; other packages (``saes``, ``circuits``) add theirs through the
entry-point group ``interp.commands`` (``name = "package.module:register"``), so ``interp`` never imports them
directly and the layering stays one-way.

    $ interp quickstart
    $ interp train --preset cpu --data-dir runs/data --out-dir runs/my-model
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from interp.errors import WorkbenchError
from interp.io import is_disk_full

BUILTIN: dict[str, str] = {
    "quickstart": "interp.app.commands.quickstart:register",
    "studies": "interp.app.commands.quickstart:register_studies",
    "corpus": "interp.app.commands.corpus:register",
    "train": "interp.app.commands.train:register",
    "eval": "interp.app.commands.evaluate:register",
    "export": "interp.app.commands.export:register",
    "import": "interp.app.commands.import_model:register",
    "cache": "interp.app.commands.cache:register",
    "steer": "interp.app.commands.steer:register",
    "analyze": "interp.app.commands.analyze:register",
    "lens": "interp.app.commands.lens:register",
    "remove-ln": "interp.app.commands.remove_ln:register",
}


def _resolve(target: str) -> Callable[[argparse._SubParsersAction], None]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interp", description="interp-workbench: train GPT-2-class models, look inside them, train SAEs.",
        epilog="Add --debug anywhere on the line to see the full traceback of an error.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    targets = dict(BUILTIN)
    for ep in entry_points(group="interp.commands"):
        targets.setdefault(ep.name, ep.value)
    for name in targets:
        try:
            _resolve(targets[name])(sub)
        except ImportError as err:  # a command whose optional module is missing must not break the others
            stub = sub.add_parser(name, help=f"(unavailable: {err})")
            stub.set_defaults(func=lambda _a, e=err: _unavailable(e))
    return parser


def _unavailable(err: Exception) -> int:
    print(f"error: this command is unavailable: {err}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Every error reaches the user as one line naming the problem and the fix; ``--debug``
    (anywhere on the line) shows the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is intact; resume with --resume", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            raise
        print(f"error: {explain(err)}", file=sys.stderr)
        return 2 if isinstance(err, WorkbenchError) else 1


def explain(err: BaseException) -> str:
    """One line for any exception: the workbench's own errors already name the fix; others get one added."""
    if isinstance(err, WorkbenchError):
        return str(err)
    text = f"{type(err).__name__}: {err}".replace("\n", " ")
    if is_disk_full(err):
        return (f"the disk is full ({text}). Nothing half-written was kept: free some space, then run the same "
                "command again (training and caching continue with --resume).")
    if isinstance(err, FileNotFoundError):
        return f"{text}. Check the path (it is resolved from the current directory, {Path.cwd()})."
    if isinstance(err, PermissionError):
        return f"{text}. Choose a directory you can write to."
    return f"{text} (unexpected: run again with --debug for the traceback, and please report it)"


if __name__ == "__main__":
    sys.exit(main())

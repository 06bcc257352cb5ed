"""``interp quickstart``: corpus, tokenizer, a trained model, evaluation and an HTML report in one go."""

from __future__ import annotations

import argparse

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.app.quickstart import QuickstartConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="the main job: corpus -> model -> eval -> report", description=__doc__)
    add_dataclass_args(p, QuickstartConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.quickstart import run_quickstart

    run_quickstart(dataclass_from_args(QuickstartConfig, args))
    return 0

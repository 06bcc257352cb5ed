"""``interp quickstart``: corpus, tokenizer, a trained model, evaluation and an HTML report in one go."""

from __future__ import annotations

import argparse

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.app.quickstart import QuickstartConfig, StudiesConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="the main job: corpus -> model -> eval -> report", description=__doc__)
    add_dataclass_args(p, QuickstartConfig)
    p.set_defaults(func=run, config_class=QuickstartConfig)


def register_studies(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studies", help="the quickstart's pipeline on the larger model the studies use, with the "
                                       "fine-tunes that teach colored objects and multiple choice (65-90 min on CPU)",
                       description="``interp studies``: corpus, tokenizer, the larger `studies` model (4 layers, "
                                   "d_model 256), its fine-tunes (lookback, tasks, settle, settle-again: "
                                   "interp.app.stages), evaluation and an HTML report; 65-90 minutes on 2 CPU "
                                   "cores, minutes on a GPU. "
                                   "The same options as `interp quickstart`.")
    add_dataclass_args(p, StudiesConfig)
    p.set_defaults(func=run, config_class=StudiesConfig)


def run(args: argparse.Namespace) -> int:

    from interp.app.messages import print_done
    from interp.app.quickstart import run_quickstart
    from interp.app.quickstart_report import next_steps
    from interp.layout import QuickstartLayout

    cfg = dataclass_from_args(args.config_class, args)
    run_quickstart(cfg)
    out = QuickstartLayout(cfg.out_dir)
    run = out.model
    print_done({"report": out.report, "run directory": run.root, "scores": run.eval, "data": out.data.root},
               [f"open {out.report} in a browser"]
               + [f"{cmd}   # {what.split(':')[0]}" for cmd, what in next_steps(run.root)])
    return 0

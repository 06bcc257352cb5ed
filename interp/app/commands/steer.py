"""``interp steer RUN_DIR --concept sea``: steer a corpus concept with every method and strength, choose each
method's strength on dev prompts and report it on test prompts (every SteerConfig field is a flag). OUT
(default RUN_DIR/steering/CONCEPT) gets results.json, report.html and each method's chosen steering.

    interp steer runs/quickstart/model                                  # sea, add and remove, every method
    interp steer runs/quickstart/model --concept rude --goal remove --methods diffmean,ablate
    interp steer runs/quickstart/model --sae-dir runs/saes/topk-blocks.1.hook_resid_pre   # + SAE features
"""

from __future__ import annotations

import argparse

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.steering.config import SteerConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("steer", help="steer a concept (DiffMean, ActAdd, probe, ablation, SAE features) and score it",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(p, SteerConfig, positional=("run_dir",))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, print_done
    from interp.layout import SteeringLayout
    from interp.steering.harness import run_steering

    result = run_steering(dataclass_from_args(SteerConfig, args))
    frame = result.test
    print(frame.round(3).to_string(index=False))
    out = SteeringLayout(result.out)
    first = next(iter(sorted((out.root / "steering").iterdir())), None) if (out.root / "steering").exists() else None
    print_done({"report": out.report, "results": out.results},
               [*([f"python: Steering.load({str(first)!r})   # a chosen steering, .applied(model)"] if first else []),
                command("interp steer", result.results["config"]["run_dir"], "--concept", "rude", "--goal",
                        "remove") + "   # another concept"])
    return 0

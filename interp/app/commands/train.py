"""``interp train``: train a GPT-2-class model on prepared token shards (every TrainConfig field is a flag).

Also runnable as a module, which is how ``torchrun`` starts several processes:
    torchrun --nproc_per_node 2 -m interp.app.commands.train --preset tiny --data-dir runs/data --out-dir runs/ddp
"""

from __future__ import annotations

import argparse
import os
import sys

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.training.config import TrainConfig


def _add_args(p: argparse.ArgumentParser) -> None:
    add_dataclass_args(p, TrainConfig)
    p.set_defaults(func=run)


def register(sub: argparse._SubParsersAction) -> None:
    _add_args(sub.add_parser("train", help="train a model on token shards", description=__doc__))


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, print_done
    from interp.layout import RunLayout
    from interp.training.trainer import train

    result = train(dataclass_from_args(TrainConfig, args))
    val = f", val loss {result.final_val_loss:.3f}" if result.final_val_loss is not None else ""
    print(f"trained {result.step} steps in {result.seconds:.0f}s ({result.tokens_per_s:.0f} tokens/s): "
          f"loss {result.final_loss:.3f}{val}")
    if int(os.environ.get("RANK", "0")):  # under torchrun, only the first process writes and says so
        return 0
    run = RunLayout(result.run_dir)
    print_done({"run directory": run.root, "checkpoint": run.checkpoint(result.step), "loss curve": run.loss_curve,
                "metrics": run.metrics},
               [command("interp eval", run.root) + "   # validation loss and probe-task scores",
                command("interp analyze", run.root, "--task", "ioi"),
                f"python: interp.load({str(run.root)!r})   # a HookedTransformer"])
    return 0


if __name__ == "__main__":
    from interp.app.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))

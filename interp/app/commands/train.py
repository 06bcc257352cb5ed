"""``interp train``: train a GPT-2-class model on prepared token shards (every TrainConfig field is a flag).

Also runnable as a module, which is how ``torchrun`` starts several processes:
    torchrun --nproc_per_node 2 -m interp.app.commands.train --preset tiny --data-dir runs/data --out-dir runs/ddp
"""

from __future__ import annotations

import argparse
import sys

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.training.config import TrainConfig


def _add_args(p: argparse.ArgumentParser) -> None:
    add_dataclass_args(p, TrainConfig)
    p.set_defaults(func=run)


def register(sub: argparse._SubParsersAction) -> None:
    _add_args(sub.add_parser("train", help="train a model on token shards", description=__doc__))


def run(args: argparse.Namespace) -> int:
    from interp.training.trainer import train

    result = train(dataclass_from_args(TrainConfig, args))
    val = f", val loss {result.final_val_loss:.3f}" if result.final_val_loss is not None else ""
    print(f"trained {result.step} steps in {result.seconds:.0f}s ({result.tokens_per_s:.0f} tokens/s): "
          f"loss {result.final_loss:.3f}{val}. Run directory: {result.run_dir}")
    print(f"next: interp eval {result.run_dir}")
    return 0


if __name__ == "__main__":
    from interp.app.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))

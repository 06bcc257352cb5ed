"""torchrun worker for the multi-process tests, with faults to inject: ``train_saes`` from a JSON config, or
``interp cache``'s command line.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/dist_worker.py CFG.json [--die-at N]
        [--rank1 FIELD=VALUE]
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/dist_worker.py cache --die-at N -- ARGS

``--die-at N``: rank 1 exits (as if killed) right after SAE step N / after writing N shards. ``--rank1 k=4``: rank 1
trains with another setting.
"""

from __future__ import annotations

import argparse
import json
import os

import torch


def cache(argv: list[str]) -> None:
    """``interp cache`` with rank 1 dying after ``--die-at`` shards."""
    import interp.analysis.activations.cache as cache_module
    from interp.app.cli import main as cli

    die_at = int(argv[argv.index("--die-at") + 1]) if "--die-at" in argv else 0
    args = argv[argv.index("--") + 1 :]
    if die_at and os.environ.get("RANK") == "1":
        write, written = cache_module._write_shard, []

        def dying(*a, **kw):
            write(*a, **kw)
            written.append(1)
            if len(written) == die_at:
                os._exit(1)

        cache_module._write_shard = dying
    raise SystemExit(cli(["cache", *args]))


def main() -> None:
    import sys

    if sys.argv[1] == "cache":
        return cache(sys.argv[2:])
    from saes.train import SAETrainer, train_saes
    from saes.train_config import SAETrainConfig

    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("--die-at", type=int, default=0)
    p.add_argument("--rank1", default="")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = json.loads(open(args.config).read())
    rank = int(os.environ.get("RANK", "0"))
    if args.rank1 and rank == 1:
        key, value = args.rank1.split("=")
        data[key] = type(data[key])(value)
    if args.die_at and rank == 1:
        step = SAETrainer.train_step

        def dying(self, batch):
            logs = step(self, batch)
            if self.step == args.die_at:
                os._exit(1)
            return logs

        SAETrainer.train_step = dying
    train_saes(SAETrainConfig.from_dict(data))


if __name__ == "__main__":
    main()

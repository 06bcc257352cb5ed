"""torchrun worker for the distributed SAE-training tests: ``train_saes`` from a JSON config, with faults to inject.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/sae_dist_worker.py CFG.json [--die-at N]
        [--rank1 FIELD=VALUE]

``--die-at N``: rank 1 exits (as if killed) right after step N. ``--rank1 k=4``: rank 1 runs with another setting.
"""

from __future__ import annotations

import argparse
import json
import os

import torch


def main() -> None:
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

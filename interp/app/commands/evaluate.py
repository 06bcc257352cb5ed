"""``interp eval RUN_DIR``: validation loss and probe-task scores (IOI, induction, greater-than, capitals,
colored objects, multiple choice) on held-out prompts, written to ``RUN_DIR/eval.json``."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run on the probe tasks -> eval.json", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--n-prompts", type=int, default=200, help="prompts per task (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", default=None, help="comma-separated subset of tasks (default all)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.evaluate_run import evaluate_run

    tasks = args.tasks.split(",") if args.tasks else None
    results = evaluate_run(args.run_dir, n_prompts=args.n_prompts, seed=args.seed, tasks=tasks, device=args.device)
    print(json.dumps({k: v for k, v in results.items() if k != "meta"}, indent=2))
    print(f"wrote {args.run_dir}/eval.json")
    return 0

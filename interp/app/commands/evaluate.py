"""``interp eval RUN_DIR``: validation loss and probe-task scores (IOI, induction, greater-than, capitals,
colored objects, multiple choice) on held-out prompts, and IOI and capitals on held-out phrasing families (the
headline numbers), written to ``RUN_DIR/eval.json``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a run on the probe tasks -> eval.json", description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (written by `interp train` or `interp import`)")
    p.add_argument("--n-prompts", type=int, default=200, help="prompts per task (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out prompts (default 0)")
    p.add_argument("--tasks", default=None, help="comma-separated subset of tasks (default all: ioi, "
                   "ioi_heldout_family, induction, greater_than, capitals, capitals_heldout_family, colored_objects, "
                   "colored_objects_heldout_family, multiple_choice, multiple_choice_heldout_family)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, format_table, print_done
    from interp.layout import RunLayout
    from interp.tasks.evaluate_run import evaluate_run

    tasks = args.tasks.split(",") if args.tasks else None
    results = evaluate_run(args.run_dir, n_prompts=args.n_prompts, seed=args.seed, tasks=tasks, device=args.device)
    rows = {f"{task} {metric}" if isinstance(metrics, dict) else task: value
            for task, metrics in results.items() if task != "meta"
            for metric, value in (metrics.items() if isinstance(metrics, dict) else [("", metrics)])}
    print(format_table(rows, ("score", "value")))
    print_done({"scores": RunLayout(args.run_dir).eval},
               [command("interp analyze", args.run_dir, "--task", "ioi") + "   # which heads do the task",
                f"python: interp.load({str(args.run_dir)!r})   # a HookedTransformer"])
    return 0

"""``interp analyze RUN_DIR --task ioi|induction|facts``: lenses, attribution, head scores and patching for one
task, written as ``report.html`` and ``findings.json`` (default: RUN_DIR/analysis/TASK)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse a task end to end (HTML report + JSON findings)",
                       description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--task", required=True, choices=["ioi", "induction", "facts"])
    p.add_argument("--out", default=None, help="output directory (default RUN_DIR/analysis/TASK)")
    p.add_argument("--n-prompts", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import interp
    from interp.app.analyze import analyze
    from interp.layout import RunLayout

    model = interp.load(args.run_dir, device=args.device)
    out = args.out or str(RunLayout(args.run_dir).analysis(args.task))
    findings = analyze(model, args.task, out, n_prompts=args.n_prompts, seed=args.seed, top_k=args.top_k)
    heads = ", ".join(f"{h['head']} ({h['patch_effect']:+.2f})" for h in findings["top_heads"])
    print(f"most important heads (fraction restored): {heads}")
    return 0

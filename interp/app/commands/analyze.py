"""``interp analyze RUN_DIR --task TASK``: lenses, attribution, head scores and patching for one task (a name in
``interp.tasks.pairs.PAIR_BUILDERS``: ioi, induction, capitals, greater_than, colored_objects, multiple_choice),
written as ``report.html`` and ``findings.json`` (default: RUN_DIR/analysis/TASK). ``facts`` is a deprecated
alias of ``capitals``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from interp.app.args import add_renamed_option


def task_name(task: str) -> str:
    """The current name of ``task``, with a warning on stderr for a deprecated one (``RENAMED_TASKS``).

    >>> task_name("facts")   # warns, returns "capitals"
    """
    from interp.tasks.pairs import RENAMED_TASKS

    if task in RENAMED_TASKS:
        new = RENAMED_TASKS[task]
        print(f"warning: --task {task} is deprecated; use --task {new}", file=sys.stderr)
        return new
    return task


def register(sub: argparse._SubParsersAction) -> None:
    from interp.tasks.pairs import PAIR_BUILDERS, RENAMED_TASKS

    p = sub.add_parser("analyze", help="analyse a task end to end (HTML report + JSON findings)",
                       description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (written by `interp train` or `interp import`)")
    p.add_argument("--task", required=True, choices=[*PAIR_BUILDERS, *RENAMED_TASKS], metavar="TASK",
                   help=f"the task's prompt pairs: {', '.join(PAIR_BUILDERS)}")
    add_renamed_option(p, "--out-dir", "--out", default=None, help="output directory (default RUN_DIR/analysis/TASK)")
    p.add_argument("--n-prompts", type=int, default=64, help="prompt pairs (clean and corrupted) to analyse (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompts (default 0)")
    p.add_argument("--top-k", type=int, default=5, help="heads and positions listed in findings.json (default 5)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import interp
    from interp.app.analyze import analyze
    from interp.app.messages import command, print_done
    from interp.layout import AnalysisLayout, RunLayout

    args.task = task_name(args.task)
    model = interp.load(args.run_dir, device=args.device)
    out = Path(args.out_dir) if args.out_dir else RunLayout(args.run_dir).analysis(args.task)
    findings = analyze(model, args.task, out, n_prompts=args.n_prompts, seed=args.seed, top_k=args.top_k)
    heads = ", ".join(f"{h['head']} ({h['patch_effect']:+.2f})" for h in findings["top_heads"])
    print(f"most important heads (fraction restored): {heads}")
    steps = [f"open {out / 'report.html'} in a browser", command("interp lens", args.run_dir)
             + "   # tuned vs logit lens, layer by layer"]
    if findings["top_heads"]:
        layer = findings["top_heads"][0]["layer"]
        steps.append(command("interp train-sae", args.run_dir, "--hook", f"blocks.{layer}.attn.hook_z")
                     + f"   # SAE features of layer {layer}'s heads")
    print_done({"report": AnalysisLayout(out).report, "findings": AnalysisLayout(out).findings}, steps)
    return 0

"""The ``interp circuit`` subcommand (registered through the ``interp.commands`` entry points):

    interp circuit runs/quickstart/model --task ioi                       # EAP-IG, top 200 edges, faithfulness curve
    interp circuit runs/quickstart/model --task induction --method acdc --threshold 0.02
    interp circuit runs/quickstart/model --task ioi --method eap --selection greedy --top-n 100 --out-dir c/ioi
"""

from __future__ import annotations

import argparse

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.app.messages import command, print_done


def register(sub: argparse._SubParsersAction) -> None:
    from circuits.config import CircuitConfig

    p = sub.add_parser("circuit", help="find a task's circuit (EAP, EAP-IG, exact patching, ACDC) and its "
                                       "faithfulness", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(p, CircuitConfig, positional=("run_dir",))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from circuits.config import CircuitConfig
    from circuits.discover import run_circuit

    cfg = dataclass_from_args(CircuitConfig, args)
    out, result = run_circuit(cfg)
    print(result.summary().to_string(index=False))
    print_done({"report": out.report, "circuit": out.circuit},
               [f"python: Graph.load({str(out.root)!r}).frame()   # every edge's score",
                command("interp circuit", cfg.run_dir, "--task", cfg.task, "--method", "acdc") + "   # another method"])
    return 0

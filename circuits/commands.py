"""The ``interp circuit`` subcommand (registered through the ``interp.commands`` entry points):

    interp circuit runs/quickstart/model --task ioi                       # EAP-IG, top 200 edges, faithfulness curve
    interp circuit runs/quickstart/model --task induction --method acdc --threshold 0.02
    interp circuit runs/quickstart/model --task ioi --method eap --selection greedy --top-n 100 --out-dir c/ioi

and ``interp graph`` (one prompt's attribution graph from transcoders or a CLT):

    interp graph runs/quickstart/model --transcoders runs/tcs --prompt "When Mary and John went to the store, John gave"
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


def register_graph(sub: argparse._SubParsersAction) -> None:
    from circuits.graph_run import GraphConfig

    p = sub.add_parser("graph", help="one prompt's attribution graph from per-layer transcoders or a CLT: pruned, "
                                     "scored, drawn as an offline page",
                       description="Build the attribution graph of --prompt (exact edges in the local replacement "
                                   "model: transcoders + error nodes, attention and LayerNorm frozen), prune it by "
                                   "influence, score it (replacement, completeness) and write graph.json, "
                                   "adjacency.safetensors and graph.html.")
    add_dataclass_args(p, GraphConfig, positional=("run_dir",))
    p.set_defaults(func=run_graph_command)


def run_graph_command(args: argparse.Namespace) -> int:
    import json

    from circuits.graph_run import GraphConfig, run_graph

    cfg = dataclass_from_args(GraphConfig, args)
    out = run_graph(cfg)
    scores = json.loads((out / "graph.json").read_text())["scores"]
    print(", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    print_done({"page": out / "graph.html", "graph": out / "graph.json", "full matrix": out / "adjacency.safetensors"},
               ["open the page in a browser; python: json.load(open(graph.json)) for the nodes and edges"])
    return 0

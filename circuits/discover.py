"""Circuit discovery end to end: a task's prompt pairs -> edge scores -> a circuit -> its faithfulness.

``discover`` is the Python API (a model in, a ``CircuitResult`` out); ``run_circuit`` is ``interp circuit`` (a run
directory in, OUT written: see ``circuits.layout``).

>>> result = discover(model, "ioi", method="eap-ig-inputs", top_n=200)
>>> result.summary()          # metric of the full model, the ablated one and the circuit; faithfulness; CPR, CMD
>>> result.circuit.circuit_edges[:5]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from circuits.acdc import acdc
from circuits.attribute import attribute
from circuits.config import ALIASES, CircuitConfig
from circuits.faithfulness import circuit_metrics, faithfulness, faithfulness_curve, roc_auc
from circuits.graph import Graph
from circuits.layout import CircuitLayout
from circuits.select import select
from interp.errors import RunDirError
from interp.io import atomic_write_json, git_commit, hash_state_dict, read_json, to_jsonable
from interp.models.tl import HookedTransformer
from interp.tasks.pairs import PromptPairs, build_pairs, check_pairs


@dataclass
class CircuitResult:
    """Scores of every edge (``graph``), the chosen circuit, its metric values and the faithfulness curve."""

    graph: Graph
    circuit: Graph
    metrics: dict[str, float]
    curve: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"quantity": k, "value": v} for k, v in self.metrics.items()])


def discover(model: HookedTransformer, task: str | PromptPairs = "ioi", method: str = "eap-ig-inputs",
             ablation: str = "patching", ig_steps: int = 5, selection: str = "top-n", top_n: int = 200,
             threshold: float = 0.01, objective: str = "kl", per_position: bool = False, n_prompts: int = 64,
             seed: int = 0, curve: bool = True, known_edges: list[str] | None = None,
             progress: bool = True) -> CircuitResult:
    """Find ``task``'s circuit in ``model`` (see ``CircuitConfig`` for every option's meaning)."""
    cfg = CircuitConfig(run_dir="-", task=task if isinstance(task, str) else task.task, method=method,
                        ablation=ablation, ig_steps=ig_steps, selection=selection, top_n=top_n, threshold=threshold,
                        objective=objective, per_position=per_position, n_prompts=n_prompts)
    cfg.validate()
    pairs = build_pairs(model, task, n=n_prompts, seed=seed) if isinstance(task, str) else task
    check_pairs(model, pairs)
    clean, corrupt, metric = pairs.clean, pairs.corrupt, pairs.metric
    t0 = time.time()
    if cfg.method == "acdc":
        graph = acdc(model, clean, corrupt, metric, threshold, ablation, objective, progress=progress)
        circuit = graph
    else:
        graph = attribute(model, clean, corrupt, metric, cfg.method, ablation, ig_steps, per_position, progress)
        circuit = select(graph, selection, n=min(top_n, graph.n_edges), t=threshold)
    seconds = time.time() - t0
    graph.meta["task"] = circuit.meta["task"] = pairs.task
    checks = [graph.allowed.clone(), graph.allowed & False, circuit.in_circuit]
    if known_edges:
        checks.append(graph.mask_of(known_edges))
    values = circuit_metrics(model, graph, clean, corrupt, metric, checks, ablation)
    m_clean, m_ablated = values[0], values[1]
    metrics = {"metric_full_model": m_clean, "metric_all_ablated": m_ablated, "metric_circuit": values[2],
               "faithfulness": faithfulness(values[2], m_clean, m_ablated), "circuit_edges": circuit.n_in_circuit,
               "graph_edges": graph.n_edges, "edge_share": circuit.n_in_circuit / graph.n_edges,
               "seconds_scoring": seconds}
    if known_edges:
        labels = graph.mask_of(known_edges)[graph.allowed]
        metrics["known_faithfulness"] = faithfulness(values[3], m_clean, m_ablated)
        if cfg.method != "acdc":
            metrics["known_roc_auc"] = roc_auc(graph.edge_scores().abs(), labels)
    table = None
    if curve and cfg.method != "acdc":
        table = faithfulness_curve(model, graph, clean, corrupt, metric, ablation, how=selection
                                   if selection != "threshold" else "top-n")
        metrics["cpr"], metrics["cmd"] = table.attrs["cpr"], table.attrs["cmd"]
    return CircuitResult(graph, circuit, metrics, table, {"metric_name": pairs.metric_name,
                                                          "pairs": pairs.description})


def run_circuit(cfg: CircuitConfig) -> tuple[CircuitLayout, CircuitResult]:
    """``interp circuit``: load the run, discover, write OUT (circuit.json, graph files, report.html)."""
    from circuits.report import write_circuit_report
    from interp.models.loading import load

    cfg.validate()
    method = ALIASES.get(cfg.method, cfg.method)
    out = CircuitLayout(cfg.out_dir or Path(cfg.run_dir) / "circuits" / f"{cfg.task}-{method}")
    if out.circuit.exists() and not cfg.overwrite:
        raise RunDirError(f"{out.root} already holds a circuit ({out.circuit.name}); give --overwrite to replace it "
                          "or --out-dir for a new directory.")
    known = read_json(cfg.known_circuit)["edges"] if cfg.known_circuit else None
    model = load(cfg.run_dir, device=cfg.device)
    result = discover(model, cfg.task, method, cfg.ablation, cfg.ig_steps, cfg.selection, cfg.top_n, cfg.threshold,
                      cfg.objective, cfg.per_position, cfg.n_prompts, cfg.seed, cfg.curve, known, cfg.progress)
    out.root.mkdir(parents=True, exist_ok=True)
    result.circuit.save(out.root)
    frame = result.circuit.frame()
    record = {"config": to_jsonable(cfg), "task": cfg.task, "method": method, **result.extra,
              "metrics": result.metrics, "curve": None if result.curve is None else result.curve.to_dict("records"),
              "edges": frame[frame.in_circuit][["edge", "score"]].to_dict("records"),
              "parent_weights_sha256": hash_state_dict(model.state_dict()), "git_commit": git_commit()}
    write_circuit_report(out, record, result)
    atomic_write_json(out.circuit, record)
    return out, result

"""How good is a circuit: its metric with every other edge ablated, faithfulness curves (MIB), ROC AUC.

Faithfulness ``f = (m_circuit - m_ablated) / (m_clean - m_ablated)``: 1 when the circuit alone recovers the full
model's metric, 0 when it does no better than ablating everything. MIB's circuit track measures ``f`` for the
best-scored 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50 and 100% of edges; CPR is the area under ``f`` against the share of
edges kept (higher is better) and CMD the area of ``|1 - f|`` (lower is better), both by the trapezoid rule over
the kept share, as in MIB's ``evaluate_area_under_curve``.

>>> curve = faithfulness_curve(model, graph, clean, corrupt, metric)
>>> curve.attrs["cpr"], curve.attrs["cmd"]
"""

from __future__ import annotations

import pandas as pd
import torch
from jaxtyping import Bool, Int
from torch import Tensor

from circuits.graph import Graph
from circuits.patched import CleanRun, EdgeRunner, ablated_outputs, upstream_outputs
from circuits.select import select
from interp.analysis.patching.metrics import Metric
from interp.errors import InputError
from interp.models.tl import HookedTransformer

MIB_PERCENTS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


@torch.no_grad()
def circuit_metrics(model: HookedTransformer, graph: Graph, clean: Int[Tensor, "batch pos"],
                    corrupt: Int[Tensor, "batch pos"] | None, metric: Metric,
                    circuits: list[Bool[Tensor, "pos up down"]], ablation: str = "patching") -> list[float]:
    """The metric of each circuit (every edge outside it ablated), several circuits per batched run."""
    device = next(model.parameters()).device
    clean = clean.to(device)
    clean_run = CleanRun(*upstream_outputs(model, graph.shape, clean))
    ablated = ablated_outputs(model, graph.shape, clean, None if corrupt is None else corrupt.to(device), ablation,
                              clean_run)
    run, out = EdgeRunner(model, graph.shape, clean, ablated, clean_run), []
    for i in range(0, len(circuits), 4):
        logits = run(torch.stack(circuits[i : i + 4]).to(device))
        out += [float(metric(part)) for part in logits.split(clean.shape[0])]
    return out


def faithfulness(m_circuit: float, m_clean: float, m_ablated: float) -> float:
    span = m_clean - m_ablated
    if abs(span) < 1e-9:
        raise InputError(f"The full model and the fully ablated one give the same metric ({m_clean:.4g}): the "
                         "corrupted prompts do not change the task, so faithfulness is undefined. Use a contrast "
                         "that changes the answer.")
    return (m_circuit - m_ablated) / span


def area(kept_share: list[float], f: list[float]) -> tuple[float, float]:
    """(CPR, CMD): trapezoid areas of f and of |1 - f| over the share of edges kept."""
    cpr = cmd = 0.0
    for i in range(len(f) - 1):
        width = kept_share[i + 1] - kept_share[i]
        cpr += width * (f[i] + f[i + 1]) / 2
        cmd += width * (abs(1 - f[i]) + abs(1 - f[i + 1])) / 2
    return cpr, cmd


def faithfulness_curve(model: HookedTransformer, graph: Graph, clean: Int[Tensor, "batch pos"],
                       corrupt: Int[Tensor, "batch pos"] | None, metric: Metric, ablation: str = "patching",
                       percents: tuple[float, ...] = MIB_PERCENTS, how: str = "top-n") -> pd.DataFrame:
    """f of the best ``percent`` % of edges (selected ``how``, pruned), one row per percent; CPR/CMD in ``attrs``."""
    full = graph.allowed.clone()
    empty = torch.zeros_like(full)
    circuits = [select(graph, how, n=round(graph.n_edges * pc / 100)).in_circuit for pc in percents]
    values = circuit_metrics(model, graph, clean, corrupt, metric, [full, empty, *circuits], ablation)
    m_clean, m_ablated = values[0], values[1]
    rows = [{"percent": pc, "edges": int(c.sum()), "kept_share": float(c.sum()) / graph.n_edges, "metric": m,
             "faithfulness": faithfulness(m, m_clean, m_ablated)} for pc, c, m in zip(percents, circuits, values[2:], strict=True)]
    df = pd.DataFrame(rows)
    df.attrs["cpr"], df.attrs["cmd"] = area(df["kept_share"].tolist(), df["faithfulness"].tolist())
    df.attrs.update(m_clean=m_clean, m_ablated=m_ablated, ablation=ablation, selection=how)
    return df


def roc_auc(scores: Tensor, labels: Bool[Tensor, "..."]) -> float:
    """Probability that a random known-circuit edge outscores a random other edge (ties count half); scores are
    compared as given, so pass ``scores.abs()`` to rank by magnitude."""
    s, y = scores.flatten().double(), labels.flatten().bool()
    if y.all() or not y.any():
        raise InputError("ROC AUC needs both circuit and non-circuit edges among the labels.")
    ranks = torch.tensor(pd.Series(s.numpy()).rank(method="average").to_numpy())
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

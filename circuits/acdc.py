"""ACDC (Conmy et al. 2023): prune edges greedily, from the logits back to the input, while the output stays close.

Downstream inputs are visited in reverse order (the logits, then the last layer's MLP, its heads' values, keys and
queries, and so on down); each input's edges are tried latest sender first. An edge is removed for good when
removing it raises the objective by less than ``threshold``:

- ``kl`` (ACDC's default): KL divergence of the circuit's next-token distribution from the full model's, at the
  positions the task is read (``positions``: the last one unless given), averaged over prompts;
- ``metric``: the absolute change of the task metric.

A node left with no edge out has its edges in removed without a test. Each test is one forward pass, run from the
first layer that changed (earlier layers are the clean run's), which is what makes this faster than rerunning the
whole model.

>>> graph = acdc(model, clean, corrupt, metric, threshold=0.01)
>>> graph.circuit_edges
"""

from __future__ import annotations

import torch
from jaxtyping import Int
from torch import Tensor
from tqdm.auto import tqdm

from circuits.graph import Graph
from circuits.patched import CleanRun, EdgeRunner, ablated_outputs, upstream_outputs
from circuits.select import node_of_input, prune
from interp.analysis.patching.metrics import Metric, scalar
from interp.errors import InputError
from interp.models.tl import HookedTransformer

OBJECTIVES = ("kl", "metric")


@torch.no_grad()
def acdc(model: HookedTransformer, clean: Int[Tensor, "batch pos"], corrupt: Int[Tensor, "batch pos"] | None,
         metric: Metric, threshold: float, ablation: str = "patching", objective: str = "kl",
         positions: list[int] | None = None, progress: bool = True) -> Graph:
    """The ACDC circuit at ``threshold``; ``graph.scores`` holds each tested edge's objective change (0 untested)."""
    if objective not in OBJECTIVES:
        raise InputError(f"Unknown ACDC objective {objective!r}; choose one of {list(OBJECTIVES)}.")
    if threshold < 0:
        raise InputError(f"The ACDC threshold must be >= 0, got {threshold}.")
    device = next(model.parameters()).device
    clean = clean.to(device)
    graph = Graph.from_model(model)
    shape = graph.shape
    clean_run = CleanRun(*upstream_outputs(model, shape, clean))
    ablated = ablated_outputs(model, shape, clean, None if corrupt is None else corrupt.to(device), ablation,
                              clean_run)
    keep = graph.allowed[None].clone().to(device)
    pos = positions if positions is not None else [clean.shape[1] - 1]
    run = EdgeRunner(model, shape, clean, ablated, clean_run)
    full_logits = run(keep)
    full_logp = full_logits[:, pos].log_softmax(-1)
    full_metric = float(scalar(metric(full_logits)))

    def measure(mask: Tensor) -> float:
        logits = run(mask)
        if objective == "metric":
            return abs(float(metric(logits)) - full_metric)
        logp = logits[:, pos].log_softmax(-1)
        return float((full_logp.exp() * (full_logp - logp)).sum(-1).mean())

    current = 0.0
    feeds = node_of_input(shape)
    scores = torch.zeros(graph.scores.shape)
    allowed = shape.allowed()
    n_tests = int(allowed.sum())
    bar = tqdm(total=n_tests, desc="acdc", disable=not progress, leave=False)
    for down in reversed(range(len(shape.downstream))):
        senders = allowed[:, down].nonzero().flatten().tolist()
        node = feeds[down]
        if node >= 0 and not keep[0, 0, node].any():  # this node feeds nothing any more
            keep[0, 0, :, down] = False
            bar.update(len(senders))
            continue
        for up in reversed(senders):
            keep[0, 0, up, down] = False
            value = measure(keep)
            scores[0, up, down] = value - current
            if value - current < threshold:
                current = value
            else:
                keep[0, 0, up, down] = True
            bar.update(1)
    bar.close()
    out = prune(Graph(shape, scores, keep[0].cpu(), {}))
    out.meta = {"method": "acdc", "threshold": threshold, "objective": objective, "ablation": ablation,
                "positions": pos, "n_prompts": clean.shape[0], "final_objective": current}
    return out

"""Choosing a circuit from scored edges: top-n, threshold, greedy growth from the logits; dangling nodes pruned.

Scores rank by magnitude (``absolute=True``, the default: an edge that hurts the metric matters as much as one
that helps) or by signed value (the edges that help most; a negative score means the edge helps).

>>> circuit = top_n(graph, 200)            # the 200 highest-|score| edges, then pruned
>>> circuit.circuit_edges[:3]
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from circuits.graph import Graph, GraphShape
from interp.errors import InputError

SELECTIONS = ("top-n", "threshold", "greedy")


def _rank_values(graph: Graph, absolute: bool) -> Float[Tensor, "pos up down"]:
    values = graph.scores.abs() if absolute else -graph.scores  # helping edges have negative scores
    return torch.where(graph.allowed, values, torch.full((), -torch.inf))


def node_of_input(shape: GraphShape) -> list[int]:
    """For each downstream input, the upstream index of the node it feeds (-1: the logits)."""
    nodes = []
    for layer in range(shape.n_layers):
        nodes += [shape.head_up(layer) + h for _ in range(3) for h in range(shape.n_heads)]
        nodes += [shape.mlp_up(layer)] if shape.has_mlp else []
    return nodes + [-1]


def prune(graph: Graph) -> Graph:
    """Drop edges of dangling nodes until none is left: a node with no edge in (other than the input) or no edge
    out contributes nothing that a kept edge could carry to the logits."""
    shape = graph.shape
    keep = graph.in_circuit & graph.allowed
    feeds = torch.tensor(node_of_input(shape))
    n_up = len(shape.upstream)
    onto = torch.zeros(len(feeds), n_up, dtype=torch.bool)  # downstream input -> its node
    onto[(feeds >= 0).nonzero().flatten(), feeds[feeds >= 0]] = True
    while True:
        any_edge = keep.any(0)  # [up, down]
        has_out = any_edge.any(1)
        has_in = (any_edge.any(0)[:, None] & onto).any(0)
        has_in[0] = True  # the input node needs no edge in
        alive = has_out & has_in
        down_alive = torch.where(feeds >= 0, alive[feeds.clamp(min=0)], torch.ones((), dtype=torch.bool))
        new = keep & alive[None, :, None] & down_alive[None, None, :]
        if torch.equal(new, keep):
            return graph.with_circuit(keep)
        keep = new


def top_n(graph: Graph, n: int, absolute: bool = True, pruned: bool = True) -> Graph:
    """The ``n`` best-ranked edges."""
    if not 0 <= n <= graph.n_edges:
        raise InputError(f"top_n needs 0 <= n <= {graph.n_edges} (the graph's edges), got {n}.")
    values = _rank_values(graph, absolute).flatten()
    mask = torch.zeros_like(values, dtype=torch.bool)
    mask[values.topk(n).indices] = True
    out = graph.with_circuit(mask.view(graph.scores.shape))
    return prune(out) if pruned else out


def threshold(graph: Graph, t: float, absolute: bool = True, pruned: bool = True) -> Graph:
    """Every edge whose (absolute) score is at least ``t``."""
    out = graph.with_circuit(_rank_values(graph, absolute) >= t)
    return prune(out) if pruned else out


def greedy(graph: Graph, n: int, absolute: bool = True, pruned: bool = True) -> Graph:
    """Grow from the logits: repeatedly add the best edge into a node already in the circuit (``n`` edges).
    The circuit stays connected to the logits at every step, unlike top-n."""
    if not 0 <= n <= graph.n_edges:
        raise InputError(f"greedy needs 0 <= n <= {graph.n_edges} (the graph's edges), got {n}.")
    shape = graph.shape
    values = _rank_values(graph, absolute).clone()  # [pos, up, down]
    feeds = torch.tensor(node_of_input(shape))
    reached = torch.zeros(len(shape.upstream), dtype=torch.bool)  # nodes in the circuit
    open_down = feeds < 0  # downstream inputs whose node is in the circuit (the logits at first)
    mask: Bool[Tensor, "pos up down"] = torch.zeros(graph.scores.shape, dtype=torch.bool)
    for _ in range(n):
        candidates = torch.where(open_down[None, None, :], values, torch.full((), -torch.inf))
        best = int(candidates.argmax())
        if candidates.flatten()[best] == -torch.inf:
            break
        p, u, d = torch.unravel_index(torch.tensor(best), values.shape)
        mask[p, u, d] = True
        values[p, u, d] = -torch.inf
        if not reached[u]:
            reached[u] = True
            open_down |= feeds == u
    out = graph.with_circuit(mask)
    return prune(out) if pruned else out


def select(graph: Graph, how: str = "top-n", n: int | None = None, t: float | None = None,
           absolute: bool = True) -> Graph:
    """One entry for the three selections (``how`` in ``SELECTIONS``; ``n`` for top-n/greedy, ``t`` for threshold)."""
    if how not in SELECTIONS:
        raise InputError(f"Unknown selection {how!r}; choose one of {list(SELECTIONS)}.")
    if how == "threshold":
        if t is None:
            raise InputError("Threshold selection needs t (the smallest |score| kept).")
        return threshold(graph, t, absolute)
    if n is None:
        raise InputError(f"{how} selection needs n (the number of edges).")
    return (top_n if how == "top-n" else greedy)(graph, n, absolute)

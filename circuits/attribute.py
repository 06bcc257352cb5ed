"""Edge scores: EAP, EAP-IG (inputs, activations) and exact edge patching.

Every method scores an edge ``u -> v`` by the change in the task metric when that one edge carries the ablated
value of ``u`` instead of its clean one (negative: the edge helps the metric). The gradient methods estimate it to
first order, ``(ablated_u - clean_u) . dmetric/dinput_v``, summed over prompts' positions:

- ``eap``: the gradient at the clean run (Syed et al. 2023; one forward and backward);
- ``eap-ig-inputs``: the gradient averaged over ``ig_steps`` runs whose input embeddings move from the ablated to
  the clean ones (Hanna et al. 2024; MIB's recommended method);
- ``eap-ig-activations``: the gradient averaged over runs in which every node's output is set on the straight line
  from its ablated to its clean value (values forced, gradients flowing through the computation);
- ``exact``: the real change, one masked run per edge (the reference the approximations are checked against).

>>> graph = attribute(model, clean, corrupt, metric, method="eap-ig-inputs")
>>> graph.frame().head()      # edges ranked by |score|
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from circuits.budget import check_fits
from circuits.graph import Graph, GraphShape
from circuits.patched import (
    CleanRun,
    EdgeRunner,
    ablated_outputs,
    graph_hooks,
    input_sites,
    output_sites,
    upstream_outputs,
)
from circuits.unsplit import supports_unsplit, unsplit_scores
from interp.analysis.patching.metrics import Metric, scalar
from interp.errors import InputError
from interp.models.tl import HookedTransformer

METHODS = ("eap", "eap-ig-inputs", "eap-ig-activations", "exact")


@contextmanager
def _frozen(model: HookedTransformer) -> Iterator[None]:
    """No parameter gradients (only the activations' are needed); restored afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def _accumulate(model: HookedTransformer, shape: GraphShape, tokens: Tensor, delta: Float[Tensor, "up b p d"],
                metric: Metric, scores: Float[Tensor, "pos up down"], fwd_hooks: list) -> float:
    """One forward and backward; adds ``delta . grad`` at every downstream input into ``scores``."""
    per_pos = scores.shape[0] > 1

    def grad_hook(down: slice, bound: int):
        def hook(grad: Tensor, hook) -> None:
            g = grad if grad.dim() == 4 else grad[:, :, None]
            pattern = "ubpd,bpvd->puv" if per_pos else "ubpd,bpvd->uv"
            scores[..., :bound, down] += torch.einsum(pattern, delta[:bound], g)
        return hook

    bwd = [(name, grad_hook(down, bound)) for name, _, down, bound in input_sites(shape)]
    with graph_hooks(model), _frozen(model), model.hooks(fwd_hooks=fwd_hooks, bwd_hooks=bwd):
        value = scalar(metric(model(tokens)), "circuit metric")
        value.backward()
    return float(value.detach())


def _requires_grad(act: Tensor, hook) -> Tensor:
    return act.detach().requires_grad_(True)


def attribute(model: HookedTransformer, clean: Int[Tensor, "batch pos"], corrupt: Int[Tensor, "batch pos"] | None,
              metric: Metric, method: str = "eap-ig-inputs", ablation: str = "patching", ig_steps: int = 5,
              per_position: bool = False, progress: bool = True) -> Graph:
    """Score every edge of ``model``'s graph on the task ``(clean, corrupt, metric)``; returns a ``Graph``.

    ``metric(logits) -> 0-d tensor`` averages over the batch; ``corrupt`` may be None for mean/zero ablation."""
    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}; choose one of {list(METHODS)}.")
    if corrupt is not None and corrupt.shape != clean.shape:
        raise InputError(f"Clean and corrupted prompts must have the same shape (token for token), got "
                         f"{tuple(clean.shape)} and {tuple(corrupt.shape)}: build pairs from one template.")
    if ig_steps < 1:
        raise InputError(f"ig_steps must be >= 1, got {ig_steps}.")
    device = next(model.parameters()).device
    clean = clean.to(device)
    corrupt = corrupt.to(device) if corrupt is not None else None
    graph = Graph.from_model(model, per_position, clean.shape[1])
    shape = graph.shape
    b, p = clean.shape
    check_fits(4 * b * p * len(shape.upstream) * model.cfg.d_model * 3, "The node outputs of this batch", device)
    unsplit = supports_unsplit(model) and method in ("eap", "eap-ig-inputs")
    scores = torch.zeros(graph.scores.shape, device=device)
    if unsplit and method == "eap" and ablation == "patching":  # the clean outputs come from the gradient pass
        ablated = upstream_outputs(model, shape, corrupt, resid=False)[0]
        clean_out = torch.empty_like(ablated)

        def capture(first: int, nodes: Tensor) -> None:
            clean_out[first : first + nodes.shape[2]] = nodes.permute(2, 0, 1, 3)

        unsplit_scores(model, shape, clean, lambda: (ablated - clean_out).view(len(shape.upstream), -1), metric,
                       scores, [("blocks.0.hook_resid_pre", _requires_grad)], capture)
    else:
        clean_run = CleanRun(*upstream_outputs(model, shape, clean, resid=method == "exact"))
        ablated = ablated_outputs(model, shape, clean, corrupt, ablation, clean_run)
        delta = ablated - clean_run.outputs
        if unsplit:
            flat = delta.view(len(shape.upstream), -1)
            delta = lambda: flat  # noqa: E731
        accumulate = unsplit_scores if unsplit else _accumulate
        if method == "exact":
            scores = _exact(model, shape, clean, ablated, metric, clean_run, scores.shape[0], progress)
        elif method == "eap":
            accumulate(model, shape, clean, delta, metric, scores, [("blocks.0.hook_resid_pre", _requires_grad)])
        else:
            for k in tqdm(range(1, ig_steps + 1), desc=method, disable=not progress, leave=False):
                alpha = k / ig_steps
                hooks = _ig_input_hooks(alpha, clean_run, ablated) if method == "eap-ig-inputs" else \
                    _ig_activation_hooks(shape, alpha, clean_run, ablated)
                accumulate(model, shape, clean, delta, metric, scores, hooks)
            scores /= ig_steps
    graph.scores = torch.where(graph.allowed, scores.cpu(), torch.zeros(()))
    graph.meta = {"method": method, "ablation": ablation, "ig_steps": ig_steps if "ig" in method else None,
                  "n_prompts": b, "n_pos": p, "per_position": per_position}
    return graph


def _ig_input_hooks(alpha: float, clean_run: CleanRun, ablated: Tensor) -> list:
    start = ablated[0] + alpha * (clean_run.outputs[0] - ablated[0])
    return [("blocks.0.hook_resid_pre", lambda act, hook: start.clone().requires_grad_(True))]


def _ig_activation_hooks(shape: GraphShape, alpha: float, clean_run: CleanRun, ablated: Tensor) -> list:
    target = ablated + alpha * (clean_run.outputs - ablated)

    def force(first: int, n: int) -> Callable:
        def hook(act: Tensor, hook) -> Tensor:
            want = target[first : first + n].permute(1, 2, 0, 3).reshape(act.shape)
            return want.clone().requires_grad_(True) if not act.requires_grad else act + (want - act).detach()
        return hook

    return [(name, force(first, n)) for name, first, n in output_sites(shape)]


def _exact(model: HookedTransformer, shape: GraphShape, clean: Tensor, ablated: Tensor, metric: Metric,
           clean_run: CleanRun, n_pos: int, progress: bool) -> Float[Tensor, "pos up down"]:
    """metric(circuit = every edge but one) - metric(full model), per edge, several edges per batched run."""
    allowed = shape.allowed().expand(n_pos, -1, -1)
    edges = allowed.nonzero()
    edges = edges[torch.argsort(edges[:, 2], descending=True, stable=True)]  # late inputs first: shorter reruns
    run = EdgeRunner(model, shape, clean, ablated, clean_run)
    base = float(metric(run(allowed[None].clone())))
    b, p = clean.shape
    per_mask = 4 * b * p * len(shape.upstream) * ablated.shape[-1] * 2 + 4 * b * p * model.cfg.d_vocab
    chunk = max(1, min(64, int(256 * 2**20 // per_mask)))
    scores = torch.zeros(allowed.shape, device=clean.device)
    for i in tqdm(range(0, len(edges), chunk), desc="exact", disable=not progress, leave=False):
        part = edges[i : i + chunk]
        keep = allowed[None].repeat(len(part), 1, 1, 1).to(clean.device)
        keep[torch.arange(len(part)), part[:, 0], part[:, 1], part[:, 2]] = False
        logits = run(keep)
        for j, chunk_logits in enumerate(logits.split(b)):
            scores[tuple(part[j])] = float(metric(chunk_logits)) - base
    return scores

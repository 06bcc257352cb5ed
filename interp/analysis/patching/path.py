"""Path patching (Wang et al. 2022): the effect of a sender head on a receiver head through one of the receiver's
inputs (query, key or value) only.

For each sender head: (1) run the base prompts with the sender's output taken from the source run and every
other head frozen at its base value, and record the receiver's q/k/v; (2) run the base prompts again with only
that receiver q/k/v replaced. The metric change is the sender -> receiver effect through that input.

>>> grid = path_patch(model, clean, corrupt, metric, receiver=(1, 0), component="k")   # [layer, head]
"""

from __future__ import annotations

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.patching.activation import PatchResult, base_and_source, check_pair
from interp.analysis.patching.metrics import Metric, scalar
from interp.errors import InputError
from interp.models.tl import HookedTransformer


@torch.no_grad()
def path_patch(
    model: HookedTransformer, clean: Int[Tensor, "batch pos"], corrupt: Int[Tensor, "batch pos"], metric: Metric,
    receiver: tuple[int, int], component: str = "k", direction: str = "noise",
) -> PatchResult:
    """Effects [layer, head] of every sender head in a layer before ``receiver`` (NaN elsewhere)."""
    check_pair(clean, corrupt)
    if component not in ("q", "k", "v"):
        raise InputError(f"component={component!r}: path patching goes through the receiver's 'q', 'k' or 'v'.")
    r_layer, r_head = receiver
    L, H = model.cfg.n_layers, model.cfg.n_heads
    if not (0 < r_layer < L and 0 <= r_head < H):
        raise InputError(f"receiver={receiver} must be a head (layer, head) with 0 < layer < {L}, head < {H}.")
    base, source = base_and_source(clean.to(model.cfg.device), corrupt.to(model.cfg.device), direction)
    z_names = [f"blocks.{i}.attn.hook_z" for i in range(r_layer)]
    recv_name = f"blocks.{r_layer}.attn.hook_{component}"
    source_logits, source_cache = model.run_with_cache(source, names_filter=lambda n: n in z_names)
    base_logits, base_cache = model.run_with_cache(base, names_filter=lambda n: n in z_names)
    base_value = float(scalar(metric(base_logits)))
    effect = torch.full((L, H), float("nan"))
    for s_layer in range(r_layer):
        for s_head in range(H):
            recv = _receiver_input(model, base, base_cache, source_cache, z_names, (s_layer, s_head), recv_name,
                                   r_layer, r_head)

            def patch(act: Tensor, hook, recv: Tensor = recv) -> Tensor:
                act = act.clone()
                act[:, :, r_head] = recv
                return act

            with model.hooks(fwd_hooks=[(recv_name, patch)]):
                effect[s_layer, s_head] = float(scalar(metric(model(base)))) - base_value
    return PatchResult(f"path->{receiver}.{component}", direction, effect, base_value,
                       float(scalar(metric(source_logits))))


def _receiver_input(model: HookedTransformer, base: Tensor, base_cache, source_cache, z_names: list[str],
                    sender: tuple[int, int], recv_name: str, r_layer: int, r_head: int) -> Tensor:
    """The receiver head's q/k/v when only ``sender`` carries the source run's output (all other heads frozen)."""
    recorded: dict[str, Tensor] = {}

    def freeze(act: Tensor, hook) -> Tensor:
        act = base_cache[hook.name].clone()  # every head frozen at its base value...
        if hook.name == z_names[sender[0]]:
            act[:, :, sender[1]] = source_cache[hook.name][:, :, sender[1]]  # ...but the sender
        return act

    def record(act: Tensor, hook) -> None:
        recorded["act"] = act[:, :, r_head].clone()

    with model.hooks(fwd_hooks=[*((n, freeze) for n in z_names), (recv_name, record)]):
        model(base, stop_at_layer=r_layer + 1)
    return recorded["act"]

"""Activation patching, batched: many patches share one forward pass, starting at the patched layer.

``direction='noise'`` runs the clean prompts with one corrupted activation patched in (what breaks the
behaviour); ``'denoise'`` runs the corrupted prompts with one clean activation (what restores it). Results are
the change of the metric against the unpatched run, one number per site.

>>> effect = activation_patch(model, clean, corrupt, logit_diff(io, s), kind="head")   # [layer, head]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.patching.metrics import Metric, scalar
from interp.analysis.patching.sites import KIND_HOOK, Site, check_kind, grid_shape, index, sites_of_layer
from interp.errors import InputError
from interp.models.tl import HookedTransformer


@dataclass
class PatchResult:
    kind: str
    direction: str
    effect: Tensor  # metric(patched) - metric(unpatched base run), shaped as the kind's grid
    base_value: float  # the metric on the unpatched base run (clean for 'noise', corrupted for 'denoise')
    source_value: float  # the metric on the run the patched activations come from


def check_pair(clean: Tensor, corrupt: Tensor) -> None:
    if clean.shape != corrupt.shape:
        raise InputError(
            f"Clean and corrupted prompts must have the same token shape, got {tuple(clean.shape)} and "
            f"{tuple(corrupt.shape)}: pair prompts whose token lengths match (e.g. swap names of one token each)."
        )


def base_and_source(clean: Tensor, corrupt: Tensor, direction: str) -> tuple[Tensor, Tensor]:
    if direction == "noise":
        return clean, corrupt
    if direction == "denoise":
        return corrupt, clean
    raise InputError(f"direction={direction!r}: use 'noise' (clean run, corrupted patch) or 'denoise'.")


def _patch_hook(sites: list[Site], source: Tensor, batch: int):
    def hook(act: Tensor, hook) -> Tensor:
        act = act.clone().view(len(sites), batch, *act.shape[1:])
        for i, site in enumerate(sites):
            idx = index(site)
            act[i][idx] = source[idx]
        return act.view(len(sites) * batch, *act.shape[2:])

    return hook


@torch.no_grad()
def activation_patch(
    model: HookedTransformer, clean: Int[Tensor, "batch pos"], corrupt: Int[Tensor, "batch pos"], metric: Metric,
    kind: str = "head", direction: str = "noise", layers: list[int] | None = None, max_batch: int = 1024,
) -> PatchResult:
    """Patch every site of ``kind`` in ``layers`` (default all), one at a time, batched."""
    check_pair(clean, corrupt)
    check_kind(kind, model.cfg.attn_only)
    base, source = base_and_source(clean.to(model.cfg.device), corrupt.to(model.cfg.device), direction)
    B, T = base.shape
    L, H = model.cfg.n_layers, model.cfg.n_heads
    layers = list(range(L)) if layers is None else layers
    hooks = {KIND_HOOK[kind].format(layer=i) for i in layers}
    resid_names = {f"blocks.{i}.hook_resid_pre" for i in layers}
    source_logits, source_cache = model.run_with_cache(source, names_filter=lambda n: n in hooks)
    base_logits, base_cache = model.run_with_cache(base, names_filter=lambda n: n in resid_names)
    base_value = float(scalar(metric(base_logits)))
    source_value = float(scalar(metric(source_logits)))
    effect = torch.full(grid_shape(kind, L, H, T), float("nan"))
    for layer in layers:
        hook_name = KIND_HOOK[kind].format(layer=layer)
        sites = sites_of_layer(kind, layer, H, T)
        step = max(1, max_batch // B)
        for start in range(0, len(sites), step):
            chunk = sites[start : start + step]
            resid = base_cache[f"blocks.{layer}.hook_resid_pre"].repeat(len(chunk), 1, 1)
            with model.hooks(fwd_hooks=[(hook_name, _patch_hook(chunk, source_cache[hook_name], B))]):
                logits = model(resid, start_at_layer=layer, tokens=base.repeat(len(chunk), 1))
            logits = logits.view(len(chunk), B, *logits.shape[1:])
            for i, site in enumerate(chunk):
                value = float(scalar(metric(logits[i])))
                cell = (site.layer,) + tuple(x for x in (site.head, site.pos) if x is not None)
                effect[cell] = value - base_value
    return PatchResult(kind, direction, effect, base_value, source_value)

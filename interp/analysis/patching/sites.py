"""Patch sites: which hook each kind of patching touches and how one patch indexes its activation.

Kinds and result grids:
- ``resid`` (``blocks.L.hook_resid_pre``), ``attn_out`` (``blocks.L.hook_attn_out``), ``mlp``
  (``blocks.L.hook_mlp_out``): [layer, pos]
- ``head`` (``blocks.L.attn.hook_z``, all positions): [layer, head]; ``head_pos``: [layer, head, pos]
- ``q``, ``k``, ``v`` (``blocks.L.attn.hook_q/k/v`` of one head, all positions): [layer, head]
"""

from __future__ import annotations

from dataclasses import dataclass

from interp.errors import InputError

KIND_HOOK = {
    "resid": "blocks.{layer}.hook_resid_pre",
    "attn_out": "blocks.{layer}.hook_attn_out",
    "mlp": "blocks.{layer}.hook_mlp_out",
    "head": "blocks.{layer}.attn.hook_z",
    "head_pos": "blocks.{layer}.attn.hook_z",
    "q": "blocks.{layer}.attn.hook_q",
    "k": "blocks.{layer}.attn.hook_k",
    "v": "blocks.{layer}.attn.hook_v",
}
KINDS = tuple(KIND_HOOK)


@dataclass(frozen=True)
class Site:
    """One patch: a layer and an index into that layer's activation (head and/or position)."""

    layer: int
    head: int | None = None
    pos: int | None = None


def check_kind(kind: str, attn_only: bool) -> None:
    if kind not in KIND_HOOK:
        raise InputError(f"Unknown patching kind {kind!r}; choose one of {KINDS}.")
    if kind == "mlp" and attn_only:
        raise InputError("This model is attention-only: it has no MLP outputs to patch.")


def grid_shape(kind: str, n_layers: int, n_heads: int, n_pos: int) -> tuple[int, ...]:
    if kind in ("resid", "attn_out", "mlp"):
        return (n_layers, n_pos)
    if kind == "head_pos":
        return (n_layers, n_heads, n_pos)
    return (n_layers, n_heads)


def sites_of_layer(kind: str, layer: int, n_heads: int, n_pos: int) -> list[Site]:
    if kind in ("resid", "attn_out", "mlp"):
        return [Site(layer, pos=p) for p in range(n_pos)]
    if kind == "head_pos":
        return [Site(layer, head=h, pos=p) for h in range(n_heads) for p in range(n_pos)]
    return [Site(layer, head=h) for h in range(n_heads)]


def index(site: Site) -> tuple:
    """Index into an activation [batch, pos, (head), ...] selecting the site (all of batch)."""
    pos = slice(None) if site.pos is None else site.pos
    return (slice(None), pos) if site.head is None else (slice(None), pos, site.head)

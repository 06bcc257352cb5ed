"""SAEs on attention outputs ``blocks.L.attn.hook_z`` ([..., n_heads, d_head]): the heads are flattened into one
vector of width ``n_heads * d_head`` (head-major, as ``z.flatten(-2)``), and each feature's decoder row splits into
one block per head, so the share of its decoder norm in each block says which heads write it.

>>> sae = build_sae(SAEConfig(architecture="topk", d_in=4 * 32, d_sae=512, k=16, hook_name="blocks.1.attn.hook_z"))
>>> feats = sae.encode(flatten_heads(z))                 # z: [batch, pos, 4, 32]
>>> per_head_attribution(sae, [3, 7], n_heads=4)         # [2, 4], rows sum to 1
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor

from saes.base import SAE
from saes.errors import SAEConfigError, SAEShapeError


def flatten_heads(z: Float[Tensor, "... n_heads d_head"]) -> Float[Tensor, "... n_heads_x_d_head"]:
    """``hook_z`` activations -> the SAE's input (heads concatenated, head 0 first)."""
    if z.ndim < 2:
        raise SAEShapeError(f"hook_z activations need shape [..., n_heads, d_head], got {tuple(z.shape)}.")
    return z.flatten(-2)


def unflatten_heads(x: Float[Tensor, "... n_heads_x_d_head"], n_heads: int) -> Float[Tensor, "... n_heads d_head"]:
    """The inverse of ``flatten_heads`` (e.g. an SAE's reconstruction back into ``hook_z``'s shape)."""
    if x.shape[-1] % n_heads:
        raise SAEShapeError(f"Width {x.shape[-1]} is not a multiple of n_heads={n_heads}: is this an hook_z SAE?")
    return x.unflatten(-1, (n_heads, x.shape[-1] // n_heads))


def per_head_attribution(sae: SAE, feature_ids: Sequence[int] | Tensor, n_heads: int) -> Float[Tensor, "n_feat n_heads"]:
    """Share of each feature's squared decoder norm that lies in each head's block (rows sum to 1)."""
    d_out = sae.cfg.d_out
    if d_out % n_heads:
        raise SAEConfigError(f"The SAE's output width {d_out} is not a multiple of n_heads={n_heads}; per-head "
                             "attribution needs an SAE trained on a flattened blocks.L.attn.hook_z.")
    ids = torch.as_tensor(feature_ids, dtype=torch.long, device=sae.W_dec.device)
    if ids.numel() and (ids.min() < 0 or ids.max() >= sae.cfg.d_sae):
        raise SAEConfigError(f"Feature ids must lie in [0, {sae.cfg.d_sae}); got {ids.tolist()}.")
    rows = sae.W_dec.detach()[ids]  # [n_feat, d_out]
    per_head = unflatten_heads(rows, n_heads).pow(2).sum(-1)  # [n_feat, n_heads]
    return per_head / per_head.sum(-1, keepdim=True).clamp(min=1e-12)

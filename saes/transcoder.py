"""Transcoders (Dunefsky et al. 2024) and skip-transcoders (Paulo et al. 2025): an SAE that reads one hook and
predicts another, e.g. ``blocks.L.ln2.hook_normalized`` -> ``blocks.L.hook_mlp_out`` (a sparse stand-in for the
MLP). The encoder and decoder are those of any registered architecture; only the target differs
(``cfg.hook_name_out``), and a skip-transcoder adds a linear map ``W_skip [d_out, d_in]`` (SAELens' layout).

>>> tc = build_transcoder("topk", d_in=128, d_sae=1024, layer=0, k=16)            # ln2 -> mlp_out
>>> skip = build_transcoder("jumprelu", d_in=128, d_sae=1024, layer=0, skip=True)
>>> loss = tc.training_loss(mlp_in, mlp_out).loss
"""

from __future__ import annotations

from typing import Any

from saes.base import SAE, build_sae
from saes.config import SAEConfig
from saes.errors import SAEConfigError


def mlp_hooks(layer: int) -> tuple[str, str]:
    """The (input, output) hooks of the MLP of ``layer``: what an MLP transcoder reads and predicts."""
    return f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"


def transcoder_config(architecture: str, d_in: int, d_sae: int, *, layer: int | None = None,
                      hook_name: str | None = None, hook_name_out: str | None = None, d_out: int | None = None,
                      skip: bool = False, **kwargs: Any) -> SAEConfig:
    """An ``SAEConfig`` for a transcoder: give ``layer`` (MLP hooks) or both hook names explicitly."""
    if layer is not None:
        hook_name, hook_name_out = mlp_hooks(layer)
    if not hook_name or not hook_name_out:
        raise SAEConfigError("A transcoder needs the hook it reads and the hook it predicts: pass layer=L (MLP "
                             "transcoder) or hook_name=... and hook_name_out=...")
    return SAEConfig(architecture=architecture, d_in=d_in, d_sae=d_sae, d_out=d_out, hook_name=hook_name,
                     hook_name_out=hook_name_out, skip=skip, **kwargs)


def build_transcoder(architecture: str, d_in: int, d_sae: int, **kwargs: Any) -> SAE:
    """A freshly initialised transcoder (``skip=True``: a skip-transcoder) of any registered architecture."""
    return build_sae(transcoder_config(architecture, d_in, d_sae, **kwargs))


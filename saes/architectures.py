"""Imports every architecture module so each registers itself in ``saes.base.ARCHITECTURES``."""

from saes import batchtopk, gated, jumprelu, matryoshka, relu, topk  # noqa: F401

"""Imports every architecture module so each registers itself in ``saes.registry.ARCHITECTURES``."""

from saes import batchtopk, gated, jumprelu, matryoshka, relu, topk  # noqa: F401

"""Activation caching to disk and the activation store (what SAE training consumes)."""

from interp.analysis.activations.cache import CacheInfo, cache_activations, open_cache
from interp.analysis.activations.store import ActivationStore

__all__ = ["ActivationStore", "CacheInfo", "cache_activations", "open_cache"]

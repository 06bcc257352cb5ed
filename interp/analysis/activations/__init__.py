"""Activation caching to disk and the activation store (what SAE training consumes)."""

from interp.analysis.activations.cache import CacheInfo, cache_activations
from interp.analysis.activations.manifest import CacheError, open_cache
from interp.analysis.activations.store import ActivationStore

__all__ = ["ActivationStore", "CacheError", "CacheInfo", "cache_activations", "open_cache"]

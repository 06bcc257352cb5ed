"""Analysis instruments on a ``HookedTransformer``: hook names, activation caching, logit and tuned lens,
direct logit attribution, head detectors, activation / attribution / path patching."""

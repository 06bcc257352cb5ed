"""Models: the GPT config and presets, the training model, norms, TransformerLens and Hugging Face conversion,
loading a run as a ``HookedTransformer``, and the hand-set planted circuit."""

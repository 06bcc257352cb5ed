"""The built-in procedural story corpus: seeded, deterministic, with the probe tasks inside.

>>> from interp.data.corpus import generate_text
>>> stories = generate_text(10_000, seed=0)
"""

from interp.data.corpus.stories import generate_text, iter_stories

__all__ = ["generate_text", "iter_stories"]

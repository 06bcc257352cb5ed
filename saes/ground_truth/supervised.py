"""Supervised dictionaries (Makelov, Lange & Nanda 2024): one vector per attribute value, learnt from labels.

For attributes (io, s, io_pos, ...) of the prompts, ``u[attr][v] = E[a | attr = v] - E[a]`` and an activation is
approximated by ``E[a] + sum_attr u[attr][attr(x)]``. With independent, balanced attributes (as the IOI prompts
are built) each mean difference is an unbiased estimate of that value's planted vector. The dictionary is the
known answer that SAEs are scored against on the three axes (``ioi.py``, ``control.py``, ``interpretability.py``).

>>> sd = SupervisedDictionary.fit(acts, {"io": io_names, "s": s_names, "io_pos": orders})
>>> recon = sd.reconstruct({"io": io_names, "s": s_names, "io_pos": orders})       # [n, d]
>>> edited = sd.edit(acts, "io", old=io_names, new=other_names)                     # a - u_old + u_new
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.errors import InputError

MIN_COUNT = 8  # examples per attribute value below which a mean is too noisy to be the ground truth


def check_labels(labels: Mapping[str, Sequence[str]], n: int, min_count: int = MIN_COUNT) -> None:
    """Refuse labels that cannot define a dictionary: wrong length, an attribute the prompts do not vary, or a value
    with fewer than ``min_count`` examples (its mean would be noise)."""
    if not labels:
        raise InputError("No attributes given: pass labels as {attribute: [value per example]}.")
    for attr, values in labels.items():
        if len(values) != n:
            raise InputError(f"Attribute {attr!r} has {len(values)} labels for {n} activations: give one per row.")
        counts = Counter(values)
        if len(counts) < 2:
            raise InputError(f"Attribute {attr!r} takes one value ({next(iter(counts))!r}) in these prompts: the "
                             "prompts do not vary it, so it has no direction. Vary it in the prompts or drop it.")
        few = {v: c for v, c in counts.items() if c < min_count}
        if few:
            shown = ", ".join(f"{v!r}: {c}" for v, c in sorted(few.items())[:5])
            raise InputError(f"Attribute {attr!r} has values with fewer than {min_count} examples ({shown}): a "
                             f"stable mean needs at least {min_count} per value, so about "
                             f"{min_count * len(counts)} examples for its {len(counts)} values. Generate more "
                             "prompts or use fewer values.")


@dataclass
class SupervisedDictionary:
    """The mean activation and one vector per (attribute, value)."""

    mean: Float[Tensor, " d"]
    vectors: dict[str, dict[str, Tensor]]  # attribute -> value -> [d]

    @classmethod
    def fit(cls, acts: Float[Tensor, "n d"], labels: Mapping[str, Sequence[str]],
            min_count: int = MIN_COUNT) -> SupervisedDictionary:
        """``u[attr][v] = mean(acts | attr = v) - mean(acts)`` for every attribute and value."""
        check_labels(labels, len(acts), min_count)
        acts = acts.float()
        mean = acts.mean(0)
        vectors = {}
        for attr, values in labels.items():
            vectors[attr] = {}
            for v in sorted(set(values)):
                rows = torch.tensor([x == v for x in values])
                vectors[attr][v] = acts[rows].mean(0) - mean
        return cls(mean, vectors)

    @property
    def attributes(self) -> list[str]:
        return list(self.vectors)

    def stack(self, attr: str, values: Sequence[str]) -> Float[Tensor, "n d"]:
        """The vectors of ``values`` of ``attr``, one row per example (a clear error for an unknown value)."""
        known = self.vectors[attr]
        missing = sorted(set(values) - set(known))
        if missing:
            raise InputError(f"Attribute {attr!r} has no vector for {missing[:5]}: the dictionary was fitted on "
                             f"{sorted(known)[:10]}... Fit it on prompts that include these values.")
        return torch.stack([known[v] for v in values])

    def reconstruct(self, labels: Mapping[str, Sequence[str]]) -> Float[Tensor, "n d"]:
        """``E[a] + sum over attributes of u[attr][label]``, one row per example."""
        n = len(next(iter(labels.values())))
        out = self.mean.expand(n, -1).clone()
        for attr, values in labels.items():
            out += self.stack(attr, values)
        return out

    def edit(self, acts: Float[Tensor, "n d"], attr: str, old: Sequence[str],
             new: Sequence[str]) -> Float[Tensor, "n d"]:
        """Move each activation from value ``old`` to value ``new`` of ``attr``: ``a - u_old + u_new``."""
        return acts.float() - self.stack(attr, old) + self.stack(attr, new)

    def matrix(self) -> tuple[list[tuple[str, str]], Float[Tensor, "n_vectors d"]]:
        """Every (attribute, value) and its vector, stacked (to compare with an SAE's decoder)."""
        names = [(a, v) for a, vs in self.vectors.items() for v in vs]
        return names, torch.stack([self.vectors[a][v] for a, v in names])

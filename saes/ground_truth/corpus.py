"""The corpus metrics: an SAE's latents against every token's known attributes (``interp.data.corpus.labels``).

Stories come from the corpus generator with a seed other than the training corpus's (unseen samples of the same
distribution). For each token (BOS left out): the activation at the SAE's input hook, the SAE's latents and the
labels. Metrics:
- ``f1``: per attribute, the mean over values of the best latent's F1, and how many values are split;
- ``probing``: k-sparse probing on latents against a dense probe on the activations (``probing.py``);
- ``absorption``: first-letter absorption on word-start tokens (``absorption.py``).

>>> data = corpus_activations(model, "blocks.1.hook_resid_pre", n_stories=400)
>>> scores, tables = corpus_metrics(data, sae)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.data.corpus.labels import labelled_stories, token_labels
from interp.models.tl import HookedTransformer
from interp.tasks.scoring import pad_right
from saes.base import SAE
from saes.ground_truth.absorption import first_letter_absorption
from saes.ground_truth.interpretability import latent_f1
from saes.ground_truth.probing import sparse_probing
from saes.hooked import _flat

# Attributes scored for F1 and probing ("word" has hundreds of values and "first_letter" has its own test).
F1_ATTRIBUTES = ("category", "character", "gender", "sentence_kind", "topic", "first_letter")
PROBE_ATTRIBUTES = ("category", "character", "sentence_kind", "topic")


@dataclass
class CorpusActivations:
    """Activations at one hook on held-out stories, flattened over tokens, with each token's attributes."""

    hook: str
    acts: Float[Tensor, "n d"]
    labels: dict[str, list[str]]


@torch.no_grad()
def corpus_activations(model: HookedTransformer, hook: str, n_stories: int = 400, seed: int = 1234,
                       batch_size: int = 32) -> CorpusActivations:
    """Run ``n_stories`` held-out stories (each cut at the model's context) and keep every non-BOS token."""
    ids, labels = token_labels(model.tokenizer, labelled_stories(n_stories, seed), model.cfg.n_ctx)
    acts, flat = [], {a: [] for a in labels}
    for i in range(0, len(ids), batch_size):
        chunk = ids[i : i + batch_size]
        toks = pad_right(model, chunk)[0].to(model.cfg.device)
        _, cache = model.run_with_cache(toks, names_filter=lambda n: n == hook)
        act = _flat(cache[hook]).float().cpu()
        for j, x in enumerate(chunk):
            acts.append(act[j, 1 : len(x)])
            for a in labels:
                flat[a].extend(labels[a][i + j][1:])
    return CorpusActivations(hook, torch.cat(acts), flat)


@torch.no_grad()
def encode(sae: SAE, acts: Tensor, batch_size: int = 4096) -> Tensor:
    return torch.cat([sae.encode(acts[i : i + batch_size].to(sae.W_enc.device)).float().cpu()
                      for i in range(0, len(acts), batch_size)])


def corpus_metrics(data: CorpusActivations, sae: SAE, min_count: int = 40, ks: tuple[int, ...] = (1, 2, 5),
                   absorption: bool = True, f1_min_count: int = 20) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Summary numbers (``f1_<attr>``, ``probe_dense``, ``probe_k<k>``, ``absorption_*``) and the tables behind
    them (``f1``: one row per attribute value, ``probing``: per task, ``absorption``: per letter).
    ``min_count``: examples a value needs for probing and absorption (a train and a test split of each class);
    ``f1_min_count`` for F1. ``absorption``: False skips it (a transcoder's decoder writes to another space than the probe reads)."""
    feats = encode(sae, data.acts)
    active = feats > 0
    scores: dict[str, float] = {}
    f1_rows = []
    for attr in F1_ATTRIBUTES:
        table = latent_f1(active, data.labels[attr], min_count=f1_min_count).assign(attribute=attr)
        f1_rows.append(table)
        scores[f"f1_{attr}"] = float(table.f1.mean()) if len(table) else float("nan")
        scores[f"split_share_{attr}"] = float((table.n_split >= 2).mean()) if len(table) else float("nan")
    probing = sparse_probing(data.acts, feats, {a: data.labels[a] for a in PROBE_ATTRIBUTES}, ks=ks,
                             min_count=min_count)
    for col in ["dense"] + [f"k{k}" for k in ks]:
        scores[f"probe_{col}"] = float(probing[col].mean()) if len(probing) else float("nan")
    tables = {"f1": pd.concat(f1_rows, ignore_index=True), "probing": probing}
    if absorption:
        starts = [i for i, x in enumerate(data.labels["first_letter"]) if x]
        letters = [data.labels["first_letter"][i] for i in starts]
        tables["absorption"], summary = first_letter_absorption(data.acts[starts], letters, feats[starts],
                                                                sae.W_dec, min_count=min_count)
        scores.update({k if k.startswith("absorption") else f"absorption_{k}": v for k, v in summary.items()})
    return scores, tables

"""Feature absorption on the first-letter task (Chanin et al. 2024, as SAEBench measures it).

A model knows each word's first letter (a linear probe reads it). An SAE has "main" latents for a letter (found by
k-sparse probing, adding latents while F1 rises by more than ``tau``). Absorption: on a token where the probe
sees the letter but no main latent fires, another latent takes the letter's share of the activation (its decoder
row points along the probe, cosine >= ``cos_threshold``, and it carries >= ``share_threshold`` of the
reconstruction's projection onto the probe). ``absorption_rate`` is the share of the probe's true positives
absorbed so; ``absorption_fraction`` the share of the probe projection carried by non-main latents aligned with
the probe where the main latents are silent (0 where they fire), averaged over the true positives (SAEBench's
"absorption fraction"); ``false_negative_rate`` the share of true positives with every main latent silent.

>>> per_letter, summary = first_letter_absorption(acts, letters, feats, sae.W_dec)
>>> summary["absorption_rate"], summary["absorption_fraction"]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from saes.ground_truth.probing import LogisticProbe, balanced_split, fit_logistic


def _f1(pred: Tensor, y: Tensor) -> float:
    tp = float((pred & y).sum())
    return 2 * tp / max(float(pred.sum() + y.sum()), 1.0)


def main_latents(feats: Float[Tensor, "n latents"], y: Tensor, train: list[int], test: list[int],
                 max_k: int = 5, tau: float = 0.03) -> list[int]:
    """The letter's main latents: top latents by mean-activation gap, k grown from 1 while the k-sparse probe's
    test F1 rises by more than ``tau`` (SAEBench's feature-splitting rule)."""
    ftr = feats[train].float()
    gap = ftr[y[train]].mean(0) - ftr[~y[train]].mean(0)
    order = gap.topk(min(max_k, gap.numel())).indices.tolist()
    best, best_f1 = order[:1], -1.0
    for k in range(1, len(order) + 1):
        top = order[:k]
        probe = fit_logistic(ftr[:, top], y[train])
        f1 = _f1(probe.logits(feats[test][:, top]) > 0, y[test])
        if f1 <= best_f1 + tau:
            break
        best, best_f1 = top, f1
    return best


def first_letter_absorption(acts: Float[Tensor, "n d"], letters: Sequence[str], feats: Float[Tensor, "n latents"],
                            w_dec: Float[Tensor, "latents d"], probes: Mapping[str, LogisticProbe] | None = None,
                            mains: Mapping[str, list[int]] | None = None, min_count: int = 40,
                            max_per_class: int = 400, cos_threshold: float = 0.025, share_threshold: float = 0.4,
                            seed: int = 0) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per letter (rows of word-start tokens, ``letters[i]`` their first letter; at least ``min_count`` each) the
    absorption rate and fraction, and a summary averaged over letters. ``probes`` / ``mains``: given probes and
    main latents per letter (default: fitted here on a balanced split)."""
    counts = Counter(x for x in letters if x)
    chosen = sorted(v for v, c in counts.items() if c >= min_count)
    w_dec = w_dec.detach().float()
    dec_unit = w_dec / w_dec.norm(dim=1, keepdim=True).clamp(min=1e-12)
    rows = []
    for letter in chosen:
        train, test = balanced_split(letters, letter, max_per_class, seed)
        y = torch.tensor([x == letter for x in letters])
        probe = probes[letter] if probes else fit_logistic(acts[train], y[train])
        main = list(mains[letter]) if mains else main_latents(feats, y, train, test)
        direction = probe.direction()
        cos = dec_unit @ direction  # [latents]
        # Evaluate on every token of the letter that the probe recognises (SAEBench: the probe's true positives).
        rows_l = torch.nonzero(y & (probe.logits(acts) > 0)).flatten()
        f = feats[rows_l].float()
        contrib = f * (w_dec @ direction)[None, :]  # each latent's share of the projection onto the probe
        positive = contrib.clamp(min=0)
        total = positive.sum(1).clamp(min=1e-12)
        silent = (f[:, main] <= 0).all(1)
        top = contrib.argmax(1)
        not_main = torch.ones(w_dec.shape[0], dtype=torch.bool)
        not_main[main] = False
        carries = contrib.max(1).values / total >= share_threshold
        absorbed = silent & not_main[top] & (cos[top] >= cos_threshold) & carries
        aligned = not_main & (cos >= cos_threshold)
        fraction = (positive[:, aligned].sum(1) / total)[silent]
        n = max(len(rows_l), 1)
        rows.append(dict(letter=letter, n=int(len(rows_l)), main_latents=main,
                         false_negative_rate=float(silent.sum()) / n, absorption_rate=float(absorbed.sum()) / n,
                         absorption_fraction=float(fraction.sum()) / n,
                         absorbing_latents=sorted(set(top[absorbed].tolist()))))
    frame = pd.DataFrame(rows)
    summary = {k: float(frame[k].mean()) if len(frame) else float("nan")
               for k in ("absorption_rate", "absorption_fraction", "false_negative_rate")}
    return frame, summary

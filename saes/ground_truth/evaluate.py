"""The full ground-truth evaluation of one SAE (``interp eval-sae --ground-truth``) and the table across SAEs.

One call runs the IOI axes (supervised dictionary and SAE at the SAE's hook: approximation, sparse control,
F1) and the corpus metrics (F1 per attribute, k-sparse probing, first-letter absorption). Transcoders get the
corpus F1 and probing of their latents; the IOI axes and absorption need a decoder in the input's space.

>>> result = evaluate_ground_truth(model, sae)              # GroundTruth: scores (flat dict) + tables
>>> ground_truth_frame({"topk": result, "relu": other})      # one row per SAE, one column per score
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from interp.models.tl import HookedTransformer
from saes.base import SAE
from saes.ground_truth.corpus import corpus_activations, corpus_metrics, encode
from saes.ground_truth.interpretability import latent_f1
from saes.ground_truth.ioi import (
    ATTRIBUTES,
    IOINotSolvedError,
    end_activations,
    evaluate_ioi,
    ioi_attribute_prompts,
)
from saes.hooked import check_sae_fits

SCORE_HELP = {
    "ioi_sufficiency": "IOI logit difference with the activation replaced by the SAE's reconstruction, over the "
                       "clean one (Makelov et al.'s Fig. 2)",
    "ioi_recovered": "the same relative to mean ablation: (LD_recon - LD_mean) / (LD_clean - LD_mean)",
    "ioi_necessity": "1 - |LD_mean - LD(E[a] + a - recon)| / |LD_mean - LD_clean|: how much removing the "
                     "reconstruction acts like mean ablation",
    "ioi_edit_accuracy_swap": "share of prompts whose top token after the top-F1 swap matches the counterfactual "
                              "patch (mean over the attributes the counterfactual changes at this hook; "
                              "per attribute in ..._io, ..._s, ..._io_pos)",
    "ioi_edit_accuracy_greedy": "the same with the greedy edit (2 x edit_k latents moved towards the counterfactual)",
    "ioi_edit_accuracy_no_edit": "the same without any edit (the floor)",
    "ioi_control_swap": "continuous control: 1 - |logits_edit - logits_cf| / |logits_clean - logits_cf|",
    "ioi_control_greedy": "the same for the greedy edit",
    "ioi_f1": "mean best-latent F1 of the IOI attribute values (io, s, io_pos)",
    "ioi_latents_f1_08": "latents whose best IOI attribute value has F1 >= 0.8 (mean over attributes)",
    "supervised_sufficiency": "sufficiency of the supervised dictionary (the reference)",
    "supervised_necessity": "necessity of the supervised dictionary",
    "supervised_edit_accuracy": "edit accuracy of the supervised edit a - u_old + u_new",
    "probe_dense": "dense linear probe accuracy on the activations (the ceiling for sparse probes)",
    "absorption_rate": "first-letter absorption: share of probe-recognised tokens whose main latents are silent "
                       "while another latent carries the letter (lower is better)",
}


@dataclass
class GroundTruth:
    """Flat scores (JSON-ready) and the tables behind them."""

    scores: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was skipped and why

    def to_json(self) -> dict[str, Any]:
        return {"scores": self.scores, "notes": self.notes,
                "tables": {k: v.to_dict(orient="records") for k, v in self.tables.items()}}


# Bumped whenever a measure's definition changes: saved results of another version are recomputed, not reused.
VERSION = 2
INFORMATIVE = 0.9  # an attribute's edit is scored where, without an edit, fewer prompts already agree


def _ioi_scores(frame: pd.DataFrame) -> dict[str, float]:
    """Flat IOI scores: approximation as measured; control and F1 per attribute (``..._<attr>``) and their mean
    over the attributes the counterfactual changes at this hook (unedited agreement < ``INFORMATIVE``: where the
    answer does not depend on the attribute here, every edit agrees and says nothing)."""
    out: dict[str, float] = {}
    floor = frame[(frame.dictionary == "none") & (frame.metric == "edit_accuracy")].set_index("attribute").value
    informative = [a for a, v in floor.items() if v < INFORMATIVE]
    for (dictionary, metric), group in frame.groupby(["dictionary", "metric"]):
        key = {"sae": f"ioi_{metric}", "none": f"ioi_{metric}_no_edit"}.get(dictionary, f"{dictionary}_{metric}")
        by_attr = group.set_index("attribute").value
        if (by_attr.index == "").all():
            out[key] = float(by_attr.iloc[0])
            continue
        for a, v in by_attr.items():
            out[f"{key}_{a}"] = float(v)
        chosen = by_attr[[a for a in by_attr.index if a in informative]] if metric != "f1" and \
            not metric.startswith("latents") else by_attr
        out[key] = float(chosen.mean()) if len(chosen) else float("nan")
    return out


def evaluate_ground_truth(model: HookedTransformer, sae: SAE, n_stories: int = 400, n_ioi: int = 512,
                          ioi_names: int = 8, edit_k: int = 2, seed: int = 1234,
                          allow_other_model: bool = False, progress: bool = False) -> GroundTruth:
    """Every ground-truth metric of ``sae`` on ``model`` (IOI at the SAE's hook, corpus on ``n_stories`` held-out
    stories). Seconds taken are in ``scores['seconds']``. The IOI axes are skipped, with a note, when the model
    does not do IOI at this hook (a tiny test model); an SAE of another model or hook is refused
    (``check_sae_fits``; ``allow_other_model`` as in ``interp eval-sae``)."""
    start = time.perf_counter()
    check_sae_fits(model, sae, allow_other_model=allow_other_model)
    scores: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    hook = sae.cfg.hook_name
    ioi = ioi_attribute_prompts(model, n=n_ioi, n_names=ioi_names, seed=seed)
    if progress:
        print(f"ground truth: IOI axes at {hook} ({n_ioi} prompts)")
    if not sae.cfg.is_transcoder:
        try:
            frame = evaluate_ioi(model, ioi, hook, sae=sae, edit_k=edit_k)
            tables["ioi"] = frame
            scores.update(_ioi_scores(frame))
        except IOINotSolvedError as e:
            notes.append(f"IOI axes skipped: {e}")
    else:
        acts = end_activations(model, ioi.tokens, ioi.last, hook)
        active = encode(sae, acts) > 0
        f1 = pd.concat([latent_f1(active, ioi.labels[a]).assign(attribute=a) for a in ATTRIBUTES])
        scores["ioi_f1"] = float(f1.groupby("attribute").f1.mean().mean())
    if progress:
        print(f"ground truth: corpus metrics on {n_stories} held-out stories")
    data = corpus_activations(model, hook, n_stories=n_stories, seed=seed)
    corpus_scores, corpus_tables = corpus_metrics(data, sae, absorption=not sae.cfg.is_transcoder)
    scores.update(corpus_scores)
    tables.update(corpus_tables)
    scores["seconds"] = time.perf_counter() - start
    return GroundTruth(scores, tables, notes)


def ground_truth_frame(results: Mapping[str, GroundTruth | Mapping[str, Any]],
                       extra: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per SAE (index: its name), one column per score; ``extra`` adds columns per SAE (architecture,
    width, L0 from ``eval.json``). Accepts ``GroundTruth`` objects or their saved JSON."""
    rows = {}
    for name, r in results.items():
        scores = r.scores if isinstance(r, GroundTruth) else r["scores"]
        rows[name] = {**(extra or {}).get(name, {}), **scores}
    return pd.DataFrame.from_dict(rows, orient="index")

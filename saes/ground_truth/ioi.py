"""IOI with known attributes, and Makelov et al.'s three axes on the model's logits.

Prompts use the held-out IOI templates (``interp.tasks.ioi``) with ``n_names`` single-token names, so every
attribute value has many examples: ``io`` (the indirect object), ``s`` (the subject) and ``io_pos`` (ABBA: the
indirect object named first, or BABA), balanced and independent. Each prompt has a counterfactual per attribute
(that attribute changed, all else equal, same length), the target of sparse control. Activations are read and
patched at the last position (END), where the answer is produced.

Axes (``evaluate_ioi``), for the supervised dictionary and for an SAE at the same hook, with the paper's
definitions (dictionaries and F1 rankings fitted on the first half of the prompts, scored on the second):
- approximation: ``sufficiency`` = LD(a := recon) / LD clean (the paper's Fig. 2); ``recovered`` =
  (LD(a := recon) - LD mean-ablated) / (LD clean - LD mean-ablated) (its SAE-selection measure, A.11);
  ``necessity`` = 1 - |LD mean-ablated - LD(a := E[a] + a - recon)| / |LD mean-ablated - LD clean|;
- control, per attribute: ``edit_accuracy`` = share of prompts whose top token after the edit is the top token
  with the counterfactual's own activation patched in (the paper's measure; ``edit_accuracy_none``: the same
  without an edit, its floor), and ``control`` = 1 - |logits_edit - logits_cf| / |logits_clean - logits_cf| on
  the candidate names' centred logits (a continuous version; NaN where the counterfactual activation barely
  moves them: an attribute the hook does not carry to the answer);
- interpretability: each attribute value's best-latent F1 (averaged over values) and the paper's count of
  latents whose best value has F1 >= 0.8.

>>> data = ioi_attribute_prompts(model, n=512)
>>> frame = evaluate_ioi(model, data, hook="blocks.1.hook_resid_pre", sae=sae)   # one row per (dictionary, axis)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.data.corpus import lexicon as lx
from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.tasks.ioi import EVAL_TEMPLATES
from interp.tasks.pairs import single_token_words
from interp.tasks.scoring import encode, pad_right
from saes.base import SAE
from saes.ground_truth.control import greedy_edit, swap_edit
from saes.ground_truth.corpus import encode as sae_encode
from saes.ground_truth.interpretability import f1_ranking, interpretable_latents, latent_f1
from saes.ground_truth.supervised import SupervisedDictionary
from saes.hooked import _flat

ATTRIBUTES = ("io", "s", "io_pos")
MIN_LOGIT_DIFF = 0.2  # nats: below it the model does not do the task, and the axes' ratios are noise


class IOINotSolvedError(InputError):
    """The model does not perform IOI (or the hook does not carry it), so the IOI axes are undefined."""


@dataclass
class IOIAttributes:
    """Token ids of the prompts and their counterfactuals (right-padded), END positions, labels, answers."""

    tokens: Int[Tensor, "n pos"]
    last: Int[Tensor, " n"]
    labels: dict[str, list[str]]  # attribute -> value per prompt
    cf_tokens: dict[str, Tensor]  # attribute -> the prompts with that attribute changed
    cf_labels: dict[str, list[str]]  # attribute -> the changed value per prompt (same keys as labels)
    io_ids: Int[Tensor, " n"]
    s_ids: Int[Tensor, " n"]


def ioi_attribute_prompts(model: HookedTransformer, n: int = 512, n_names: int = 8, seed: int = 0) -> IOIAttributes:
    """``n`` held-out-template IOI prompts over ``n_names`` names, each with one counterfactual per attribute."""
    names = single_token_words(model, lx.NAMES)
    if len(names) < max(n_names, 3):
        raise InputError(f"IOI attributes need {max(n_names, 3)} names that are single tokens for this model's "
                         f"tokenizer; it has {len(names)}. Use fewer names (n_names).")
    rng = random.Random(seed)
    names = rng.sample(names, n_names)
    texts, cfs = [], {a: [] for a in ATTRIBUTES}
    labels = {a: [] for a in ATTRIBUTES}
    cf_labels = {a: [] for a in ATTRIBUTES}
    io_ids, s_ids = [], []
    # Every (io, s, order) combination in turn, in a shuffled order: the attributes are balanced and independent in
    # any run of consecutive prompts (so in both halves evaluate_ioi splits them into).
    combos = [(io, s, abba) for io in names for s in names if io != s for abba in (True, False)]
    rng.shuffle(combos)
    for i in range(n):
        io, s, abba = combos[i % len(combos)]
        intro, action = rng.choice(EVAL_TEMPLATES)
        obj = rng.choice(lx.OBJECTS)
        common = dict(place=rng.choice(lx.PLACES), obj=obj, a_obj=lx.with_article(obj), day=rng.choice(lx.DAYS))

        def render(io: str, s: str, abba: bool, intro=intro, action=action, common=common) -> str:
            a, b = (io, s) if abba else (s, io)
            f = dict(A=a, B=b, S=s, **common)
            return f"{intro.format(**f)} {action.format(**f)}"

        texts.append(render(io, s, abba))
        others = [x for x in names if x not in (io, s)]
        new_io, new_s = rng.choice(others), rng.choice(others)
        for attr, text, value in (("io", render(new_io, s, abba), new_io), ("s", render(io, new_s, abba), new_s),
                                  ("io_pos", render(io, s, not abba), "BABA" if abba else "ABBA")):
            cfs[attr].append(text)
            cf_labels[attr].append(value)
        labels["io"].append(io)
        labels["s"].append(s)
        labels["io_pos"].append("ABBA" if abba else "BABA")
        io_ids.append(model.to_single_token(" " + io))
        s_ids.append(model.to_single_token(" " + s))
    tokens, last = pad_right(model, [encode(model, t) for t in texts])
    cf_tokens = {a: pad_right(model, [encode(model, x) for x in t])[0] for a, t in cfs.items()}
    return IOIAttributes(tokens, last, labels, cf_tokens, cf_labels, torch.tensor(io_ids), torch.tensor(s_ids))


def planted_ioi_attributes(model: HookedTransformer, n: int = 320, seed: int = 0) -> IOIAttributes:
    """IOI prompts for the planted circuit (``interp.models.planted_ioi``; n_ctx 8) with known io and s (every
    ordered name pair equally often) and one counterfactual per attribute: BOS f A f B f S END with (A, B) = (IO, S)
    or (S, IO), f a filler. The known answer of the IOI axes (``tests/test_sae_ground_truth.py``)."""
    n_names = int((model.unembed.W_U.detach().abs().sum(0) > 0).sum())
    end, filler = model.cfg.d_vocab - 1, n_names + 1
    pairs = [(a, b) for a in range(1, n_names + 1) for b in range(1, n_names + 1) if a != b]
    rng = random.Random(seed)

    def prompt(io: int, s: int, abba: bool) -> list[int]:
        a, b = (io, s) if abba else (s, io)
        return [0, filler, a, filler, b, filler, s, end]

    rows, cf = [], {"io": [], "s": []}
    labels, cf_labels = {"io": [], "s": []}, {"io": [], "s": []}
    for i in range(n):
        io, s = pairs[i % len(pairs)]
        abba = i % 2 == 0
        rows.append(prompt(io, s, abba))
        other = rng.choice([x for x in range(1, n_names + 1) if x not in (io, s)])
        cf["io"].append(prompt(other, s, abba))
        cf["s"].append(prompt(io, other, abba))
        labels["io"].append(str(io))
        labels["s"].append(str(s))
        cf_labels["io"].append(str(other))
        cf_labels["s"].append(str(other))
    tokens = torch.tensor(rows)
    return IOIAttributes(tokens, torch.full((n,), tokens.shape[1] - 1), labels,
                         {a: torch.tensor(t) for a, t in cf.items()}, cf_labels,
                         torch.tensor([int(x) for x in labels["io"]]), torch.tensor([int(x) for x in labels["s"]]))


@torch.no_grad()
def end_activations(model: HookedTransformer, tokens: Tensor, last: Tensor, hook: str,
                    batch_size: int = 128) -> Float[Tensor, "n d"]:
    """The activation at ``hook`` at each prompt's END position (heads flattened for ``hook_z``)."""
    out = []
    for i in range(0, len(tokens), batch_size):
        t = tokens[i : i + batch_size].to(model.cfg.device)
        _, cache = model.run_with_cache(t, names_filter=lambda n: n == hook)
        act = _flat(cache[hook])
        out.append(act[torch.arange(len(t)), last[i : i + batch_size]].float().cpu())
    return torch.cat(out)


@torch.no_grad()
def end_logits(model: HookedTransformer, tokens: Tensor, last: Tensor, hook: str | None = None,
               new: Tensor | None = None, batch_size: int = 128) -> Float[Tensor, "n vocab"]:
    """Logits at END, with the activation at ``hook`` and END replaced by ``new`` (when given)."""
    out = []
    for i in range(0, len(tokens), batch_size):
        t, pos = tokens[i : i + batch_size].to(model.cfg.device), last[i : i + batch_size]
        rows = torch.arange(len(t))
        hooks = []
        if new is not None:
            chunk = new[i : i + batch_size]

            def patch(act: Tensor, hook, chunk=chunk, pos=pos, rows=rows) -> Tensor:
                act = act.clone()
                act[rows, pos] = chunk.to(act.dtype).to(act.device).reshape(act[rows, pos].shape)
                return act

            hooks = [(hook, patch)]
        with model.hooks(fwd_hooks=hooks):
            logits = model(t)
        out.append(logits[rows, pos].float().cpu())
    return torch.cat(out)


def _ld(logits: Tensor, data: IOIAttributes) -> float:
    rows = torch.arange(len(logits))
    return float((logits[rows, data.io_ids] - logits[rows, data.s_ids]).mean())


UNMOVED = 0.05  # the counterfactual moves the names' logits by less than this share: nothing to control


def _toward(edit: Tensor, clean: Tensor, target: Tensor, names: Tensor) -> float:
    """``1 - mean|edit - target| / mean|clean - target|`` on the candidate names' logits, centred per row (the
    answer's distribution over the task's names; the rest of the vocabulary would drown it). NaN when the
    counterfactual activation moves them by less than ``UNMOVED`` of their size (nothing to control here)."""
    def c(x: Tensor) -> Tensor:
        x = x[:, names]
        return x - x.mean(-1, keepdim=True)
    far = (c(clean) - c(target)).norm(dim=-1).mean()
    if far <= UNMOVED * c(clean).norm(dim=-1).mean():
        return float("nan")
    return float(1 - (c(edit) - c(target)).norm(dim=-1).mean() / far)


def evaluate_ioi(model: HookedTransformer, data: IOIAttributes, hook: str, sae: SAE | None = None, edit_k: int = 2,
                 min_count: int = 8) -> pd.DataFrame:
    """The three axes for the supervised dictionary (and ``sae``, at its own hook) on ``data``: one row per
    (dictionary, metric, attribute). ``edit_k``: latents removed and added per SAE swap; the greedy edit may move
    ``2 * edit_k`` (the paper's k = 4), against the supervised edit's one vector out and one in."""
    half = len(data.tokens) // 2
    fit, test = _subset(data, slice(0, half)), _subset(data, slice(half, None))
    fit_acts = end_activations(model, fit.tokens, fit.last, hook)
    acts = end_activations(model, test.tokens, test.last, hook)
    run = _Runner(model, test, hook, acts, mean=fit_acts.mean(0))
    if run.ld_clean < MIN_LOGIT_DIFF or run.ld_clean - run.ld_mean < MIN_LOGIT_DIFF / 2:
        raise IOINotSolvedError(
            f"The IOI axes need a model that does IOI and a hook that carries it: the logit difference is "
            f"{run.ld_clean:.3f} clean and {run.ld_mean:.3f} with {hook} mean-ablated at the last position (need >= "
            f"{MIN_LOGIT_DIFF} and a drop >= {MIN_LOGIT_DIFF / 2}). Use a model that solves IOI (the quickstart's) "
            "or a hook after the layer that moves the names.")
    sd = SupervisedDictionary.fit(fit_acts, fit.labels, min_count=min_count)
    rows = [dict(dictionary="model", metric="logit_diff_clean", attribute="", value=run.ld_clean),
            dict(dictionary="model", metric="logit_diff_mean_ablated", attribute="", value=run.ld_mean)]
    rows += run.approximation("supervised", sd.reconstruct(test.labels))
    for a in test.labels:
        rows += run.control("supervised", a, sd.edit(acts, a, test.labels[a], test.cf_labels[a]))
        rows.append(dict(dictionary="none", metric="edit_accuracy", attribute=a, value=run.agreement(a, run.clean)))
    if sae is not None and not sae.cfg.is_transcoder:
        rows += _sae_axes(run, sae, fit_acts, fit, edit_k, min_count)
    return pd.DataFrame(rows)


def _subset(data: IOIAttributes, rows: slice) -> IOIAttributes:
    return IOIAttributes(data.tokens[rows], data.last[rows], {a: v[rows] for a, v in data.labels.items()},
                         {a: t[rows] for a, t in data.cf_tokens.items()},
                         {a: v[rows] for a, v in data.cf_labels.items()}, data.io_ids[rows], data.s_ids[rows])


class _Runner:
    """The model's END logits on one prompt set under each patch, and the axes' formulas."""

    def __init__(self, model: HookedTransformer, data: IOIAttributes, hook: str, acts: Tensor, mean: Tensor) -> None:
        self.model, self.data, self.hook, self.acts, self.mean = model, data, hook, acts, mean
        self.clean = end_logits(model, data.tokens, data.last)
        self.ld_clean = _ld(self.clean, data)
        self.ld_mean = _ld(self.patched(mean.expand_as(acts)), data)
        self.cf_acts = {a: end_activations(model, t, data.last, hook) for a, t in data.cf_tokens.items()}
        self.oracle = {a: self.patched(x) for a, x in self.cf_acts.items()}
        self.names = torch.unique(torch.cat([data.io_ids, data.s_ids]))

    def patched(self, new: Tensor) -> Tensor:
        return end_logits(self.model, self.data.tokens, self.data.last, self.hook, new)

    def agreement(self, attr: str, logits: Tensor) -> float:
        return float((logits.argmax(-1) == self.oracle[attr].argmax(-1)).float().mean())

    def approximation(self, name: str, recon: Tensor) -> list[dict]:
        ld_recon = _ld(self.patched(recon), self.data)
        ld_without = _ld(self.patched(self.mean + self.acts - recon), self.data)
        span = self.ld_clean - self.ld_mean
        values = {"sufficiency": ld_recon / self.ld_clean, "recovered": (ld_recon - self.ld_mean) / span,
                  "necessity": 1 - abs(self.ld_mean - ld_without) / abs(span)}
        return [dict(dictionary=name, metric=k, attribute="", value=v) for k, v in values.items()]

    def control(self, name: str, attr: str, edited: Tensor, suffix: str = "") -> list[dict]:
        logits = self.patched(edited)
        return [dict(dictionary=name, metric=f"edit_accuracy{suffix}", attribute=attr,
                     value=self.agreement(attr, logits)),
                dict(dictionary=name, metric=f"control{suffix}", attribute=attr,
                     value=_toward(logits, self.clean, self.oracle[attr], self.names))]


def _sae_axes(run: _Runner, sae: SAE, fit_acts: Tensor, fit: IOIAttributes, edit_k: int,
              min_count: int) -> list[dict]:
    data = run.data
    feats, fit_feats = sae_encode(sae, run.acts), sae_encode(sae, fit_acts)
    with torch.no_grad():
        dev = sae.W_dec.device
        recon = (sae.decode(feats.to(dev)) + sae.skip_out(run.acts.to(dev))).float().cpu()
    rows = run.approximation("sae", recon)
    w_dec = sae.W_dec.detach().float().cpu()
    for a in data.labels:
        values = sorted(set(fit.labels[a]) | set(data.labels[a]) | set(data.cf_labels[a]))
        ranking = f1_ranking(fit_feats > 0, fit.labels[a], values)
        cf_feats = sae_encode(sae, run.cf_acts[a])
        swapped = swap_edit(w_dec, run.acts, feats, cf_feats, data.labels[a], data.cf_labels[a], ranking, edit_k)
        greedy = greedy_edit(w_dec, run.acts, feats, cf_feats, 2 * edit_k, target_acts=run.cf_acts[a])
        rows += run.control("sae", a, swapped, "_swap") + run.control("sae", a, greedy, "_greedy")
        f1 = latent_f1(feats > 0, data.labels[a], min_count=min_count)
        rows += [dict(dictionary="sae", metric="f1", attribute=a, value=float(f1.f1.mean())),
                 dict(dictionary="sae", metric="latents_f1_08", attribute=a,
                      value=float(interpretable_latents(feats > 0, data.labels[a], min_count=min_count)))]
    return rows

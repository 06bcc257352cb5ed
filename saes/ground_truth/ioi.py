"""IOI with known attributes, and Makelov et al.'s three axes on the model's logits.

Prompts use the held-out IOI templates (``interp.tasks.ioi``) with ``n_names`` single-token names, so every
attribute value has many examples: ``io`` (the indirect object), ``s`` (the subject) and ``io_pos`` (ABBA: the
indirect object named first, or BABA), balanced and independent. Each prompt has a counterfactual per attribute
(that attribute changed, all else equal, same length), the target of sparse control. Activations are read and
patched at the last position (END), where the answer is produced.

Axes (``evaluate_ioi``), for the supervised dictionary and for an SAE at the same hook:
- approximation: ``sufficiency`` = (LD with the activation replaced by the reconstruction - LD mean-ablated) /
  (LD clean - LD mean-ablated): the share of the logit difference the reconstruction keeps; ``necessity`` =
  (LD clean - LD with ``a - recon + mean(recon)``) / (LD clean - LD mean-ablated): the share lost without it;
- control: per attribute, ``1 - |logits_edit - logits_cf| / |logits_clean - logits_cf|`` where ``logits_cf``
  patch in the counterfactual's own activation (the best any edit at this hook can do);
- interpretability: each latent's F1 for each attribute value (best per value, averaged).

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
from saes.base import SAE
from saes.ground_truth.control import greedy_edit, swap_edit, value_means
from saes.ground_truth.interpretability import latent_f1, top_latents
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


def _single_token_names(model: HookedTransformer) -> list[str]:
    return [n for n in lx.NAMES if len(model.tokenizer(" " + n, add_special_tokens=False)["input_ids"]) == 1]


def ioi_attribute_prompts(model: HookedTransformer, n: int = 512, n_names: int = 8, seed: int = 0) -> IOIAttributes:
    """``n`` held-out-template IOI prompts over ``n_names`` names, each with one counterfactual per attribute."""
    names = _single_token_names(model)
    if len(names) < max(n_names, 3):
        raise InputError(f"IOI attributes need {max(n_names, 3)} names that are single tokens for this model's "
                         f"tokenizer; it has {len(names)}. Use fewer names (n_names).")
    rng = random.Random(seed)
    names = rng.sample(names, n_names)
    texts, cfs = [], {a: [] for a in ATTRIBUTES}
    labels = {a: [] for a in ATTRIBUTES}
    cf_labels = {a: [] for a in ATTRIBUTES}
    io_ids, s_ids = [], []
    for i in range(n):
        io, s = rng.sample(names, 2)
        abba = i % 2 == 0
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
    tokens, last = _pad(model, texts)
    cf_tokens = {a: _pad(model, t)[0] for a, t in cfs.items()}
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


def _pad(model: HookedTransformer, texts: list[str]) -> tuple[Tensor, Tensor]:
    ids = [[model.tokenizer.bos_token_id] + model.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(x) for x in ids)
    pad = model.tokenizer.pad_token_id or 0
    return torch.tensor([x + [pad] * (width - len(x)) for x in ids]), torch.tensor([len(x) - 1 for x in ids])


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


def _toward(edit: Tensor, clean: Tensor, target: Tensor) -> float:
    """``1 - mean|edit - target| / mean|clean - target|`` on logits centred per row; NaN when the counterfactual
    activation does not move the logits (<= 1e-3 of their size: nothing to control at this hook)."""
    def c(x: Tensor) -> Tensor:
        return x - x.mean(-1, keepdim=True)
    far = (c(clean) - c(target)).norm(dim=-1).mean()
    if far <= 1e-3 * c(clean).norm(dim=-1).mean():
        return float("nan")
    return float(1 - (c(edit) - c(target)).norm(dim=-1).mean() / far)


def evaluate_ioi(model: HookedTransformer, data: IOIAttributes, hook: str, sae: SAE | None = None, edit_k: int = 2,
                 min_count: int = 8) -> pd.DataFrame:
    """The three axes for the supervised dictionary (and ``sae``, at its own hook) on ``data``: one row per
    (dictionary, metric, attribute). ``edit_k``: latents removed and added per SAE swap (the greedy edit may move
    ``2 * edit_k``), against the supervised edit's one vector out and one in."""
    acts = end_activations(model, data.tokens, data.last, hook)
    sd = SupervisedDictionary.fit(acts, data.labels, min_count=min_count)
    clean = end_logits(model, data.tokens, data.last)
    ld_clean = _ld(clean, data)
    ld_mean = _ld(end_logits(model, data.tokens, data.last, hook, sd.mean.expand_as(acts)), data)
    span = ld_clean - ld_mean
    if ld_clean < MIN_LOGIT_DIFF or span < MIN_LOGIT_DIFF / 2:
        raise IOINotSolvedError(
            f"The IOI axes need a model that does IOI and a hook that carries it: the logit difference is "
            f"{ld_clean:.3f} clean and {ld_mean:.3f} with {hook} mean-ablated at the last position (need >= "
            f"{MIN_LOGIT_DIFF} and a drop >= {MIN_LOGIT_DIFF / 2}). Use a model that solves IOI (the quickstart's) "
            "or a hook after the layer that moves the names.")
    rows = [dict(dictionary="model", metric="logit_diff_clean", attribute="", value=ld_clean),
            dict(dictionary="model", metric="logit_diff_mean_ablated", attribute="", value=ld_mean)]

    def approximation(name: str, recon: Tensor) -> None:
        suff = _ld(end_logits(model, data.tokens, data.last, hook, recon), data)
        nec = _ld(end_logits(model, data.tokens, data.last, hook, acts - recon + recon.mean(0)), data)
        rows.extend([dict(dictionary=name, metric="sufficiency", attribute="", value=(suff - ld_mean) / span),
                     dict(dictionary=name, metric="necessity", attribute="", value=(ld_clean - nec) / span)])

    approximation("supervised", sd.reconstruct(data.labels))
    oracle = {a: end_logits(model, data.tokens, data.last, hook,
                            end_activations(model, data.cf_tokens[a], data.last, hook)) for a in data.labels}
    for a in data.labels:
        edited = sd.edit(acts, a, data.labels[a], data.cf_labels[a])
        value = _toward(end_logits(model, data.tokens, data.last, hook, edited), clean, oracle[a])
        rows.append(dict(dictionary="supervised", metric="control", attribute=a, value=value))
    if sae is not None and not sae.cfg.is_transcoder:
        rows.extend(_sae_axes(model, data, hook, sae, acts, clean, oracle, approximation, edit_k, min_count))
    return pd.DataFrame(rows)


def _sae_axes(model, data, hook, sae, acts, clean, oracle, approximation, edit_k, min_count) -> list[dict]:
    with torch.no_grad():
        feats = sae.encode(acts.to(sae.W_enc.device)).float().cpu()
        recon = (sae.decode(feats.to(sae.W_dec.device)) + sae.skip_out(acts.to(sae.W_dec.device))).float().cpu()
    approximation("sae", recon)
    rows = []
    w_dec = sae.W_dec.detach().float().cpu()
    for a in data.labels:
        labels, values = data.labels[a], sorted(set(data.labels[a]) | set(data.cf_labels[a]))
        top = top_latents(feats > 0, labels, values, edit_k)
        swapped = swap_edit(w_dec, acts, feats, labels, data.cf_labels[a], top, value_means(feats, labels))
        with torch.no_grad():
            cf_feats = sae.encode(end_activations(model, data.cf_tokens[a], data.last, hook)).float().cpu()
        greedy = greedy_edit(w_dec, acts, feats, cf_feats, 2 * edit_k)
        for name, edited in (("control_swap", swapped), ("control_greedy", greedy)):
            value = _toward(end_logits(model, data.tokens, data.last, hook, edited), clean, oracle[a])
            rows.append(dict(dictionary="sae", metric=name, attribute=a, value=value))
        f1 = latent_f1(feats > 0, labels, min_count=min_count)
        rows.append(dict(dictionary="sae", metric="f1", attribute=a, value=float(f1.f1.mean())))
    return rows

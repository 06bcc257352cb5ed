"""Indirect-object identification on held-out templates and names.

"When Lily and Oscar went to the park, Oscar gave a ball to" -> " Lily" (IO) rather than " Oscar" (S).
Every prompt uses a template held out of training (a held-out intro, a held-out action, or both).

>>> score_ioi(model, n_prompts=200)["accuracy"]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.models.tl import HookedTransformer
from interp.tasks.metric_info import MetricInfo, uniform_choice
from interp.tasks.scoring import encode, first_token_id, next_token_logprobs

_PICK = uniform_choice(2)  # the two names in the sentence: the indirect object (right) and the subject (wrong)
METRICS = {
    "accuracy": MetricInfo("Share of prompts where the indirect object (the right name) gets a higher logit than the "
                           "repeated subject (the wrong name).", chance=_PICK),
    "mean_logit_diff": MetricInfo("Mean logit of the right name minus the wrong name, in nats (0: no preference).",
                                  chance=0.0),
    "accuracy_abba": MetricInfo("Accuracy on the prompts that name the indirect object first (ABBA order).",
                                chance=_PICK),
    "accuracy_baba": MetricInfo("Accuracy on the prompts that name the subject first (BABA order).", chance=_PICK),
}

# Intros that open with a name are left out: at the very start of a prompt the name has no leading space, so it
# is a different token from the same name later in the sentence (in training every IOI sentence follows another).
EVAL_TEMPLATES = tuple(
    (intro, action)
    for intro in sp.TRAIN_IOI_INTROS + sp.EVAL_IOI_INTROS
    for action in sp.TRAIN_IOI_ACTIONS + sp.EVAL_IOI_ACTIONS
    if (intro in sp.EVAL_IOI_INTROS or action in sp.EVAL_IOI_ACTIONS) and not intro.startswith("{")
)


@dataclass
class IOIPrompts:
    prompts: list[str]
    io: list[str]  # the correct answer (indirect object), with a leading space
    s: list[str]  # the repeated subject, with a leading space
    order: list[str]  # "ABBA" (IO named first) or "BABA"


def ioi_prompts(n: int = 200, seed: int = 0, templates=EVAL_TEMPLATES,
                exclude_names: tuple[str, ...] = ()) -> IOIPrompts:
    """``n`` prompts from ``templates`` ((intro, action) pairs) with two different names of the lexicon; names in
    ``exclude_names`` are never used."""
    rng = random.Random(seed)
    out = IOIPrompts([], [], [], [])
    names = [x for x in lx.NAMES if x not in exclude_names]
    for i in range(n):
        io, s = rng.sample(names, 2)
        abba = i % 2 == 0
        a, b = (io, s) if abba else (s, io)
        intro, action = rng.choice(templates)
        obj = rng.choice(lx.OBJECTS)
        fields = dict(A=a, B=b, S=s, place=rng.choice(lx.PLACES), obj=obj, a_obj=lx.with_article(obj),
                      day=rng.choice(lx.DAYS))
        out.prompts.append(f"{intro.format(**fields)} {action.format(**fields)}")
        out.io.append(" " + io)
        out.s.append(" " + s)
        out.order.append("ABBA" if abba else "BABA")
    return out


def ioi_logit_diffs(model: HookedTransformer, data: IOIPrompts) -> torch.Tensor:
    """Logit of the indirect object minus the subject at each prompt's last position: ``[n_prompts]``."""
    logp = next_token_logprobs(model, [encode(model, p) for p in data.prompts])
    io = torch.tensor([first_token_id(model, x) for x in data.io])
    s = torch.tensor([first_token_id(model, x) for x in data.s])
    rows = torch.arange(len(io))
    return logp[rows, io] - logp[rows, s]  # log-prob difference = logit difference (same normaliser)


def score_ioi(model: HookedTransformer, n_prompts: int = 200, seed: int = 0,
              templates=EVAL_TEMPLATES) -> dict[str, float]:
    """Accuracy (IO above S) and mean logit difference IO - S at the final position. ``templates``: (intro,
    action) pairs, the held-out ones by default."""
    data = ioi_prompts(n_prompts, seed, templates)
    diff = ioi_logit_diffs(model, data)
    abba = torch.tensor([o == "ABBA" for o in data.order])
    return {
        "accuracy": float((diff > 0).float().mean()),
        "mean_logit_diff": float(diff.mean()),
        "accuracy_abba": float((diff[abba] > 0).float().mean()),
        "accuracy_baba": float((diff[~abba] > 0).float().mean()),
    }

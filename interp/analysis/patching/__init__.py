"""Activation, attribution and path patching on any HookedTransformer (see each module's docstring)."""

from interp.analysis.patching.activation import PatchResult, activation_patch
from interp.analysis.patching.attribution import attribution_patch
from interp.analysis.patching.metrics import answer_prob, logit_diff, next_token_logprob, normalized
from interp.analysis.patching.path import path_patch

__all__ = ["PatchResult", "activation_patch", "answer_prob", "attribution_patch", "logit_diff", "next_token_logprob", "normalized",
           "path_patch"]

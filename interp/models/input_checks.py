"""Input checks for every ``HookedTransformer`` the workbench hands out (``interp.load``, conversions).

TransformerLens truncates a string prompt longer than the context without a word, lets negative token ids wrap
around the embedding, and reports a too-long tensor as a shape mismatch deep inside attention. A forward
pre-hook checks the input first and raises ``InputError`` naming the problem and the fix, as the training model
does.

>>> model = add_input_checks(hooked)
>>> model("word " * 1000)
InputError: The prompt is 1001 tokens long but the model's context is 128 tokens: shorten it or split it.
"""

from __future__ import annotations

from typing import Any

import torch

from interp.errors import InputError
from interp.models.tl import HookedTransformer


def check_tokens(tokens: torch.Tensor, d_vocab: int, n_ctx: int | None) -> None:
    """Token ids must be integers in [0, d_vocab) in a [pos] or [batch, pos] tensor of at most ``n_ctx``."""
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise InputError(f"Token ids must be an integer tensor, got dtype {tokens.dtype}. Convert with .long(), or "
                         "pass residual-stream inputs together with start_at_layer.")
    if tokens.dim() not in (1, 2):
        raise InputError(f"Tokens must have shape [pos] or [batch, pos], got {tuple(tokens.shape)}.")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= d_vocab):
        raise InputError(f"Token ids must lie in [0, {d_vocab}), got values from {int(tokens.min())} to "
                         f"{int(tokens.max())}: were they made by another tokenizer?")
    if n_ctx is not None and tokens.shape[-1] > n_ctx:
        raise InputError(f"The input is {tokens.shape[-1]} tokens long but the model's context is {n_ctx} tokens: "
                         "shorten it, or split it into windows of at most that length.")


def _pre_forward(model: HookedTransformer, args: tuple, kwargs: dict[str, Any]) -> None:
    inp = args[0] if args else kwargs.get("input")
    if kwargs.get("start_at_layer") is not None or inp is None:
        return  # residual-stream input: nothing to check here
    n_ctx = None if kwargs.get("past_kv_cache") is not None else model.cfg.n_ctx
    if isinstance(inp, (str, list)):
        if model.tokenizer is None:
            raise InputError("This model has no tokenizer, so it cannot read text: pass token ids, or load the run "
                             "with interp.load(run_dir), which attaches the run's tokenizer.")
        tokens = model.to_tokens(inp, prepend_bos=kwargs.get("prepend_bos"), padding_side=kwargs.get("padding_side"),
                                 move_to_device=False, truncate=False)
        if n_ctx is not None and tokens.shape[-1] > n_ctx:
            raise InputError(f"The prompt is {tokens.shape[-1]} tokens long but the model's context is {n_ctx} "
                             "tokens: shorten it, or split it into windows of at most that length.")
    elif isinstance(inp, torch.Tensor):
        check_tokens(inp, model.cfg.d_vocab, n_ctx)


def add_input_checks(model: HookedTransformer) -> HookedTransformer:
    """Check every forward call's input (also through ``run_with_cache`` / ``run_with_hooks``); returns ``model``."""
    if not getattr(model, "_interp_input_checks", False):
        model.register_forward_pre_hook(_pre_forward, with_kwargs=True)
        model._interp_input_checks = True
    return model

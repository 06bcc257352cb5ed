"""SAEs spliced into a ``HookedTransformer``: run the model with SAE reconstructions in place of activations,
record feature activations, and edit features (steering, ablation).

An SAE replaces the activation at its ``hook_name``; a transcoder reads ``hook_name`` and replaces
``hook_name_out`` (e.g. the MLP output) with its prediction. ``attn.hook_z`` activations ([..., head, d_head])
are flattened for the SAE and reshaped back.

>>> logits, feats = run_with_saes(model, tokens, [sae])                  # feats[sae.cfg.hook_name]: [b, p, d_sae]
>>> logits, _ = run_with_saes(model, tokens, [sae], edit={sae.cfg.hook_name: lambda f: f.index_fill(-1, idx, 0)})
>>> logits, cache, feats = run_with_cache_and_saes(model, tokens, [sae])  # TL cache of the spliced run
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from interp.analysis.hooks import resolve_hook_names
from interp.models.tl import HookedTransformer
from saes.base import SAE

FeatureEdit = Callable[[Tensor], Tensor]


def check_sae_fits(model: HookedTransformer, sae: SAE, allow_other_model: bool = False) -> None:
    """Refuse an SAE that does not belong to ``model``: a hook the model lacks (``HookNameError`` with close
    matches), or, unless ``allow_other_model``, a model other than the one it was trained on (its
    ``metadata.model_hash``; SAEs without one, such as SAELens downloads, are not checked).

    >>> check_sae_fits(interp.load("runs/quickstart/model"), load_sae("runs/saes/topk-blocks.1.hook_resid_pre"))
    """
    from interp.io import hash_state_dict
    from saes.errors import SAEConfigError

    names = [sae.cfg.hook_name] + ([sae.cfg.hook_name_out] if sae.cfg.is_transcoder else [])
    resolve_hook_names(model, names)
    recorded = sae.cfg.metadata.get("model_hash")
    if recorded and not allow_other_model:
        actual = hash_state_dict(model.state_dict())
        if actual != recorded:
            run = sae.cfg.metadata.get("model_run", "?")
            raise SAEConfigError(
                f"This SAE was trained on another model (model_hash {recorded[:12]}..., run {run}) than the one given "
                f"(model_hash {actual[:12]}...): its features would read the wrong activations. Pass the run it was "
                "trained on, or --allow-other-model (allow_other_model=True) to use it anyway.")


def _flat(act: Tensor) -> Tensor:
    return act.flatten(-2) if act.dim() == 4 else act  # attn.hook_z: [b, p, head, d_head] -> [b, p, head*d_head]


def splice_hooks(model: HookedTransformer, saes: Sequence[SAE], record: dict[str, Tensor] | None = None,
                 edit: dict[str, FeatureEdit] | None = None, keep_error: bool = False) -> list[tuple[str, Callable]]:
    """Forward hooks that splice ``saes`` into ``model`` (use with ``model.hooks(fwd_hooks=...)``).

    ``record`` receives each SAE's feature activations (keyed by its input hook); ``edit`` maps an input hook
    to a function applied to the features before decoding; ``keep_error`` adds back the SAE's reconstruction
    error, so only the edit changes the model (the unedited run equals the original)."""
    edit = edit or {}
    names = [s.cfg.hook_name for s in saes] + [s.cfg.hook_name_out for s in saes if s.cfg.is_transcoder]
    resolve_hook_names(model, names)  # clear error for a hook this model does not have
    hooks: list[tuple[str, Callable]] = []
    for sae in saes:
        def reconstruct(x: Tensor, original: Tensor, sae: SAE = sae) -> Tensor:
            flat = _flat(x)
            feats = sae.encode(flat)
            if record is not None:
                record[sae.cfg.hook_name] = feats
            fn = edit.get(sae.cfg.hook_name)
            out = sae.decode(fn(feats) if fn else feats) + sae.skip_out(flat)
            if keep_error:  # add back what the SAE misses, so only the edit changes the model
                out = out + (_flat(original) - sae.decode(feats) - sae.skip_out(flat))
            return out.to(x.dtype).view(original.shape)

        if not sae.cfg.is_transcoder:
            hooks.append((sae.cfg.hook_name, lambda act, hook, fn=reconstruct: fn(act, act)))
            continue
        inputs: dict[str, Tensor] = {}

        def keep_input(act: Tensor, hook, store: dict = inputs) -> None:
            store["x"] = act

        def replace_output(act: Tensor, hook, store: dict = inputs, fn=reconstruct) -> Tensor:
            return fn(store.pop("x"), act)

        hooks += [(sae.cfg.hook_name, keep_input), (sae.cfg.hook_name_out, replace_output)]
    return hooks


def run_with_saes(model: HookedTransformer, tokens: Tensor, saes: Sequence[SAE],
                  edit: dict[str, FeatureEdit] | None = None, keep_error: bool = False
                  ) -> tuple[Tensor, dict[str, Tensor]]:
    """Logits of the spliced run and every SAE's feature activations (keyed by input hook)."""
    record: dict[str, Tensor] = {}
    with model.hooks(fwd_hooks=splice_hooks(model, saes, record, edit, keep_error)):
        logits = model(tokens)
    return logits, record


def run_with_cache_and_saes(model: HookedTransformer, tokens: Tensor, saes: Sequence[SAE], **kw):
    """``model.run_with_cache`` of the spliced run (a TransformerLens ``ActivationCache``) and the features."""
    record: dict[str, Tensor] = {}
    with model.hooks(fwd_hooks=splice_hooks(model, saes, record, kw.pop("edit", None), kw.pop("keep_error", False))):
        logits, cache = model.run_with_cache(tokens, **kw)
    return logits, cache, record


@torch.no_grad()
def feature_acts(model: HookedTransformer, tokens: Tensor, sae: SAE, batch_size: int = 32) -> Tensor:
    """Feature activations ``[n_seq, pos, d_sae]`` of ``sae`` on ``tokens`` (the model itself unchanged)."""
    out = []
    for i in range(0, len(tokens), batch_size):
        _, cache = model.run_with_cache(tokens[i : i + batch_size].to(model.cfg.device),
                                        names_filter=lambda n: n == sae.cfg.hook_name)
        out.append(sae.encode(_flat(cache[sae.cfg.hook_name])).cpu())
    return torch.cat(out)

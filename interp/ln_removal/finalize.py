"""Into and out of a removal: a LayerNorm model made removable, and a finished one made LayerNorm-free.

``finalize`` gives a model whose every norm is ``fixed`` (centre, divide by the frozen scale): a linear map, which
``interp.models.convert`` folds into the next weights, so the model becomes TransformerLens' ``normalization_type=None``.

>>> removable = to_removable(gpt)          # same logits as gpt
>>> ln_free = finalize(removable)          # after every freeze: same logits as removable in eval mode
"""

from __future__ import annotations

import dataclasses

import torch

from interp.errors import ConfigError
from interp.ln_removal.schedule import removable_norms
from interp.models.gpt import GPT
from interp.models.norms import FixedNorm, FixedNormQKV, RemovableNorm


def _with_norm(gpt: GPT, kind: str) -> GPT:
    cfg = dataclasses.replace(gpt.cfg, norm=kind, norm_sites={})
    out = GPT(cfg).to(device=gpt.wte.weight.device, dtype=gpt.wte.weight.dtype)
    out.train(gpt.training)
    return out


def to_removable(gpt: GPT, momentum: float = 0.9) -> GPT:
    """A copy of ``gpt`` with every LayerNorm removable (nothing frozen yet: the same logits)."""
    kinds = gpt.cfg.all_norm_kinds()
    if kinds != {"layernorm"}:
        raise ConfigError(f"LayerNorm removal needs a model with LayerNorm at every site; this one has {sorted(kinds)}"
                          + (" (no LayerNorm left to remove)." if "layernorm" not in kinds else "."))
    out = _with_norm(gpt, "removable")
    missing, unexpected = out.load_state_dict(gpt.state_dict(), strict=False)
    assert not unexpected and all(isinstance(out.get_submodule(k.rsplit(".", 1)[0]), RemovableNorm) for k in missing)
    for m in out.modules():
        if isinstance(m, RemovableNorm):
            m.momentum = momentum
    return out


@torch.no_grad()
def finalize(gpt: GPT) -> GPT:
    """The LayerNorm-free model (norm ``fixed`` everywhere) of a removal whose every scale is frozen."""
    norms = removable_norms(gpt)
    if not norms:
        raise ConfigError("This model has no removable norms: nothing to finalize.")
    open_ = [f"{n}{'.' + p if p else ''}" for n, m in norms.items() for p in m.paths
             if not bool(getattr(m, m.buffer("frozen", p)))]
    open_ += [f"{n}.bos" for n, m in norms.items() if not bool(m.bos_removed)]
    if open_:
        raise ConfigError(f"The removal is not finished: {', '.join(open_)} still use a live scale; train until the "
                          "schedule's last step first.")
    out = _with_norm(gpt, "fixed")
    state = {k: v for k, v in gpt.state_dict().items() if k.rsplit(".", 1)[0] not in norms}
    for name, m in norms.items():
        state[f"{name}.weight"], state[f"{name}.bias"] = m.weight, m.bias
        target = out.get_submodule(name)
        if isinstance(target, FixedNormQKV):
            state[f"{name}.scale_qk"], state[f"{name}.scale_v"] = m.ema_qk, m.ema_v
        else:
            assert isinstance(target, FixedNorm)
            state[f"{name}.scale"] = m.ema
    out.load_state_dict(state, strict=True)
    return out

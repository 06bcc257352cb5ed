"""Activation caching to disk: run a model over a token dataset and write chosen hooks' activations as shards.

The forward pass stops after the last block a hook needs; activations are streamed shard by shard (memory stays
flat whatever the number of tokens); each shard is written atomically, so a killed run resumes where it stopped.

>>> info = cache_activations(model, TokenShards("runs/data/val"), "blocks.1.hook_resid_post", n_tokens=1_000_000,
...                          out_dir="runs/cache/resid1")

Layout: ``meta.json`` (model hash, hooks, widths, dtype, context) and ``shard_00000.safetensors``... each with one
``[rows, d]`` tensor per hook (rows = sequences x positions, in order) and the ``tokens`` they came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from torch import Tensor
from tqdm.auto import tqdm

from interp.analysis.hooks import hook_layer, resolve_hook_names
from interp.errors import CheckpointError, InputError
from interp.io import atomic_save_safetensors, atomic_write_json, hash_state_dict, read_json
from interp.models.tl import HookedTransformer

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class CacheInfo:
    out_dir: Path
    hooks: list[str]
    widths: dict[str, int]
    n_shards: int
    n_rows: int
    model_hash: str


def sequences(tokens, context_size: int) -> Tensor:
    """All consecutive windows of ``context_size`` tokens as [n_seq, context_size] (a TokenShards or a tensor)."""
    if isinstance(tokens, Tensor):
        if tokens.dim() != 2:
            raise InputError(f"Token tensor must be [n_seq, pos], got shape {tuple(tokens.shape)}.")
        seqs = tokens[:, :context_size]
    else:
        seqs = torch.from_numpy(np.stack(list(tokens.iter_chunks(context_size))).astype(np.int64)) \
            if tokens.n_tokens >= context_size else torch.zeros(0, context_size, dtype=torch.long)
    if seqs.numel() == 0:
        raise InputError("The token dataset is empty (or shorter than one context window): nothing to cache.")
    return seqs


def flatten(act: Tensor) -> Tensor:
    """[batch, pos, ...] -> [batch * pos, features] (heads flattened: hook_z -> n_heads * d_head)."""
    return act.reshape(act.shape[0] * act.shape[1], -1)


def _after_blocks(hooks: list[str]) -> bool:
    """Whether a hook lies after the blocks (e.g. ``ln_final.hook_normalized``): the whole model must run."""
    return any(hook_layer(h) is None and not h.startswith("hook_") for h in hooks)


def stop_layer(hooks: list[str], n_layers: int) -> int | None:
    """The block after the last one ``hooks`` need (None: run the whole model, e.g. for ln_final hooks)."""
    if _after_blocks(hooks):
        return None
    top = max((hook_layer(h) for h in hooks if hook_layer(h) is not None), default=-1)
    return top + 1 if top + 1 < n_layers else None


def run_to_hooks(model: HookedTransformer, tokens: Tensor, names: list[str]) -> dict[str, Tensor]:
    """The activations of ``names`` on ``tokens``, running only the blocks they need. When the deepest hook is
    ``blocks.L.hook_resid_pre`` the forward pass stops before block L and the returned residual stream is that
    hook's value (TransformerLens would otherwise run block L in full just to fire it: half the work of a
    two-layer model)."""
    top = max((hook_layer(h) for h in names if hook_layer(h) is not None), default=None)
    deepest = [h for h in names if hook_layer(h) == top]
    if not _after_blocks(names) and top and deepest == [f"blocks.{top}.hook_resid_pre"]:
        resid, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names, stop_at_layer=top)
        return {**{n: cache[n] for n in names if n != deepest[0]}, deepest[0]: resid}
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names,
                                    stop_at_layer=stop_layer(names, model.cfg.n_layers))
    return {n: cache[n] for n in names}


def _meta(model: HookedTransformer, hooks, widths, dtype, context_size, seqs_per_shard, n_seqs) -> dict:
    return {"format": "interp-activation-cache/1", "model_hash": hash_state_dict(model.state_dict()),
            "hooks": hooks, "widths": widths, "dtype": dtype, "context_size": context_size,
            "seqs_per_shard": seqs_per_shard, "n_seqs": n_seqs}


@torch.no_grad()
def cache_activations(
    model: HookedTransformer, tokens, hooks: str | list[str], n_tokens: int, out_dir: str | Path, *,
    dtype: str = "float32", batch_size: int = 16, context_size: int | None = None, shard_tokens: int = 2**15,
    resume: bool = True, progress: bool = True,
) -> CacheInfo:
    """Cache ``hooks`` over the first ``n_tokens`` tokens (whole context windows) into ``out_dir``."""
    if dtype not in DTYPES:
        raise InputError(f"dtype={dtype!r}: use one of {sorted(DTYPES)}.")
    names = resolve_hook_names(model, hooks)
    ctx = context_size or model.cfg.n_ctx
    seqs = sequences(tokens, ctx)
    n_seqs = min(len(seqs), max(1, n_tokens // ctx))
    seqs = seqs[:n_seqs]
    per_shard = max(batch_size, shard_tokens // ctx // batch_size * batch_size)
    out = Path(out_dir)
    probe = run_to_hooks(model, seqs[:1].to(model.cfg.device), names)
    widths = {n: flatten(probe[n]).shape[1] for n in names}
    meta = _meta(model, names, widths, dtype, ctx, per_shard, n_seqs)
    if (out / "meta.json").exists():
        old = read_json(out / "meta.json")
        if old.get("model_hash") != meta["model_hash"]:
            raise CheckpointError(f"{out} holds activations of model {old.get('model_hash')}, not of this model "
                                  f"({meta['model_hash']}); choose another --out-dir.")
        if not resume or old != meta:
            raise CheckpointError(f"{out} holds a different cache ({old.get('hooks')}, {old.get('dtype')}, "
                                  f"context {old.get('context_size')}); choose another --out-dir.")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "meta.json", meta)
    n_shards = (n_seqs + per_shard - 1) // per_shard
    bar = tqdm(total=n_seqs * ctx, desc="caching", unit="tok", unit_scale=True, disable=not progress)
    for shard in range(n_shards):
        path = out / f"shard_{shard:05d}.safetensors"
        lo, hi = shard * per_shard, min(n_seqs, (shard + 1) * per_shard)
        if path.exists():  # written atomically, so an existing shard is complete
            bar.update((hi - lo) * ctx)
            continue
        rows = (hi - lo) * ctx  # filled in place: no list of parts and no concatenation copy
        tensors = {n: torch.empty(rows, widths[n], dtype=DTYPES[dtype]) for n in names}
        for start in range(lo, hi, batch_size):
            batch = seqs[start : min(hi, start + batch_size)].to(model.cfg.device)
            cache = run_to_hooks(model, batch, names)
            r0 = (start - lo) * ctx
            for n in names:
                tensors[n][r0 : r0 + batch.numel()] = flatten(cache[n])
            del cache
            bar.update(batch.numel())
        tensors["tokens"] = seqs[lo:hi].to(torch.int64)
        atomic_save_safetensors(path, tensors)
        del tensors
    bar.close()
    return CacheInfo(out, names, widths, n_shards, n_seqs * ctx, meta["model_hash"])


def open_cache(path: str | Path, model: HookedTransformer | None = None) -> dict:
    """The cache's metadata; with ``model``, checks the cache was made by that model."""
    path = Path(path)
    if not (path / "meta.json").exists():
        raise CheckpointError(f"{path} is not an activation cache (no meta.json); write one with `interp cache`.")
    meta = read_json(path / "meta.json")
    if model is not None and meta["model_hash"] != hash_state_dict(model.state_dict()):
        raise CheckpointError(f"The cache in {path} was made by model {meta['model_hash']}, not this one.")
    return meta


def read_shard(path: Path, hooks: list[str]) -> dict[str, Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {h: f.get_tensor(h) for h in hooks}

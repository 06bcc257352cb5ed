"""Activation caching to disk: run a model over a token dataset and write chosen hooks' activations as shards.

The forward pass stops after the last block a hook needs; activations are streamed shard by shard (memory stays
flat whatever the number of tokens); each shard is written atomically, so a killed run resumes where it stopped.

>>> info = cache_activations(model, TokenShards("runs/data/val"), "blocks.1.hook_resid_post", n_tokens=1_000_000,
...                          out_dir="runs/cache/resid1")

Layout: ``meta.json`` (model hash, hooks, widths, dtype, context, shard records, complete) and ``shard_00000.safetensors``... each with one
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

from interp.analysis.activations.manifest import (
    FORMAT,
    IDENTITY,
    CacheError,
    finish_hint,
    journal_name,
    read_meta,
    shard_name,
    shard_problem,
    shard_record,
    write_meta,
)
from interp.analysis.hooks import hook_layer, resolve_hook_names
from interp.errors import InputError
from interp.io import (
    atomic_save_safetensors,
    atomic_write_json,
    hash_state_dict,
    read_json,
    remove_stale_temps,
)
from interp.models.tl import HookedTransformer
from interp.training.distributed import DistInfo, barrier

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


def _identity(model: HookedTransformer, hooks, widths, dtype, context_size, seqs_per_shard, n_seqs) -> dict:
    return {"model_hash": hash_state_dict(model.state_dict()), "hooks": hooks, "widths": widths, "dtype": dtype,
            "context_size": context_size, "seqs_per_shard": seqs_per_shard, "n_seqs": n_seqs}


def _check_args(n_tokens: int, batch_size: int, shard_tokens: int, context_size: int | None, n_ctx: int) -> None:
    for name, value in (("n_tokens", n_tokens), ("batch_size", batch_size), ("shard_tokens", shard_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name}={value!r}: must be a whole number of at least 1"
                             + (" (tokens to run through the model; at least one context window is cached)."
                                if name == "n_tokens" else "."))
    if context_size is not None and not 1 <= context_size <= n_ctx:
        raise InputError(f"context_size={context_size!r}: must be between 1 and the model's context, {n_ctx}.")


def _previous_records(out: Path, identity: dict, resume: bool) -> tuple[dict[str, dict], bool]:
    """The shard records of a cache already in ``out`` (to verify, not trust) and whether it was complete."""
    old = read_meta(out)
    if old is None:
        return {}, False
    if old.get("model_hash") != identity["model_hash"]:
        raise CacheError(f"{out} holds activations of model {old.get('model_hash')}, not of this model "
                         f"({identity['model_hash']}); choose another --out-dir.")
    if not resume or {k: old.get(k) for k in IDENTITY} != identity:
        raise CacheError(f"{out} holds a different cache ({old.get('hooks')}, {old.get('dtype')}, context "
                         f"{old.get('context_size')}, {old.get('n_seqs')} sequences); choose another --out-dir.")
    return {r["file"]: r for r in old.get("shards", [])}, bool(old.get("complete"))


@torch.no_grad()
def cache_activations(
    model: HookedTransformer, tokens, hooks: str | list[str], n_tokens: int, out_dir: str | Path, *,
    dtype: str = "float32", batch_size: int = 16, context_size: int | None = None, shard_tokens: int = 2**15,
    resume: bool = True, progress: bool = True, dist: DistInfo | None = None,
) -> CacheInfo:
    """Cache ``hooks`` over the first ``n_tokens`` tokens (whole context windows) into ``out_dir``.

    Rerun with the same arguments, it resumes: shards already there are verified (size and sha256) and kept,
    bad or unrecorded ones are rewritten, and temp files of killed runs are removed. ``meta.json`` says
    ``complete`` only once every shard is written and recorded.

    ``dist`` (several processes under torchrun): rank r writes shards r, r + world_size, ... of the same cache and
    records each in its own journal (``meta.rank{r}.json``) once written; after the last, rank 0 merges the journals
    into ``meta.json`` and marks it complete. A rerun (with any number of processes) keeps every recorded shard
    that verifies, so a killed rank's finished shards are kept and its unfinished one is written again.
    """
    dist = dist or DistInfo()
    if dtype not in DTYPES:
        raise InputError(f"dtype={dtype!r}: use one of {sorted(DTYPES)}.")
    _check_args(n_tokens, batch_size, shard_tokens, context_size, model.cfg.n_ctx)
    names = resolve_hook_names(model, hooks)
    ctx = context_size or model.cfg.n_ctx
    seqs = sequences(tokens, ctx)
    n_seqs = min(len(seqs), max(1, n_tokens // ctx))
    seqs = seqs[:n_seqs]
    per_shard = max(batch_size, shard_tokens // ctx // batch_size * batch_size)
    out = Path(out_dir)
    probe = run_to_hooks(model, seqs[:1].to(model.cfg.device), names)
    widths = {n: flatten(probe[n]).shape[1] for n in names}
    identity = _identity(model, names, widths, dtype, ctx, per_shard, n_seqs)
    records, was_complete = _previous_records(out, identity, resume)
    barrier(dist)  # every rank has read the old meta.json before rank 0 rewrites it
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)  # temp shards (17 MB each) and meta files of killed runs
    barrier(dist)
    records.update(_journal_records(out))
    n_shards = (n_seqs + per_shard - 1) // per_shard
    meta = {"format": FORMAT, **identity, "n_shards": n_shards, "n_rows": n_seqs * ctx, "complete": False,
            "shards": []}

    def save(complete: bool) -> None:
        if not dist.enabled:
            meta["complete"] = complete
            meta["shards"] = [records[shard_name(i)] for i in range(n_shards) if shard_name(i) in records]
            write_meta(out, meta)
        else:  # this rank's journal; rank 0 merges them at the end
            mine = [records[shard_name(i)] for i in range(dist.rank, n_shards, dist.world_size) if shard_name(i) in records]
            atomic_write_json(out / journal_name(dist.rank), {"shards": mine})

    if not was_complete and dist.is_main:
        if dist.enabled:
            meta["shards"] = [records[shard_name(i)] for i in range(n_shards) if shard_name(i) in records]
        write_meta(out, meta)  # incomplete until every shard is written
    bar = tqdm(total=n_seqs * ctx, desc="caching", unit="tok", unit_scale=True, disable=not (progress and dist.is_main))
    for shard in range(dist.rank, n_shards, dist.world_size):
        path = out / shard_name(shard)
        lo, hi = shard * per_shard, min(n_seqs, (shard + 1) * per_shard)
        if path.exists() and shard_problem(path, records.get(path.name)) is None:
            bar.update((hi - lo) * ctx)
            continue
        if records.pop(path.name, None) is not None or was_complete:
            was_complete = False
            save(complete=False)  # a bad shard of a finished cache: mark it incomplete until rewritten
        _write_shard(model, seqs, lo, hi, names, widths, dtype, batch_size, path, bar)
        records[path.name] = shard_record(path, (hi - lo) * ctx)
        save(complete=False)
    bar.close()
    if dist.enabled:
        save(complete=False)  # this rank's journal, final
        barrier(dist)
    if dist.is_main and not (was_complete and not dist.enabled):
        records.update(_journal_records(out))
        missing = [shard_name(i) for i in range(n_shards) if shard_name(i) not in records]
        if missing:
            raise CacheError(f"Shards {missing[:3]} of {out} were not recorded by their ranks. {finish_hint(out, meta)}")
        meta["complete"] = True
        meta["shards"] = [records[shard_name(i)] for i in range(n_shards)]
        write_meta(out, meta)
        for journal in out.glob("meta.rank*.json"):  # merged: this run's and those of killed multi-process runs
            journal.unlink()
    barrier(dist)  # no rank returns before the cache is complete
    return CacheInfo(out, names, widths, n_shards, n_seqs * ctx, identity["model_hash"])


def _journal_records(out: Path) -> dict[str, dict]:
    """The shard records in the rank journals of a multi-process run (to verify, not trust)."""
    records: dict[str, dict] = {}
    for path in sorted(out.glob("meta.rank*.json")):
        records.update({r["file"]: r for r in read_json(path).get("shards", [])})
    return records


def _write_shard(model: HookedTransformer, seqs: Tensor, lo: int, hi: int, names: list[str], widths: dict[str, int],
                 dtype: str, batch_size: int, path: Path, bar: tqdm) -> None:
    """Sequences ``[lo, hi)``'s activations (and tokens) as one shard, written atomically."""
    ctx = seqs.shape[1]
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


def read_shard(path: Path, hooks: list[str], record: dict | None = None, checksum: bool = False) -> dict[str, Tensor]:
    """The ``hooks`` tensors of one shard; with its ``record`` (from meta.json) the shard is verified first (size,
    and sha256 with ``checksum``), and a damaged shard raises ``CacheError`` naming it and the fix."""
    if record is not None and (problem := shard_problem(path, record, checksum=checksum)):
        raise CacheError(f"Shard {path} of the activation cache is damaged: {problem}. "
                         f"{finish_hint(path.parent, read_meta(path.parent) or {})}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {h: f.get_tensor(h) for h in hooks}
    except Exception as err:  # safetensors raises its own error types for truncated or foreign files
        raise CacheError(f"Shard {path} of the activation cache cannot be read ({err}): it is truncated or "
                         f"corrupt. {finish_hint(path.parent, read_meta(path.parent) or {})}") from err

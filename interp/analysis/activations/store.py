"""The activation store: shuffled batches of activations, from cached shards or from the model on the fly.

A mixing buffer (SAELens' idea) holds ``buffer_size`` rows; it is shuffled, the first half is served as batches
and refilled from the source. Every row of the source is served exactly once per pass, and all hooks are served
for the same token positions (aligned), so a transcoder gets matching input/output pairs.

>>> store = ActivationStore.from_cache("runs/cache/resid1", batch_size=4096)
>>> batch = next(store)            # {"blocks.1.hook_resid_post": Tensor[4096, d_model]}
>>> store = ActivationStore.from_model(model, tokens, ["blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out"])
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from interp.analysis.activations.cache import flatten, read_shard, run_to_hooks, sequences
from interp.analysis.activations.manifest import open_cache
from interp.analysis.hooks import resolve_hook_names
from interp.errors import InputError
from interp.models.tl import HookedTransformer
from interp.training.distributed import DistInfo


class ActivationStore:
    def __init__(self, chunks: Iterator[dict[str, Tensor]], hooks: list[str], widths: dict[str, int],
                 batch_size: int, buffer_size: int, seed: int) -> None:
        if buffer_size < 2 * batch_size:
            raise InputError(f"buffer_size={buffer_size} must be at least twice batch_size={batch_size}.")
        self.hooks, self.widths, self.batch_size, self.buffer_size = hooks, widths, batch_size, buffer_size
        self._chunks = chunks
        self._gen = torch.Generator().manual_seed(seed)
        self._buffer: dict[str, Tensor] = {h: torch.empty(0, widths[h]) for h in hooks}
        self._ready: dict[str, Tensor] = {h: torch.empty(0, widths[h]) for h in hooks}
        self._exhausted = False
        self.rows_served = 0

    # -- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_cache(cls, path: str | Path, hooks: list[str] | None = None, batch_size: int = 4096,
                   buffer_size: int = 2**17, seed: int = 0, model: HookedTransformer | None = None,
                   exclude_bos: bool = False, verify_checksums: bool = True) -> ActivationStore:
        """Serve a cache written by ``interp cache``; an incomplete or damaged cache is refused (``CacheError``
        saying how to finish it), and each shard's sha256 is checked as it is read unless ``verify_checksums``
        is off."""
        path = Path(path)
        meta = open_cache(path, model)
        hooks = hooks or meta["hooks"]
        missing = [h for h in hooks if h not in meta["hooks"]]
        if missing:
            raise InputError(f"The cache in {path} has no {missing}; it holds {meta['hooks']}.")
        ctx = meta["context_size"]

        def chunks() -> Iterator[dict[str, Tensor]]:
            for record in meta["shards"]:
                acts = read_shard(path / record["file"], hooks, record, checksum=verify_checksums)
                yield _drop_bos(acts, ctx) if exclude_bos else acts

        return cls(chunks(), hooks, {h: meta["widths"][h] for h in hooks}, batch_size, buffer_size, seed)

    @classmethod
    def from_model(cls, model: HookedTransformer, tokens, hooks: str | list[str], batch_size: int = 4096,
                   context_size: int | None = None, buffer_size: int = 2**17, seed: int = 0,
                   model_batch_size: int = 16, exclude_bos: bool = False,
                   dist: DistInfo | None = None) -> ActivationStore:
        """Activations computed on the fly, ``model_batch_size`` sequences per forward pass. ``dist`` (several
        processes under torchrun): each rank runs every world_size-th forward pass and the ranks exchange the
        results, so every rank serves the same batches as one process would, for 1 / world_size of the model's
        work."""
        names = resolve_hook_names(model, hooks)
        ctx = context_size or model.cfg.n_ctx
        seqs = sequences(tokens, ctx)
        dist = dist or DistInfo()
        with torch.no_grad():
            probe = run_to_hooks(model, seqs[:1].to(model.cfg.device), names)
        widths = {n: flatten(probe[n]).shape[1] for n in names}

        def forward(i: int) -> dict[str, Tensor]:
            cache = run_to_hooks(model, seqs[i : i + model_batch_size].to(model.cfg.device), names)
            return {n: flatten(cache[n]).float() for n in names}

        @torch.no_grad()
        def chunks() -> Iterator[dict[str, Tensor]]:
            starts = range(0, len(seqs), model_batch_size)
            for g in range(0, len(starts), dist.world_size):
                group = list(starts[g : g + dist.world_size])
                parts = ([forward(group[0])] if not dist.enabled
                         else _exchange(forward, group, widths, model_batch_size * ctx, len(seqs), ctx, dist))
                for acts in parts:
                    acts = {n: a.cpu() for n, a in acts.items()}
                    yield _drop_bos(acts, ctx) if exclude_bos else acts

        return cls(chunks(), names, widths, batch_size, buffer_size, seed)

    # -- serving ---------------------------------------------------------------------------------------------
    def d_in(self, hook: str) -> int:
        return self.widths[hook]

    def _fill(self) -> None:
        while not self._exhausted and len(self._buffer[self.hooks[0]]) < self.buffer_size:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._exhausted = True
                break
            for h in self.hooks:
                self._buffer[h] = torch.cat([self._buffer[h], chunk[h].float()])

    def _mix(self) -> None:
        """Shuffle the buffer (one permutation for all hooks) and move half of it to the ready queue."""
        self._fill()
        n = len(self._buffer[self.hooks[0]])
        if n == 0:
            return
        perm = torch.randperm(n, generator=self._gen)
        take = n if self._exhausted else n // 2
        for h in self.hooks:
            shuffled = self._buffer[h][perm]
            self._ready[h] = torch.cat([self._ready[h], shuffled[:take]])
            self._buffer[h] = shuffled[take:]

    def __iter__(self) -> ActivationStore:
        return self

    def __next__(self) -> dict[str, Tensor]:
        while len(self._ready[self.hooks[0]]) < self.batch_size:
            before = len(self._ready[self.hooks[0]])
            self._mix()
            if len(self._ready[self.hooks[0]]) == before:  # source and buffer empty
                if before == 0:
                    raise StopIteration
                break  # a last, smaller batch
        out = {h: self._ready[h][: self.batch_size] for h in self.hooks}
        for h in self.hooks:
            self._ready[h] = self._ready[h][self.batch_size :]
        self.rows_served += len(out[self.hooks[0]])
        return out

    def skip_to(self, rows: int) -> None:
        """Serve and drop batches until ``rows`` rows have been served: a resumed run skips what its checkpoint
        trained on (the store is deterministic)."""
        while self.rows_served < rows:
            next(self)

    def sample(self, hook: str, n_batches: int = 4) -> Tensor:
        """The next rows in the buffer (up to ``n_batches`` batches), without serving them: for statistics taken
        before training (norms, means)."""
        self._fill()
        rows = self._buffer[hook][: n_batches * self.batch_size]
        if len(rows) == 0:
            raise InputError("No activations to take statistics from: the source is empty.")
        return rows

    def mean_norm(self, hook: str, n_batches: int = 4) -> float:
        """Mean L2 norm of ``hook``'s activations over the next rows in the buffer (for normalising to sqrt(d))."""
        return float(self.sample(hook, n_batches).norm(dim=-1).mean())


def _exchange(forward, group: list[int], widths: dict[str, int], rows: int, n_seqs: int, ctx: int,
              dist: DistInfo) -> list[dict[str, Tensor]]:
    """Rank r runs the forward pass starting at ``group[r]``; every rank gets every pass of the group, in order
    (padded to ``rows`` rows for the collective, then cut to each pass's own length)."""
    import torch.distributed as tdist

    lengths = [(min(start + rows // ctx, n_seqs) - start) * ctx for start in group]
    mine = forward(group[dist.rank]) if dist.rank < len(group) else None
    on_gpu = tdist.get_backend() == "nccl"
    out: list[dict[str, Tensor]] = [{} for _ in group]
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    for n, width in widths.items():
        local = mine[n] if mine is not None else None
        padded = torch.zeros(rows, width, device=device)
        if local is not None:
            padded[: len(local)] = local.to(device)
        every = [torch.empty_like(padded) for _ in range(dist.world_size)]
        tdist.all_gather(every, padded)
        for i, length in enumerate(lengths):
            out[i][n] = every[i][:length]
    return out


def _drop_bos(acts: dict[str, Tensor], ctx: int) -> dict[str, Tensor]:
    keep = torch.arange(next(iter(acts.values())).shape[0]) % ctx != 0
    return {h: a[keep] for h, a in acts.items()}

"""SAE training over several processes (``torchrun``): what each rank trains and what the ranks exchange.

Two modes (``SAETrainConfig.distribute``):

- ``data``: every rank holds every SAE and reads the same shuffled batches (same store, same seed); each trains on
  its slice of every batch (``batch_size / world_size`` rows) and the gradients are averaged, so the ranks stay
  identical and the result is one process's on the whole batch (up to the order of float additions). Fired-feature
  masks are merged and the logged metrics averaged, so dead-feature counts and the divergence checks agree on
  every rank. Rank 0 writes the checkpoints and the SAEs.
- ``modules``: the SAEs are split over the ranks (the number of SAEs must be a multiple of the world size), each
  trained on whole batches by its rank alone; every rank reads the same activations. Checkpoints and the final SAEs
  are gathered to rank 0, which writes them (no shared filesystem needed for writing).

Every collective below is reached by every rank at the same step (their stores serve identical batches), so no
rank waits for one that has stopped: the last step and the checkpoints are collective for all or for none.
``SAEWorld.check_agreement`` refuses ranks started with other settings, another model or other activations.

>>> world = SAEWorld.join("cpu", "data")      # one process: world_size 1, every method a no-op
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from interp.training.distributed import DistInfo, setup_distributed, teardown_distributed
from saes.errors import SAEConfigError

MODES = ("data", "modules")
T = TypeVar("T")


@dataclass
class SAEWorld:
    info: DistInfo
    mode: str
    device: str
    owns_group: bool = field(default=False, repr=False)  # joined here, so ``leave`` destroys it

    @classmethod
    def join(cls, device: str, mode: str) -> SAEWorld:
        """Join torchrun's process group when launched by it (``WORLD_SIZE`` > 1), each rank on its own GPU."""
        if mode not in MODES:
            raise SAEConfigError(f"distribute={mode!r}: use one of {MODES}.")
        had_group = dist.is_available() and dist.is_initialized()
        info = setup_distributed(torch.device(device).type)
        if info.enabled and device == "cuda":
            device = f"cuda:{info.local_rank}"
        return cls(info, mode, device, owns_group=info.enabled and not had_group)

    def leave(self) -> None:
        """Destroy the process group ``join`` created (a caller's own group is left alone). A gloo group still
        alive when Python exits can abort the process ("terminate called without an active exception")."""
        if self.owns_group:
            teardown_distributed(self.info)
            self.owns_group = False

    @property
    def size(self) -> int:
        return self.info.world_size

    @property
    def is_main(self) -> bool:
        return self.info.is_main

    @property
    def data_parallel(self) -> bool:
        return self.info.enabled and self.mode == "data"

    @property
    def module_parallel(self) -> bool:
        return self.info.enabled and self.mode == "modules"

    # -- the split -----------------------------------------------------------------------------------------
    def share(self, items: Sequence[T], batch_size: int) -> list[T]:
        """The SAEs this rank trains (all of them unless ``modules``), after checking the split is possible."""
        if self.data_parallel and batch_size % self.size:
            raise SAEConfigError(f"batch_size={batch_size} does not split over {self.size} processes: with "
                                 "--distribute data each rank trains on batch_size / world_size rows; use a multiple "
                                 f"of {self.size}.")
        if not self.module_parallel:
            return list(items)
        if len(items) % self.size:
            raise SAEConfigError(f"--distribute modules spreads the SAEs evenly over the ranks: {len(items)} SAEs do "
                                 f"not divide over {self.size} processes. Run {len(items)} SAEs on a world size that "
                                 f"divides {len(items)}, add SAEs, or use --distribute data.")
        per = len(items) // self.size
        return list(items[self.info.rank * per : (self.info.rank + 1) * per])

    def rows(self, x: Tensor) -> Tensor:
        """This rank's slice of a batch (data-parallel), else the batch."""
        if not self.data_parallel:
            return x
        per = len(x) // self.size
        return x[self.info.rank * per : (self.info.rank + 1) * per]

    # -- keeping data-parallel ranks identical ---------------------------------------------------------------
    def average_grads(self, module: torch.nn.Module) -> None:
        if not self.data_parallel:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if grads:
            flat = torch.cat([g.flatten() for g in grads])  # one all-reduce per SAE, not one per tensor
            dist.all_reduce(flat)
            flat /= self.size
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Running statistics an SAE keeps from its batches (BatchTopK's threshold): averaged over the ranks."""
        if not self.data_parallel:
            return
        for b in module.buffers():
            if b.is_floating_point():
                dist.all_reduce(b)
                b /= self.size

    def broadcast(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters to every rank (after a random re-initialisation such as resampling)."""
        if self.data_parallel:
            for p in module.parameters():
                dist.broadcast(p.data, src=0)

    def any_rank(self, mask: Tensor) -> Tensor:
        """A boolean mask true where it is true on any rank (data-parallel)."""
        if not self.data_parallel:
            return mask
        m = mask.to(torch.uint8)
        dist.all_reduce(m, op=dist.ReduceOp.MAX)
        return m.bool()

    def mean(self, values: Tensor) -> Tensor:
        """The ranks' average of a vector of metrics (data-parallel), else the vector."""
        if not self.data_parallel:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.size

    # -- gathering (module-parallel) ------------------------------------------------------------------------
    def gather(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Rank 0: the union of every rank's ``obj`` (module-parallel; else its own); other ranks: None."""
        if not self.module_parallel:
            return obj if self.is_main else None
        parts: list[Any] | None = [None] * self.size if self.is_main else None
        dist.gather_object(obj, parts, dst=0)
        return {k: v for part in parts for k, v in part.items()} if parts is not None else None

    def gather_all(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Every rank: the union of every rank's ``obj`` (module-parallel; else its own)."""
        if not self.module_parallel:
            return obj
        parts: list[Any] = [None] * self.size
        dist.all_gather_object(parts, obj)
        return {k: v for part in parts for k, v in part.items()}

    def check_agreement(self, identity: dict[str, Any]) -> None:
        """Refuse ranks whose settings, model or activations differ (compared by hash at start)."""
        if not self.info.enabled:
            return
        digest = {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()[:16]
                  for k, v in identity.items()}
        every: list[Any] = [None] * self.size
        dist.all_gather_object(every, digest)
        for rank, theirs in enumerate(every):
            differ = sorted(k for k in digest if theirs.get(k) != every[0].get(k))
            if differ:
                raise SAEConfigError(f"Rank {rank} was started with another {', '.join(differ)} than rank 0 "
                                     f"({theirs} against {every[0]}): every process of a run must get the same "
                                     "settings, model and activations. Launch them with one command line.")

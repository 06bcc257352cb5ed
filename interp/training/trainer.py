"""The trainer: AdamW, warm-up + cosine decay, clipping, accumulation, periodic validation loss, checkpoints, exact resume,
one process or several with ``torchrun`` (DDP).

Every step's data is a pure function of ``(seed, step, micro_step)`` (random windows of the token shards), so a
resumed run and a DDP run see exactly the batches an uninterrupted single-process run sees.

>>> result = train(TrainConfig(preset="tiny", data_dir="runs/data", out_dir="runs/tiny", max_steps=200))
>>> result.final_val_loss
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from interp.data.shards import TokenShards
from interp.data.tokenizer import load_tokenizer
from interp.devices import resolve_device
from interp.errors import ConfigError, NonFiniteLossError, RunDirError
from interp.io import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    dir_lock,
    git_commit,
    is_disk_full,
    read_json,
    sha256_file,
    to_jsonable,
)
from interp.layout import DataLayout, RunLayout
from interp.models.gpt import GPT
from interp.plots import loss_curve, read_metrics
from interp.training.checkpoint import (
    complete_checkpoints,
    latest_checkpoint,
    load_model,
    load_training_state,
    save_checkpoint,
)
from interp.training.config import DRILL_KINDS, TrainConfig
from interp.training.copy_drills import drill_rows, drill_span, drill_vocab, mix_drills, weighted_drill_loss
from interp.training.distributed import DistInfo, barrier, setup_distributed, teardown_distributed
from interp.training.lookback_drills import lookback_rows
from interp.training.task_drills import task_row_maker
from interp.training.validation import validation_loss

ExtraLoss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], "torch.Tensor | None"]
"""``extra_loss(model, inputs [batch, pos], logits [batch, pos, vocab])``: a term added to the training loss."""

# Fields that may change when resuming (they do not change what the run computes; init_from is read only at the
# start, so the parent may have moved). (eval_interval and eval_tokens: the former names of val_interval and
# val_tokens, in older train_config.json files.)
_RESUMABLE_CHANGES = {"resume", "overwrite", "progress", "max_steps", "val_interval", "val_tokens", "eval_interval",
                      "init_from", "eval_tokens", "ckpt_interval", "keep_checkpoints", "log_interval", "device", "compile"}
# Fields a resumed run may change to recover from a divergence (recorded in run_info.json's "resumes").
_RECOVERY_CHANGES = {"lr", "min_lr", "warmup_steps", "grad_clip"}
# Where the run and its data live: compared by content (the data's hashes), never as strings.
_LOCATIONS = {"out_dir", "data_dir"}


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    final_loss: float
    final_val_loss: float | None
    tokens_per_s: float
    seconds: float


def apply_cpu_malloc_settings() -> bool:
    """glibc malloc tuning that keeps freed activation buffers in the heap instead of returning them to the OS
    every step (platform.md measured 1.3-2x on CPU training with TransformerLens-sized allocations)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(-3, ctypes.c_int(1 << 30))  # M_MMAP_THRESHOLD
    ok &= libc.mallopt(-1, ctypes.c_int((1 << 31) - 1))  # M_TRIM_THRESHOLD
    ok &= libc.mallopt(-2, ctypes.c_int(1 << 30))  # M_TOP_PAD
    return bool(ok)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def batch_starts(seed: int, step: int, micro: int, n: int, n_tokens: int, ctx: int) -> np.ndarray:
    """Start offsets of the ``n`` windows of micro-step ``micro`` of ``step`` (same on every rank)."""
    rng = np.random.default_rng([seed, step, micro])
    return rng.integers(0, n_tokens - ctx, size=n)


def make_optimizer(model: GPT, cfg: TrainConfig, fused: bool) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms or position/token embeddings' ties)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and p.requires_grad]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 and p.requires_grad]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=fused or None)


def _data_identity(data: DataLayout, shards: TokenShards) -> dict[str, str | None]:
    """What identifies a data directory independently of its path: its tokenizer's and its config's hashes."""
    return {"tokenizer_hash": shards.metadata.get("tokenizer_hash"),
            "data_config_sha256": sha256_file(data.config) if data.config.exists() else None}


def _prepare_run_dir(cfg: TrainConfig, identity: dict[str, str | None]) -> dict[str, list[Any]]:
    """Refuse to mix two runs in one directory; on ``--resume`` check that settings and data are the run's own.

    Paths are compared by what they hold, not by how they are spelled: ``./runs/A``, ``runs/A/``, an absolute
    path and a moved run are the same run, and the data must have the run's tokenizer and config hashes. Returns
    the divergence-recovery settings a resume changes (``{field: [old, new]}``), to be recorded in run_info.json.
    """
    run = RunLayout(cfg.out_dir)
    if run.train_config.exists() and not cfg.overwrite:
        if not cfg.resume:
            raise RunDirError(f"{run.root} already holds a run. Continue it with --resume, start it again with "
                              "--overwrite (deletes it), or pick another --out-dir.")
        # A run saved before a field existed ran with that field's default.
        old = {**{f.name: to_jsonable(f.default) for f in fields(TrainConfig) if f.default is not MISSING},
               **read_json(run.train_config)}
        new = to_jsonable(cfg)
        diff = sorted(k for k in set(old) | set(new)
                      if k not in _RESUMABLE_CHANGES | _RECOVERY_CHANGES | _LOCATIONS and old.get(k) != new.get(k))
        if diff:
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
            raise RunDirError(f"{run.root} holds a different run ({shown}); --resume needs the same settings (it may "
                              f"change {sorted((_RESUMABLE_CHANGES | _RECOVERY_CHANGES) - {'resume', 'overwrite'})}). "
                              "Drop the changed flags, or train into another --out-dir.")
        info = read_json(run.run_info) if run.run_info.exists() else {}
        changed = [k for k, v in identity.items() if info.get(k) and v != info[k]]
        if changed:
            raise RunDirError(f"The data directory {cfg.data_dir} is not the data run {run.root} was trained on "
                              f"({', '.join(changed)} differ from {run.run_info}); resuming on it would mix two "
                              "tokenizations or corpora. Point --data-dir at the run's own data.")
        return {k: [old.get(k), new[k]] for k in sorted(_RECOVERY_CHANGES) if old.get(k) != new[k]}
    contents = [p for p in run.root.iterdir() if p != run.lock] if run.root.exists() else []
    if contents:
        if not cfg.overwrite:
            raise RunDirError(f"{run.root} is not empty and holds no run; use --overwrite to replace its contents, "
                              "or pick another --out-dir.")
        for path in contents:  # everything but the lock this process holds
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    run.root.mkdir(parents=True, exist_ok=True)
    return {}


def _resume_point(run: RunLayout) -> Path | None:
    """The checkpoint a resumed run continues from; None for a run that never saved one.

    A run whose ``latest`` pointer is missing or dangling continues from its newest complete checkpoint; a run
    with recorded progress but no checkpoint at all is refused rather than silently started over.
    """
    ckpt = latest_checkpoint(run.root)
    if ckpt is not None:
        return ckpt
    complete = complete_checkpoints(run.root)
    if complete:
        print(f"note: {run.latest} is missing or names no checkpoint; resuming from {complete[-1].name}, the newest "
              "complete checkpoint")
        return complete[-1]
    steps = [r.get("step", 0) for r in read_metrics(run.metrics)]
    if steps and max(steps) > 0:
        raise RunDirError(f"{run.root} records training up to step {max(steps)} in {run.metrics.name} but holds no "
                          f"checkpoint in {run.checkpoints}, so --resume would start over and rewrite its history. "
                          "Restore the checkpoints, or start again with --overwrite.")
    return None


class Trainer:
    """One training run. ``before_step(trainer)``, if given, runs before every optimizer step (``trainer.step``
    is the number of steps done): the extension point for schedules that change the model while it trains
    (``interp.ln_removal`` freezes norms with it); it must be deterministic in the step, so a resumed run matches.
    ``extra_loss(model, inputs, logits)``, if given, runs after each forward pass and its value (or None) is added
    to the loss that is differentiated; ``loss`` in metrics.jsonl stays the language-model loss (LayerNorm removal's
    auxiliary loss on the residual scale and its distillation from the parent use it)."""

    def __init__(self, cfg: TrainConfig, before_step: Callable[[Trainer], None] | None = None,
                 extra_loss: ExtraLoss | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.before_step = before_step
        self.extra_loss = extra_loss
        device = resolve_device(cfg.device)
        self.dist: DistInfo = setup_distributed(device.type)
        if device.type == "cuda" and device.index is None and self.dist.enabled:
            device = torch.device(f"cuda:{self.dist.local_rank}")
        self.device = device
        if self.device.type == "cpu":
            apply_cpu_malloc_settings()
        else:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if cfg.batch_size % (cfg.grad_accum * self.dist.world_size):
            raise RunDirError(f"batch_size={cfg.batch_size} must split evenly over grad_accum={cfg.grad_accum} x "
                              f"{self.dist.world_size} processes.")
        self.layout = RunLayout(cfg.out_dir)
        data = DataLayout(cfg.data_dir)
        self.train_data = TokenShards(data.train)
        self.val_dir = data.val
        self.model_cfg = cfg.model_config(self.train_data.vocab_size)
        if self.train_data.n_tokens <= self.model_cfg.n_ctx + 1:
            raise ConfigError(f"The training data in {data.train} has {self.train_data.n_tokens:,} tokens, not more than "
                              f"one context window (n_ctx {self.model_cfg.n_ctx} + 1): use more data (interp corpus "
                              "--n-tokens) or a shorter context (--model-overrides '{\"n_ctx\": ...}').")
        self.drill_vocab = drill_vocab(self.train_data) if cfg.copy_drill_frac or cfg.lookback_drill_frac else None
        self.drill_makers = {"copy": drill_rows, "lookback": lookback_rows,
                             "task": task_row_maker(load_tokenizer(data.tokenizer), cfg.task_drill_mc_share,
                                                     cfg.task_drill_lookup_share, cfg.task_drill_ioi_share,
                                                     cfg.task_drill_capital_share)
                             if cfg.task_drill_frac else None}
        identity = _data_identity(data, self.train_data)
        recovery = _prepare_run_dir(cfg, identity) if self.dist.is_main else {}
        barrier(self.dist)
        torch.manual_seed(cfg.seed)
        self.model = GPT(self.model_cfg).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg, fused=self.device.type == "cuda")
        self.step, self.tokens_seen = 0, 0
        ckpt = _resume_point(self.layout) if cfg.resume else None
        if cfg.init_from and ckpt is None:
            self._init_from(cfg.init_from)
        if ckpt is not None:
            state = load_training_state(ckpt, self.model, self.optimizer)
            self.step, self.tokens_seen = int(state["step"]), int(state["tokens_seen"])
            torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
        if self.dist.is_main:
            self._write_run_files(data, identity, recovery)
        self.ddp = self._wrap()

    @torch.no_grad()
    def _init_from(self, source: str) -> None:
        """Start from ``source``'s weights; only buffers this model adds (a removable norm's averages) may be new."""
        parent = load_model(source)
        mine = self.model.state_dict()
        theirs = parent.state_dict()
        unexpected = sorted(set(theirs) - set(mine))
        buffers = {name for name, _ in self.model.named_buffers()}
        missing = sorted(set(mine) - set(theirs) - buffers)
        shapes = sorted(k for k in set(mine) & set(theirs) if mine[k].shape != theirs[k].shape)
        if unexpected or missing or shapes:
            raise ConfigError(f"init_from={source!r} does not fit this model ({self.model_cfg.n_layers} layers, d_model "
                              f"{self.model_cfg.d_model}, vocabulary {self.model_cfg.d_vocab}): "
                              + "; ".join(f"{what} {keys[:3]}" for what, keys in (
                                  ("unexpected", unexpected), ("missing", missing), ("other shapes", shapes)) if keys)
                              + ". Give the parent's preset and model_overrides, and its data directory.")
        self.model.load_state_dict(theirs, strict=False)

    def _wrap(self) -> torch.nn.Module:
        model: torch.nn.Module = self.model
        if self.cfg.compile:
            model = torch.compile(model)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
        return model

    def _write_run_files(self, data: DataLayout, identity: dict[str, str | None],
                         recovery: dict[str, list[Any]]) -> None:
        run = self.layout
        info = read_json(run.run_info) if run.run_info.exists() else {}
        resumes = info.get("resumes", [])
        if self.cfg.resume and self.step > 0:
            resumes.append({"step": self.step, "changed": recovery})
        atomic_write_json(run.train_config, self.cfg)
        atomic_write_json(run.model_config, self.model_cfg.to_dict())
        atomic_write_json(run.run_info, {
            "git_commit": git_commit(), **run.data_record(data.root), **identity,
            "n_params_non_embedding": self.model.num_params(), "torch": torch.__version__, "resumes": resumes,
        })
        if data.tokenizer.is_dir() and not run.tokenizer.exists():
            shutil.copytree(data.tokenizer, run.tokenizer)
        rows = [r for r in read_metrics(run.metrics) if r.get("step", 0) <= self.step]
        atomic_write_text(run.metrics, "".join(json.dumps(r) + "\n" for r in rows))

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_step(self) -> tuple[float, float]:
        cfg, ctx = self.cfg, self.model_cfg.n_ctx
        per_micro = cfg.batch_size // cfg.grad_accum
        per_rank = per_micro // self.dist.world_size
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        loss_sum = torch.zeros((), device=self.device)
        for micro in range(cfg.grad_accum):
            starts = batch_starts(cfg.seed, self.step, micro, per_micro, self.train_data.n_tokens, ctx)
            mine = starts[self.dist.rank * per_rank : (self.dist.rank + 1) * per_rank]
            batch = self.train_data.batch(mine, ctx + 1)
            targets, offset, weighted = batch[:, 1:], 0, None
            for i, kind in enumerate(DRILL_KINDS):  # each kind takes the rows after the kinds before it
                if not cfg.drills_at(self.step, kind):
                    continue
                frac, first_row = getattr(cfg, f"{kind}_drill_frac"), self.dist.rank * per_rank
                batch, targets = mix_drills(batch, self.drill_vocab, frac, per_micro, first_row,
                                            seed=(cfg.seed, self.step, micro, *([i] if i else [])),
                                            make_rows=self.drill_makers[kind], offset=offset,
                                            targets=targets if offset else None)
                n, lo, hi = drill_span(frac, per_micro, first_row, batch.shape[0], offset)
                if kind == "task" and cfg.task_drill_weight > 0:
                    weighted = (lo, hi)
                offset += n
            batch, targets = batch.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
            sync = micro == cfg.grad_accum - 1 or not self.dist.enabled
            with (contextlib.nullcontext() if sync else self.ddp.no_sync()), self._autocast():
                if weighted is None:
                    logits, loss = self.ddp(batch[:, :-1], targets=targets, check=False)
                else:  # the task drills' answers get their own mean (TrainConfig.task_drill_weight)
                    logits = self.ddp(batch[:, :-1], check=False)
                    per_token = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-1,
                                                reduction="none").view_as(targets)
                    loss = weighted_drill_loss(per_token, targets, *weighted, cfg.task_drill_weight)
                extra = self.extra_loss(self.model, batch[:, :-1], logits) if self.extra_loss is not None else None
                ((loss if extra is None else loss + extra) / cfg.grad_accum).backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or float("inf"))
        stats = torch.stack([loss_sum / cfg.grad_accum, grad_norm.float()])
        if self.dist.enabled:  # every rank stops together on a NaN
            dist.all_reduce(stats, op=dist.ReduceOp.AVG)
        loss_val, norm_val = (float(x) for x in stats)
        if not (math.isfinite(loss_val) and math.isfinite(norm_val)):
            raise NonFiniteLossError(
                f"Non-finite loss ({loss_val}) or gradient norm ({norm_val}) in step {self.step + 1}: training stopped "
                f"before the update, and the last checkpoint in {self.layout.checkpoints} is intact. Resume with a lower "
                f"--lr (now {cfg.lr}) or more --warmup-steps: --resume --lr ... (both may change on resume)."
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += cfg.batch_size * ctx
        return loss_val, norm_val

    def _checkpoint(self, val_loss: float | None) -> None:
        if self.dist.is_main:
            save_checkpoint(self.layout.root, self.model, self.optimizer, self.step, {
                "tokens_seen": self.tokens_seen, "torch_rng": torch.get_rng_state().tolist(),
                "val_loss": val_loss, "data": {"sampler": "uniform-windows(seed, step, micro)", "seed": self.cfg.seed},
            }, keep=self.cfg.keep_checkpoints)
        barrier(self.dist)

    def run(self) -> TrainResult:
        cfg = self.cfg
        t_start = time.perf_counter()
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train", unit="step",
                   disable=not (cfg.progress and self.dist.is_main))
        metrics = open(self.layout.metrics, "a") if self.dist.is_main else None
        loss_val, val_loss, window_t, window_steps, tps = float("nan"), None, 0.0, 0, 0.0
        try:
            while self.step < cfg.max_steps:
                t0 = time.perf_counter()
                if self.before_step is not None:
                    self.before_step(self)
                loss_val, grad_norm = self._train_step()
                window_t += time.perf_counter() - t0
                window_steps += 1
                bar.update(1)
                log = self.step % cfg.log_interval == 0 or self.step == cfg.max_steps
                validate = self.step % cfg.val_interval == 0 or self.step == cfg.max_steps
                if log or validate:
                    tps = window_steps * cfg.batch_size * self.model_cfg.n_ctx / max(window_t, 1e-9)
                    row = {"step": self.step, "tokens": self.tokens_seen, "loss": loss_val, "lr": lr_at(self.step - 1, cfg),
                           "grad_norm": grad_norm, "tokens_per_s": tps, "step_time": window_t / window_steps,
                           "elapsed": time.perf_counter() - t_start}
                    window_t, window_steps = 0.0, 0
                    if validate and self.dist.is_main and self.val_dir.exists():
                        val_loss = validation_loss(self.model, self.val_dir, cfg.val_tokens)
                        self.model.train()
                        row["val_loss"] = val_loss
                    if metrics is not None:
                        metrics.write(json.dumps(row) + "\n")
                        metrics.flush()
                    bar.set_postfix(loss=f"{loss_val:.3f}", val=f"{val_loss:.3f}" if val_loss else "-",
                                    tok_s=f"{tps:.0f}")
                if self.step % cfg.ckpt_interval == 0 or self.step == cfg.max_steps:
                    self._checkpoint(val_loss)
        finally:
            bar.close()
            if metrics is not None:
                metrics.close()
        if self.dist.is_main:
            try:
                with atomic_path(self.layout.loss_curve) as tmp:
                    loss_curve(read_metrics(self.layout.metrics), drills=cfg.drill_windows()).write_html(
                        tmp, include_plotlyjs=True)
            except OSError as err:  # the run itself is saved: a missing plot must not fail it
                if not is_disk_full(err):
                    raise
                warnings.warn(f"{self.layout.loss_curve} not written: the disk is full. The run and its checkpoints "
                              "are saved; metrics.jsonl has the same numbers.", stacklevel=2)
        return TrainResult(self.layout.root, self.step, loss_val, val_loss, tps, time.perf_counter() - t_start)


def train(cfg: TrainConfig, before_step: Callable[[Trainer], None] | None = None,
          extra_loss: ExtraLoss | None = None) -> TrainResult:
    """Train (or resume) the run described by ``cfg``; see ``TrainConfig`` for every option (and ``Trainer`` for
    ``before_step`` and ``extra_loss``).

    The run directory is locked while it is written (by the main process of a ``torchrun`` job): a second
    training into the same directory stops at once instead of mixing two runs' files.
    """
    cfg.validate()
    resolve_device(cfg.device)  # before anything is written
    main_process = int(os.environ.get("RANK", "0")) == 0
    run = RunLayout(cfg.out_dir)
    with dir_lock(run.lock, f"run {run.root}") if main_process else contextlib.nullcontext():
        trainer = Trainer(cfg, before_step, extra_loss)
        try:
            return trainer.run()
        finally:
            teardown_distributed(trainer.dist)

"""Train one or several SAEs/transcoders from one pass over a model's activations (``interp train-sae``).

Every SAE of a run reads the same batches of the activation store (cached shards or the model on the fly), so
four SAEs cost one activation pass, not four. Per step and SAE: inputs scaled to mean norm sqrt(d_in), loss
(MSE + sparsity with a warm-up, AuxK for dead TopK features), unit-norm decoder rows with the parallel gradient
removed, lr warm-up and linear decay. Checkpoints (weights, optimizer, store position, dead counters) are atomic
and ``resume=True`` continues a killed run (only with settings that do not change what is computed: ``run_dir.py``;
``metrics.jsonl`` is cut back to the checkpoint's step); the final SAEs are saved with the scaling folded in, in
SAELens' format, each knowing the model it was trained on (``metadata.model_hash``). A non-finite loss or an
exploding FVU stops training with an error and saves no SAE; a run that fails before its first checkpoint
leaves nothing in its out dir.

>>> result = train_saes(SAETrainConfig(run_dir="runs/quickstart/model", hook="blocks.1.hook_resid_pre", k=32))
>>> result.sae_dirs   # {"topk-blocks.1.hook_resid_pre": Path("runs/saes/topk-blocks.1.hook_resid_pre")}
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from interp.analysis.activations.manifest import read_meta
from interp.analysis.activations.store import ActivationStore
from interp.devices import resolve_device
from interp.errors import NonFiniteLossError, RunDirError
from interp.io import (
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    dir_lock,
    git_commit,
    hash_state_dict,
    read_json,
)
from interp.plots import read_metrics
from interp.training.checkpoint import LATEST, latest_checkpoint, publish_latest
from saes.base import SAE, build_sae
from saes.distributed import SAEWorld
from saes.errors import SAECheckpointError, SAEDivergenceError
from saes.format import load_sae, save_sae
from saes.layout import SAERunLayout
from saes.run_dir import check_out_dir
from saes.train_config import RESUMABLE_CHANGES, SAESpec, SAETrainConfig

# Training has diverged when, after the lr warm-up, an SAE's FVU exceeds this many times its FVU at the first step
# of the process (at least 1: predicting the mean). A working SAE's FVU falls; a diverging one grows by orders of
# magnitude (an lr of 1e6 reaches 1e12).
MAX_FVU = 1e3
_FINAL_METRICS = ("fvu", "l0", "dead", "mse")


@dataclass
class SAETrainResult:
    out_dir: Path
    sae_dirs: dict[str, Path]
    steps: int
    rows: int
    seconds: float
    final: dict[str, dict[str, float]]  # per SAE: mse, fvu, l0, dead fraction at the end


def lr_at(step: int, cfg: SAETrainConfig, total: int, base: float) -> float:
    """Learning rate of step ``step`` of ``total`` for a group whose peak is ``base``: linear warm-up, constant,
    linear decay to 0 from ``decay_start * total`` (same argument order as ``interp.training.trainer.lr_at``)."""
    if step < cfg.warmup_steps:
        return base * (step + 1) / cfg.warmup_steps
    start = int(cfg.decay_start * total)
    return base if step < start else base * max(0.0, (total - step) / max(1, total - start))


class SAETrainer:
    def __init__(self, cfg: SAETrainConfig, model=None) -> None:
        import interp

        self.cfg = cfg
        self.world = SAEWorld.join(str(resolve_device(cfg.device)), cfg.distribute)
        self.device = self.world.device
        self.out = Path(cfg.out_dir)
        self.layout = SAERunLayout(self.out)
        self.plan = check_out_dir(cfg)  # refuses a clash now; deletes (for --overwrite) only when run() starts
        self.model = model if model is not None else interp.load(cfg.run_dir, device=self.device)
        self.specs = cfg.specs()
        self.mine = self.world.share(self.specs, cfg.batch_size)  # the SAEs this process trains
        self.hooks = sorted({s.hook for s in self.specs} | {s.hook_out for s in self.specs if s.hook_out})
        self.store = self._store()
        self.model_hash = hash_state_dict(self.model.state_dict())
        meta = {"model_run": str(cfg.run_dir), "model_hash": self.model_hash,
                "git_commit": git_commit(), "context_size": self.model.cfg.n_ctx, "prepend_bos": True}
        # every SAE of the run (those of other ranks in module-parallel runs stay on the CPU: rank 0 writes them)
        self.saes: dict[str, SAE] = {}
        self.scales: dict[str, float] = {}
        for index, spec in enumerate(self.specs):
            d_out = self.store.widths[spec.hook_out] if spec.hook_out else None
            sae_cfg = spec.sae_config(self.store.widths[spec.hook], d_out or self.store.widths[spec.hook], meta)
            sae_cfg.device = self.device if spec in self.mine else "cpu"
            with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
                torch.manual_seed(cfg.seed + index)
                self.saes[spec.label] = build_sae(sae_cfg)
        for hook in self.hooks:
            self.scales[hook] = (math.sqrt(self.store.widths[hook]) / self.store.mean_norm(hook)
                                 if cfg.normalize_activations == "expected_average_only_in" else 1.0)
        if cfg.init_from_data:  # the same rows on every rank: the same start
            for spec in self.specs:
                x = self.store.sample(spec.hook) * self.scales[spec.hook]
                y = self.store.sample(spec.hook_out) * self.scales[spec.hook_out] if spec.hook_out else x
                self.saes[spec.label].init_from_data_(x.to(self.saes[spec.label].W_enc.device),
                                                   y.to(self.saes[spec.label].W_enc.device))
        # one Adam per SAE (the same updates as one over all of them): a checkpoint keeps each SAE's state apart
        # (fused: one kernel per step instead of a loop over tensors: 2.6 -> 0.5 ms a step at d 128 x 2048 latents)
        self.opts = {s.label: torch.optim.Adam([{"params": list(self.saes[s.label].parameters()),
                                                 "lr": s.lr or cfg.lr, "base_lr": s.lr or cfg.lr}], betas=(0.9, 0.999),
                                               fused=True)
                     for s in self.mine}
        self.since_fired = {name: torch.zeros(sae.cfg.d_sae, dtype=torch.long) for name, sae in self.saes.items()}
        self.step = 0
        self.rows_done = 0  # rows served before this process started (a resumed run skips them lazily)
        self.total_steps = max(1, cfg.n_tokens // cfg.batch_size)
        self.restored: Path | None = None
        self.checkpointed = False  # whether this process has written a checkpoint
        self.fvu_start: dict[str, float] = {}  # per SAE, the FVU of this process's first step (divergence check)
        if self.plan.resume and latest_checkpoint(self.out) is not None:
            self._restore()
        self.world.check_agreement({"settings": _computed_settings(cfg), "distribute": cfg.distribute,
                                    "model": self.model_hash,
                                    "activations": _source_identity(cfg), "step": self.step})

    # -- set-up --------------------------------------------------------------------------------------------
    def _store(self) -> ActivationStore:
        cfg = self.cfg
        kw = dict(batch_size=cfg.batch_size, buffer_size=max(cfg.buffer_size, 2 * cfg.batch_size), seed=cfg.seed,
                  exclude_bos=cfg.exclude_bos)
        if cfg.cache_dir:
            return ActivationStore.from_cache(cfg.cache_dir, self.hooks, model=self.model, **kw)
        from interp.data.shards import TokenShards
        from interp.models.loading import run_data

        data = TokenShards(cfg.data) if cfg.data else run_data(cfg.run_dir)
        return ActivationStore.from_model(self.model, data, self.hooks, dist=self.world.info, **kw)  # ranks share it

    # -- training --------------------------------------------------------------------------------------------
    def _dead_mask(self, name: str) -> torch.Tensor:
        return (self.since_fired[name] >= self.cfg.dead_tokens).to(self.device)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
        cfg = self.cfg
        sparsity = min(1.0, (self.step + 1) / max(1, cfg.sparsity_warmup_steps))
        logs: dict[str, dict[str, float]] = {}
        for spec in self.mine:
            sae, opt = self.saes[spec.label], self.opts[spec.label]
            for group in opt.param_groups:
                group["lr"] = lr_at(self.step, cfg, self.total_steps, group["base_lr"])
            opt.zero_grad(set_to_none=True)
            x = self.world.rows(batch[spec.hook]).to(self.device) * self.scales[spec.hook]
            target = (self.world.rows(batch[spec.hook_out]).to(self.device) * self.scales[spec.hook_out]
                      if spec.hook_out else x)
            out = sae.training_loss(x, target if spec.hook_out else None, sparsity_scale=sparsity,
                                    dead_mask=self._dead_mask(spec.label))
            out.loss.backward()
            self.world.average_grads(sae)
            with torch.no_grad():
                var = (target - target.mean(0)).pow(2).sum(-1).mean()
                names = list(out.parts)
                # the metrics of the whole batch (data-parallel: the ranks' average), identical on every rank
                values = self.world.mean(torch.stack([out.loss.detach(), out.parts["mse"].detach() / var,
                                                      out.l0.detach(), *[v.detach() for v in out.parts.values()]]))
            loss, fvu, l0, *parts = values.tolist()
            if not math.isfinite(loss):
                raise NonFiniteLossError(
                    f"SAE {spec.label!r} diverged: its loss became {loss} at step {self.step}; nothing was "
                    f"updated and no SAE was saved. Lower the lr (now {spec.lr or cfg.lr}) or the sparsity "
                    "coefficient, or check the activations for NaNs; then start again with --overwrite.")
            if cfg.unit_decoder:
                sae.remove_decoder_parallel_grad_()
            fired = self.world.any_rank(out.fired).cpu()
            self.since_fired[spec.label] += len(batch[spec.hook])
            self.since_fired[spec.label][fired] = 0
            logs[spec.label] = {"loss": loss, "fvu": fvu, "l0": l0,
                                "dead": float(self._dead_mask(spec.label).float().mean()),
                                **dict(zip(names, parts, strict=True))}
            self._check_divergence(spec, fvu)
        for spec in self.mine:
            sae = self.saes[spec.label]
            self.opts[spec.label].step()
            if cfg.unit_decoder:
                sae.normalize_decoder_()
            sae.after_step_()
            self.world.average_buffers(sae)
            if cfg.resample_dead:
                self._resample(spec, batch)
        self.step += 1
        return logs

    @torch.no_grad()
    def _resample(self, spec: SAESpec, batch: dict[str, torch.Tensor]) -> None:
        """Re-initialise dead features towards inputs the SAE reconstructs worst (Anthropic's resampling, simplified)."""
        sae, dead = self.saes[spec.label], self._dead_mask(spec.label)
        if not bool(dead.any()) or self.step % max(1, self.cfg.dead_tokens // self.cfg.batch_size):
            return
        x = batch[spec.hook].to(self.device) * self.scales[spec.hook]
        target = batch[spec.hook_out].to(self.device) * self.scales[spec.hook_out] if spec.hook_out else x
        err = (sae(x) - target).pow(2).sum(-1)
        idx = torch.multinomial(err / err.sum(), int(dead.sum()), replacement=True)
        rows = dead.nonzero().flatten()
        direction = (target[idx] - sae.b_dec)
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-8)
        sae.W_dec[rows] = direction
        sae.W_enc[:, rows] = (x[idx] / x[idx].norm(dim=-1, keepdim=True).clamp(min=1e-8)).T * 0.2
        if hasattr(sae, "b_enc"):
            sae.b_enc[rows] = 0.0
        self.since_fired[spec.label][rows.cpu()] = 0
        self.world.broadcast(sae)  # data-parallel ranks draw their own samples: rank 0's are kept

    def _check_divergence(self, spec: SAESpec, fvu: float) -> None:
        limit = MAX_FVU * max(1.0, self.fvu_start.setdefault(spec.label, fvu))
        if self.step >= self.cfg.warmup_steps and not fvu <= limit:
            raise SAEDivergenceError(
                f"SAE {spec.label!r} diverged at step {self.step}: FVU {fvu:.3g} (limit {limit:.3g}: it explains the "
                f"activations far worse than their mean does); nothing was updated and no SAE was saved. Lower the lr "
                f"(now {spec.lr or self.cfg.lr}; SAEs usually train at 1e-4 to 1e-3), then start again with --overwrite.")

    def run(self) -> SAETrainResult:
        """Train to ``total_steps`` (or report that a resumed run is already complete) and save the SAEs.

        A run that fails before its first checkpoint leaves nothing behind (no half run blocking a retry, no empty
        out dir); after a checkpoint, ``--resume`` continues it."""
        created = not self.out.exists()
        try:
            return self._run()
        except BaseException:
            if self.world.is_main and self.restored is None and not self.checkpointed:
                for path in self.layout.run_files():
                    if path.is_file():
                        path.unlink()
                if created and self.out.is_dir() and not any(self.out.iterdir()):
                    self.out.rmdir()
            raise
        finally:
            self.world.leave()

    def _run(self) -> SAETrainResult:
        cfg = self.cfg
        main = self.world.is_main  # one writer: rank 0
        if main:
            self.plan.clear()
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.layout.train_config, cfg.to_dict())
            rows = [r for r in read_metrics(self.layout.metrics) if r.get("step", 0) <= self.step]  # none after a resume
            atomic_write_text(self.layout.metrics, "".join(json.dumps(r) + "\n" for r in rows))
        t0 = time.perf_counter()
        if self.step >= self.total_steps:
            return self._complete(t0)
        self._skip_seen_rows()
        logger = _Logger(self.layout.metrics, cfg.wandb, cfg.to_dict()) if main else None
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train-sae", unit="step",
                   disable=not (cfg.progress and main))
        logs: dict[str, dict[str, float]] = {}
        try:
            while self.step < self.total_steps:
                try:
                    batch = next(self.store)
                except StopIteration:
                    print(f"the activation source ran out after {self.store.rows_served:,} rows; stopping early")
                    break
                logs = self.train_step(batch)
                bar.update(1)
                if self.step % cfg.log_interval == 0 or self.step == self.total_steps:
                    logs = self.world.gather_all(logs)  # module-parallel: every SAE's line
                    if logger is not None:
                        logger.log(self.step, self.store.rows_served, {s.label: logs[s.label] for s in self.specs})
                    first = logs[self.specs[0].label]
                    bar.set_postfix(fvu=f"{first['fvu']:.3f}", l0=f"{first['l0']:.1f}", dead=f"{first['dead']:.2f}")
                if self.step % cfg.ckpt_interval == 0 and self.step < self.total_steps:
                    self.save_checkpoint()
        finally:
            bar.close()
            if logger is not None:
                logger.close()
        self.save_checkpoint()
        dirs = self.save_final()
        logs = self.world.gather_all(logs)
        return SAETrainResult(self.out, dirs, self.step, self.store.rows_served, time.perf_counter() - t0,
                              self._final_metrics(logs))

    def _complete(self, t0: float) -> SAETrainResult:
        """A resumed run that had already reached its last step: save the SAEs if the kill came before that."""
        dirs = {s.label: self.layout.sae(s.label).root for s in self.specs}
        if not all(self.layout.sae(label).is_sae() for label in dirs):  # the same answer on every rank
            dirs = self.save_final()
        print(f"{self.out} is already complete ({self.step} of {self.total_steps} steps); nothing left to train.")
        return SAETrainResult(self.out, dirs, self.step, self.rows_done, time.perf_counter() - t0,
                              self._final_metrics({}))

    def _final_metrics(self, logs: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        """Per SAE, the last step's fvu, l0, dead and mse (from metrics.jsonl when this process logged none)."""
        rows = read_metrics(self.layout.metrics)
        logged = rows[-1]["saes"] if rows else {}
        nan = float("nan")
        return {s.label: {m: (logs.get(s.label) or logged.get(s.label) or {}).get(m, nan) for m in _FINAL_METRICS}
                for s in self.specs}

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Any]] | None:
        """Rank 0: every SAE's optimizer state and dead counters, other ranks' SAE weights copied into its own
        (module-parallel); other ranks: None. Every rank must call it."""
        mine = {s.label: {"weights": ({k: v.cpu() for k, v in self.saes[s.label].state_dict().items()}
                                      if self.world.module_parallel else None),
                          "optimizer": self.opts[s.label].state_dict(), "since_fired": self.since_fired[s.label]}
                for s in self.mine}
        every = self.world.gather(mine)
        if every is not None and self.world.module_parallel:
            for label, part in every.items():
                self.saes[label].load_state_dict(part["weights"])
        return every

    def save_checkpoint(self) -> None:
        every = self._collect()
        self.checkpointed = True
        if every is None:
            return
        name = self.layout.checkpoint(self.step).name
        self.layout.checkpoints.mkdir(parents=True, exist_ok=True)
        with atomic_dir(self.layout.checkpoint(self.step)) as tmp:
            for label, sae in self.saes.items():
                save_sae(sae, SAERunLayout.checkpoint_sae(tmp, label).root)
            torch.save({"optimizers": {k: v["optimizer"] for k, v in every.items()},
                        "since_fired": {k: v["since_fired"] for k, v in every.items()}},
                       SAERunLayout.trainer_blob(tmp))
            atomic_write_json(SAERunLayout.trainer_state(tmp), {
                "step": self.step, "rows_served": self.rows_done + self.store.rows_served, "scales": self.scales,
                "model_hash": self.model_hash})
        publish_latest(self.layout.checkpoints, name, keep=2)

    def _restore(self) -> None:
        ckpt = latest_checkpoint(self.out)
        state = read_json(SAERunLayout.trainer_state(ckpt))
        if state.get("model_hash", self.model_hash) != self.model_hash:
            raise RunDirError(f"{self.out} was trained on another model (hash {state['model_hash']}, this run_dir's "
                              f"model has {self.model_hash}); resume it with the model it started with, or train "
                              "into another --out-dir.")
        for label in self.saes:
            saved = load_sae(SAERunLayout.checkpoint_sae(ckpt, label).root, device=self.device)
            self.saes[label].load_state_dict(saved.state_dict())
        try:
            blob = torch.load(SAERunLayout.trainer_blob(ckpt), weights_only=True, map_location="cpu")
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
            raise SAECheckpointError(
                f"{SAERunLayout.trainer_blob(ckpt)} is truncated or corrupt ({type(err).__name__}); resume from an "
                "earlier checkpoint (point checkpoints/latest at it) or start again with --overwrite.") from err
        if "optimizers" not in blob:
            raise SAECheckpointError(f"{ckpt} was written by an older workbench (one optimizer for every SAE); "
                                     "this version keeps one per SAE. Start the run again with --overwrite.")
        for label, opt in self.opts.items():
            opt.load_state_dict(blob["optimizers"][label])
        self.since_fired = blob["since_fired"]
        self.scales = state["scales"]
        self.step = state["step"]
        self.rows_done = state["rows_served"]
        self.restored = ckpt
        print(f"resumed from {ckpt.name} (step {self.step}, {self.rows_done:,} rows)")

    def _skip_seen_rows(self) -> None:
        self.store.skip_to(self.rows_done)
        self.rows_done = 0

    def save_final(self) -> dict[str, Path]:
        """Rank 0 writes every SAE (gathered from the other ranks when module-parallel); every rank must call it."""
        self._collect()
        dirs = {s.label: self.layout.sae(s.label).root for s in self.specs}
        if not self.world.is_main:
            return dirs
        for spec in self.specs:
            sae = copy.deepcopy(self.saes[spec.label]).cpu()
            sae.fold_activation_norm_scaling_(self.scales[spec.hook],
                                              self.scales[spec.hook_out] if spec.hook_out else None)
            sae.cfg.device = "cpu"
            dirs[spec.label] = save_sae(sae, self.layout.sae(spec.label).root,
                                        {"training_steps": self.step,
                                         "training_rows": self.rows_done + self.store.rows_served})
        return dirs


def _computed_settings(cfg: SAETrainConfig) -> dict[str, Any]:
    """The settings that change what a run computes (those a resume may not change)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES}


def _source_identity(cfg: SAETrainConfig) -> Any:
    """What names a run's activations: a cache's shard checksums, else the token data's path."""
    if cfg.cache_dir:
        meta = read_meta(Path(cfg.cache_dir)) or {}
        return [r.get("sha256") for r in meta.get("shards", [])]
    return str(Path(cfg.data).resolve()) if cfg.data else str(Path(cfg.run_dir).resolve())


class _Logger:
    """``metrics.jsonl`` (always) and wandb (when a project is given; offline mode never blocks)."""

    def __init__(self, path: Path, wandb_project: str, config: dict[str, Any]) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self.run = None
        if wandb_project:
            try:
                import os

                import wandb

                os.environ.setdefault("WANDB_MODE", "offline")
                self.run = wandb.init(project=wandb_project, config=config, dir=str(path.parent))
            except Exception as err:  # wandb is optional: never let it stop training
                print(f"wandb disabled: {err}")

    def log(self, step: int, rows: int, logs: dict[str, dict[str, float]]) -> None:
        self.file.write(json.dumps({"step": step, "rows": rows, "saes": logs}) + "\n")
        self.file.flush()
        if self.run is not None:
            self.run.log({f"{name}/{k}": v for name, d in logs.items() for k, v in d.items()}, step=step)

    def close(self) -> None:
        self.file.close()
        if self.run is not None:
            self.run.finish()


def train_saes(cfg: SAETrainConfig, model=None) -> SAETrainResult:
    """Train the SAEs of ``cfg`` (see the module docstring); ``model`` defaults to ``interp.load(cfg.run_dir)``.

    The out dir is locked while it is written, so two trainings into it cannot mix their files; a run that fails
    before writing anything leaves no directory behind.
    """
    out = SAERunLayout(cfg.out_dir)
    if os.environ.get("RANK", "0") != "0":  # torchrun's other ranks write nothing: rank 0 holds the lock
        return SAETrainer(cfg, model).run()
    with dir_lock(out.lock, f"SAE run {out.root}"):
        return SAETrainer(cfg, model).run()


__all__ = ["LATEST", "SAETrainResult", "SAETrainer", "lr_at", "train_saes"]

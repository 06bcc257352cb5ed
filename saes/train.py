"""Train one or several SAEs/transcoders from one pass over a model's activations (``interp train-sae``).

Every SAE of a run reads the same batches of the activation store (cached shards or the model on the fly), so
four SAEs cost one activation pass, not four. Per step and SAE: inputs scaled to mean norm sqrt(d_in), loss
(MSE + sparsity with a warm-up, AuxK for dead TopK features), unit-norm decoder rows with the parallel gradient
removed, lr warm-up and linear decay. Checkpoints (weights, optimizer, store position, dead counters) are atomic
and ``resume=True`` continues a killed run; the final SAEs are saved with the scaling folded in, in SAELens'
format, each knowing the model it was trained on (``metadata.model_hash``).

>>> result = train_saes(SAETrainConfig(run_dir="runs/quickstart/model", hook="blocks.1.hook_resid_pre", k=32))
>>> result.sae_dirs   # {"topk-blocks.1.hook_resid_pre": Path("runs/saes/topk-blocks.1.hook_resid_pre")}
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from interp.analysis.activations.store import ActivationStore
from interp.errors import NonFiniteLossError, RunDirError
from interp.io import atomic_dir, atomic_write_json, git_commit, hash_state_dict, read_json
from interp.training.checkpoint import LATEST, latest_checkpoint, publish_latest
from saes.base import SAE, build_sae
from saes.format import load_sae, save_sae
from saes.train_config import SAESpec, SAETrainConfig


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
        self.device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.out = Path(cfg.out_dir)
        self._check_out_dir()
        self.model = model if model is not None else interp.load(cfg.run_dir, device=self.device)
        self.specs = cfg.specs()
        self.hooks = sorted({s.hook for s in self.specs} | {s.hook_out for s in self.specs if s.hook_out})
        self.store = self._store()
        meta = {"model_run": str(cfg.run_dir), "model_hash": hash_state_dict(self.model.state_dict()),
                "git_commit": git_commit(), "context_size": self.model.cfg.n_ctx, "prepend_bos": True}
        self.saes: dict[str, SAE] = {}
        self.scales: dict[str, float] = {}
        for spec in self.specs:
            d_out = self.store.widths[spec.hook_out] if spec.hook_out else None
            sae_cfg = spec.sae_config(self.store.widths[spec.hook], d_out or self.store.widths[spec.hook], meta)
            sae_cfg.device = self.device
            with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
                torch.manual_seed(cfg.seed + len(self.saes))
                self.saes[spec.label] = build_sae(sae_cfg)
        for hook in self.hooks:
            self.scales[hook] = (math.sqrt(self.store.widths[hook]) / self.store.mean_norm(hook)
                                 if cfg.normalize_activations == "expected_average_only_in" else 1.0)
        self.opt = torch.optim.Adam([
            {"params": list(self.saes[s.label].parameters()), "lr": s.lr or cfg.lr, "base_lr": s.lr or cfg.lr}
            for s in self.specs], betas=(0.9, 0.999))
        self.since_fired = {name: torch.zeros(sae.cfg.d_sae, dtype=torch.long) for name, sae in self.saes.items()}
        self.step = 0
        self.total_steps = max(1, cfg.n_tokens // cfg.batch_size)
        if cfg.resume and latest_checkpoint(self.out) is not None:
            self._restore()

    # -- set-up --------------------------------------------------------------------------------------------
    def _check_out_dir(self) -> None:
        cfg = self.cfg
        busy = (self.out / "train_config.json").exists()
        if busy and not (cfg.resume or cfg.overwrite):
            raise RunDirError(f"{self.out} already holds an SAE run; pass --resume to continue it or --overwrite to "
                              "start again, or choose another --out-dir.")
        if busy and cfg.overwrite:
            import shutil

            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)

    def _store(self) -> ActivationStore:
        cfg = self.cfg
        kw = dict(batch_size=cfg.batch_size, buffer_size=max(cfg.buffer_size, 2 * cfg.batch_size), seed=cfg.seed,
                  exclude_bos=cfg.exclude_bos)
        if cfg.cache_dir:
            return ActivationStore.from_cache(cfg.cache_dir, self.hooks, model=self.model, **kw)
        from interp.data.shards import TokenShards
        from interp.models.loading import run_data

        data = TokenShards(cfg.data) if cfg.data else run_data(cfg.run_dir)
        return ActivationStore.from_model(self.model, data, self.hooks, **kw)

    # -- training --------------------------------------------------------------------------------------------
    def _dead_mask(self, name: str) -> torch.Tensor:
        return (self.since_fired[name] >= self.cfg.dead_tokens).to(self.device)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
        cfg = self.cfg
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, cfg, self.total_steps, group["base_lr"])
        sparsity = min(1.0, (self.step + 1) / max(1, cfg.sparsity_warmup_steps))
        self.opt.zero_grad(set_to_none=True)
        logs: dict[str, dict[str, float]] = {}
        for spec in self.specs:
            sae = self.saes[spec.label]
            x = batch[spec.hook].to(self.device) * self.scales[spec.hook]
            target = batch[spec.hook_out].to(self.device) * self.scales[spec.hook_out] if spec.hook_out else x
            out = sae.training_loss(x, target if spec.hook_out else None, sparsity_scale=sparsity,
                                    dead_mask=self._dead_mask(spec.label))
            if not torch.isfinite(out.loss):
                raise NonFiniteLossError(
                    f"SAE {spec.label!r}: loss became {float(out.loss)} at step {self.step}; nothing was updated. "
                    f"Lower the lr (now {cfg.lr}) or the sparsity coefficient, or check the activations for NaNs.")
            out.loss.backward()
            if cfg.unit_decoder:
                sae.remove_decoder_parallel_grad_()
            fired = out.fired.cpu()
            self.since_fired[spec.label] += len(x)
            self.since_fired[spec.label][fired] = 0
            with torch.no_grad():
                var = (target - target.mean(0)).pow(2).sum(-1).mean()
                logs[spec.label] = {"loss": float(out.loss), "fvu": float(out.parts["mse"] / var), "l0": float(out.l0),
                                    "dead": float(self._dead_mask(spec.label).float().mean()),
                                    **{k: float(v) for k, v in out.parts.items()}}
        self.opt.step()
        for spec in self.specs:
            sae = self.saes[spec.label]
            if cfg.unit_decoder:
                sae.normalize_decoder_()
            sae.after_step_()
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

    def run(self) -> SAETrainResult:
        cfg = self.cfg
        atomic_write_json(self.out / "train_config.json", cfg.to_dict())
        logger = _Logger(self.out / "metrics.jsonl", cfg.wandb, cfg.to_dict())
        t0 = time.perf_counter()
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train-sae", unit="step", disable=not cfg.progress)
        logs: dict[str, dict[str, float]] = {}
        while self.step < self.total_steps:
            try:
                batch = next(self.store)
            except StopIteration:
                print(f"the activation source ran out after {self.store.rows_served:,} rows; stopping early")
                break
            logs = self.train_step(batch)
            bar.update(1)
            if self.step % cfg.log_interval == 0 or self.step == self.total_steps:
                logger.log(self.step, self.store.rows_served, logs)
                first = next(iter(logs.values()))
                bar.set_postfix(fvu=f"{first['fvu']:.3f}", l0=f"{first['l0']:.1f}", dead=f"{first['dead']:.2f}")
            if self.step % cfg.ckpt_interval == 0 and self.step < self.total_steps:
                self.save_checkpoint()
        bar.close()
        self.save_checkpoint()
        dirs = self.save_final()
        logger.close()
        return SAETrainResult(self.out, dirs, self.step, self.store.rows_served, time.perf_counter() - t0,
                              {k: {m: v[m] for m in ("fvu", "l0", "dead", "mse")} for k, v in logs.items()})

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        root = self.out / "checkpoints"
        name = f"step_{self.step:06d}"
        with atomic_dir(root / name) as tmp:
            for label, sae in self.saes.items():
                save_sae(sae, tmp / "saes" / label)
            torch.save({"optimizer": self.opt.state_dict(), "since_fired": self.since_fired}, tmp / "trainer.pt")
            atomic_write_json(tmp / "trainer_state.json", {"step": self.step, "rows_served": self.store.rows_served,
                                                           "scales": self.scales})
        publish_latest(root, name, keep=2)

    def _restore(self) -> None:
        ckpt = latest_checkpoint(self.out)
        state = read_json(ckpt / "trainer_state.json")
        for label in self.saes:
            self.saes[label].load_state_dict(load_sae(ckpt / "saes" / label, device=self.device).state_dict())
        blob = torch.load(ckpt / "trainer.pt", weights_only=True, map_location="cpu")
        self.opt.load_state_dict(blob["optimizer"])
        self.since_fired = blob["since_fired"]
        self.scales = state["scales"]
        self.step = state["step"]
        while self.store.rows_served < state["rows_served"]:  # the store is deterministic: skip what was seen
            next(self.store)
        print(f"resumed from {ckpt.name} (step {self.step}, {self.store.rows_served:,} rows)")

    def save_final(self) -> dict[str, Path]:
        dirs = {}
        for spec in self.specs:
            sae = copy.deepcopy(self.saes[spec.label]).cpu()
            sae.fold_activation_norm_scaling_(self.scales[spec.hook],
                                              self.scales[spec.hook_out] if spec.hook_out else None)
            sae.cfg.device = "cpu"
            dirs[spec.label] = save_sae(sae, self.out / spec.label,
                                        {"training_steps": self.step, "training_rows": self.store.rows_served})
        return dirs


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
    """Train the SAEs of ``cfg`` (see the module docstring); ``model`` defaults to ``interp.load(cfg.run_dir)``."""
    return SAETrainer(cfg, model).run()


__all__ = ["LATEST", "SAETrainResult", "SAETrainer", "lr_at", "train_saes"]

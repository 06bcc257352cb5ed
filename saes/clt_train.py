"""Training a cross-layer transcoder on a model's MLP inputs and outputs (``interp train-clt``).

Every layer's MLP input and output come from ONE forward pass per model batch (``ActivationStore.from_model``:
``run_with_cache`` with a names filter for all 2 * n_layers hooks, rows shuffled in a buffer, aligned across hooks).
Per step: the CLT's loss (MSE summed over layers + each layer's sparsity / AuxK term, the sparsity ramped up over
``sparsity_warmup_steps``), Adam with the SAE trainer's lr schedule (``saes.train.lr_at``: warm-up, constant, linear
decay), unit-norm latents (concatenated decoders) with the parallel gradient removed, thresholds kept >= 0.

With an ``out_dir`` (a ``CLTLayout``), every ``ckpt_interval`` steps an atomic checkpoint holds the CLT, the
optimizer state, the dead-latent counters and the losses so far (the two newest are kept), and ``resume=True``
continues a killed run from the latest one, skipping the rows already trained on (the activation store is
deterministic), so it ends with the weights an uninterrupted run has. A resume is refused when the model, the
tokens, the CLT's shape or a training setting that changes what is computed differ (``RESUMABLE_CHANGES`` may
change); a new run refuses a non-empty out_dir unless ``overwrite=True`` (``saes.run_dir.check_clt_out_dir``).

>>> result = train_clt(model, tokens, CLTConfig(n_layers=2, d_model=32, d_sae=128, activation="topk", k=8),
...                    CLTTrainConfig(n_tokens=200_000, out_dir="runs/clt/tiny"))
>>> result.clt, result.final["fvu"]          # the trained CLT; each layer's FVU on the last batch
>>> result = train_clt(None, "runs/quickstart/model", clt_cfg)   # the run's model and training tokens
>>> train_clt(model, tokens, clt_cfg, replace(train_cfg, resume=True))   # a killed run, continued
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from interp.analysis.activations.store import ActivationStore
from interp.errors import NonFiniteLossError, RunDirError
from interp.io import (
    atomic_dir,
    atomic_write_json,
    dir_lock,
    git_commit,
    hash_state_dict,
    read_json,
    sha256_file,
)
from interp.models.tl import HookedTransformer
from interp.training.checkpoint import latest_checkpoint, publish_latest
from saes.clt import CLTConfig, CrossLayerTranscoder, check_clt_fits
from saes.clt_format import clt_state, load_clt, load_clt_state, save_clt
from saes.errors import SAECheckpointError, SAEConfigError
from saes.layout import CLTLayout
from saes.run_dir import OutDirPlan, check_clt_out_dir
from saes.train import lr_at


@dataclass(kw_only=True)
class CLTTrainConfig:
    """How a CLT is trained (its shape is its ``CLTConfig``)."""

    n_tokens: int = 200_000
    """Rows (token positions) to train on (> 0); the number of steps is n_tokens // batch_size."""
    batch_size: int = 1024
    """Rows per optimizer step (> 0)."""
    lr: float = 1e-3
    """Adam learning rate after warm-up (> 0)."""
    warmup_steps: int = 20
    """Steps of linear lr warm-up from 0 (>= 0; 0: none)."""
    decay_start: float = 0.8
    """Fraction of the steps after which the lr decays linearly to 0 (0..1; 1: no decay)."""
    sparsity_warmup_steps: int = 50
    """Steps over which the L1/L0 penalties ramp up linearly from 0 (>= 0; 0: full strength at once)."""
    dead_tokens: int = 50_000
    """A latent is dead after this many rows without firing (> 0); dead TopK-family latents get the AuxK loss."""
    init_from_data: bool = True
    """Start from the first rows of the activations (as ``train-sae`` starts transcoders): output biases at the MLP
    outputs' means, pre-activations centred, decoders at zero; false: zero biases and random decoders."""
    unit_decoder: bool = True
    """Keep each latent's concatenated decoders at unit norm (and remove the gradient that only changes it)."""
    buffer_size: int = 2**14
    """Rows held in the shuffle buffer (> 0; at least 2 * batch_size is used)."""
    model_batch_size: int = 16
    """Sequences per forward pass of the model (> 0)."""
    exclude_bos: bool = True
    """Leave the BOS position out of training (its norms are outliers)."""
    seed: int = 0
    """Seed of the initialisation and the shuffle."""
    progress: bool = True
    """Show a progress bar."""
    out_dir: str = ""
    """Where to save the trained CLT (workbench format), train_config.json and checkpoints/; "": nothing is saved
    (no checkpoints, no resume)."""
    ckpt_interval: int = 200
    """Steps between checkpoints in out_dir/checkpoints (> 0; the two newest are kept); a final one is always
    written."""
    resume: bool = False
    """Continue the run in out_dir from its latest checkpoint; the model, the tokens, the CLT's shape and the
    settings that change what is computed must match."""
    overwrite: bool = False
    """Train again in an out_dir that is not empty: deletes its CLT, checkpoints and train_config.json (other files
    are kept)."""

    def __post_init__(self) -> None:
        for name in ("n_tokens", "batch_size", "buffer_size", "model_batch_size", "dead_tokens", "ckpt_interval"):
            if getattr(self, name) <= 0:
                raise SAEConfigError(f"{name}={getattr(self, name)} must be positive.")
        if not self.lr > 0 or self.warmup_steps < 0 or self.sparsity_warmup_steps < 0:
            raise SAEConfigError(f"lr={self.lr} must be > 0, warmup_steps={self.warmup_steps} and "
                                 f"sparsity_warmup_steps={self.sparsity_warmup_steps} >= 0.")
        if not 0 <= self.decay_start <= 1:
            raise SAEConfigError(f"decay_start={self.decay_start} must lie in [0, 1].")
        if self.resume and self.overwrite:
            raise SAEConfigError("Choose one of resume (continue the run) and overwrite (start it again).")
        if (self.resume or self.overwrite) and not self.out_dir:
            raise SAEConfigError("resume and overwrite need an out_dir (the run's directory).")

    def train_dict(self) -> dict[str, Any]:
        """This config's own fields (a subclass's extra ones left out): what ``train_config.json`` holds."""
        return {f.name: getattr(self, f.name) for f in fields(CLTTrainConfig)}


# Settings that may change on resume: they do not change what the run computes.
RESUMABLE_CHANGES = frozenset({"progress", "ckpt_interval", "resume", "overwrite", "out_dir"})


@dataclass
class CLTTrainResult:
    clt: CrossLayerTranscoder
    losses: list[float]  # the total loss of every step (a resumed run's include the steps before the kill)
    steps: int
    rows: int
    final: dict[str, list[float]]  # per layer on the last batch: fvu, mse, l0, dead (fraction)
    out_dir: Path | None


def data_identity(data: Any) -> str | None:
    """A short content hash of the tokens (a tensor's values, a shard directory's index with each shard's sha256);
    None for other inputs, which a resume then cannot check."""
    from interp.data.shards import INDEX, TokenShards

    if isinstance(data, torch.Tensor):
        return hash_state_dict({"tokens": data})
    if isinstance(data, TokenShards):
        return sha256_file(data.path / INDEX)[:16]
    return None


class CLTTrainer:
    """One training run of a CLT (see the module docstring); ``train_clt`` builds and runs it."""

    def __init__(self, model: HookedTransformer, data: Any, clt: CLTConfig | CrossLayerTranscoder,
                 cfg: CLTTrainConfig, plan: OutDirPlan | None = None, model_run: str | None = None) -> None:
        self.model, self.cfg, self.plan, self.model_run = model, cfg, plan, model_run
        self.layout = CLTLayout(cfg.out_dir) if cfg.out_dir else None
        self.device = model.cfg.device
        if isinstance(clt, CLTConfig):
            check_clt_fits(model, clt)
            with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
                torch.manual_seed(cfg.seed)
                clt = CrossLayerTranscoder(replace(clt, device=str(self.device), metadata=dict(clt.metadata)))
        check_clt_fits(model, clt.cfg)
        self.clt = clt.to(self.device)
        n = clt.n_layers
        self.hooks_in = [clt.cfg.hook_in_name(layer) for layer in range(n)]
        self.hooks_out = [clt.cfg.hook_out_name(layer) for layer in range(n)]
        self.store = ActivationStore.from_model(
            model, data, self.hooks_in + self.hooks_out, batch_size=cfg.batch_size,
            buffer_size=max(cfg.buffer_size, 2 * cfg.batch_size), seed=cfg.seed, model_batch_size=cfg.model_batch_size,
            exclude_bos=cfg.exclude_bos)
        if cfg.init_from_data and not (plan is not None and plan.resume):
            self.clt.init_from_data_([self.store.sample(h).to(self.device) for h in self.hooks_in],
                                     [self.store.sample(h).to(self.device) for h in self.hooks_out])
        self.opt = torch.optim.Adam(self.clt.parameters(), lr=cfg.lr)
        self.since_fired = [torch.zeros(w, dtype=torch.long) for w in clt.cfg.widths]
        self.total = max(1, cfg.n_tokens // cfg.batch_size)
        self.step, self.rows_done, self.complete = 0, 0, False
        self.losses: list[float] = []
        self.final: dict[str, list[float]] = {}
        self.model_hash = hash_state_dict(model.state_dict())
        self.data_id = data_identity(data)
        self.restored: Path | None = None
        self.checkpointed = False
        if plan is not None and plan.resume:
            self._restore()

    # -- training --------------------------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> None:
        cfg, clt, device = self.cfg, self.clt, self.device
        xs, targets = [batch[h].to(device) for h in self.hooks_in], [batch[h].to(device) for h in self.hooks_out]
        for group in self.opt.param_groups:
            group["lr"] = lr_at(self.step, cfg, self.total, cfg.lr)  # type: ignore[arg-type]  (reads warmup_steps, decay_start)
        dead = [(s >= cfg.dead_tokens).to(device) for s in self.since_fired]
        out = clt.training_loss(xs, targets, dead_masks=dead,
                                sparsity_scale=min(1.0, (self.step + 1) / max(1, cfg.sparsity_warmup_steps)))
        if not torch.isfinite(out.loss):
            raise NonFiniteLossError(f"The CLT's loss became {float(out.loss.detach())} at step {self.step}; lower the "
                                     f"lr (now {cfg.lr}) or the sparsity coefficient.")
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if cfg.unit_decoder:
            clt.remove_decoder_parallel_grad_()
        self.opt.step()
        if cfg.unit_decoder:
            clt.normalize_decoder_()
        clt.after_step_()
        for layer, fired in enumerate(out.fired):
            self.since_fired[layer] += len(xs[0])
            self.since_fired[layer][fired.cpu()] = 0
        self.losses.append(float(out.loss.detach()))
        with torch.no_grad():
            var = torch.stack([(t - t.mean(0)).pow(2).sum(-1).mean() for t in targets])
            self.final = {"fvu": (out.mse / var).tolist(), "mse": out.mse.tolist(), "l0": out.l0.tolist(),
                          "dead": [float(d.float().mean()) for d in dead]}
        self.step += 1

    def run(self) -> CLTTrainResult:
        """Train to the last step (or report that a resumed run is already complete) and save the CLT. A run that
        fails before its first checkpoint leaves no train_config.json behind."""
        try:
            return self._run()
        except BaseException:
            if self.layout is not None and self.restored is None and not self.checkpointed:
                self.layout.train_config.unlink(missing_ok=True)
            raise

    def _run(self) -> CLTTrainResult:
        cfg, layout = self.cfg, self.layout
        if layout is not None:
            if self.plan is not None:
                self.plan.clear()
            layout.root.mkdir(parents=True, exist_ok=True)
            atomic_write_json(layout.train_config, cfg.train_dict())
        if self.complete or self.step >= self.total:
            return self._finished()
        self._skip_seen_rows()
        bar = tqdm(total=self.total, initial=self.step, desc="train-clt", unit="step", disable=not cfg.progress)
        try:
            while self.step < self.total:
                try:
                    batch = next(self.store)
                except StopIteration:
                    print(f"the tokens ran out after {self.store.rows_served:,} rows; stopping after {self.step} steps")
                    break
                self.train_step(batch)
                bar.update(1)
                bar.set_postfix(loss=f"{self.losses[-1]:.3g}", fvu=f"{sum(self.final['fvu']) / self.clt.n_layers:.3f}",
                                l0=f"{sum(self.final['l0']):.1f}")
                if layout is not None and self.step % cfg.ckpt_interval == 0 and self.step < self.total:
                    self.save_checkpoint()
        finally:
            bar.close()
        self.complete = True
        if layout is not None:
            self.save_checkpoint()
            self.save_final()
        return self._result()

    def _finished(self) -> CLTTrainResult:
        """A resumed run that had already ended: save the CLT if the kill came before that."""
        assert self.layout is not None
        if not self.layout.is_clt():
            self.save_final()
        print(f"{self.layout.root} is already complete ({self.step} of {self.total} steps); nothing left to train.")
        return self._result()

    def _result(self) -> CLTTrainResult:
        return CLTTrainResult(self.clt, self.losses, self.step, self.rows_done + self.store.rows_served, self.final,
                              self.layout.root if self.layout is not None else None)

    def _meta(self) -> dict[str, Any]:
        return {"model_hash": self.model_hash, "git_commit": git_commit(), "training_steps": self.step,
                "training_rows": self.rows_done + self.store.rows_served, "train_config": self.cfg.train_dict(),
                **({"model_run": self.model_run} if self.model_run else {})}

    def save_final(self) -> Path:
        assert self.layout is not None
        return save_clt(self.clt, self.layout.root, self._meta())

    # -- checkpoints -----------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        layout = self.layout
        assert layout is not None
        ckpt = layout.checkpoint(self.step)
        layout.checkpoints.mkdir(parents=True, exist_ok=True)
        with atomic_dir(ckpt) as tmp:
            save_clt(self.clt, CLTLayout.checkpoint_clt(tmp).root, self._meta())
            torch.save({"optimizer": self.opt.state_dict(), "since_fired": self.since_fired,
                        "losses": torch.tensor(self.losses, dtype=torch.float64)}, CLTLayout.trainer_blob(tmp))
            atomic_write_json(CLTLayout.trainer_state(tmp), {
                "step": self.step, "rows_served": self.rows_done + self.store.rows_served, "complete": self.complete,
                "model_hash": self.model_hash, "data": self.data_id, "final": self.final})
        publish_latest(layout.checkpoints, ckpt.name, keep=2)
        self.checkpointed = True

    def _differences(self, ckpt: Path, state: dict[str, Any]) -> list[str]:
        """What differs between the saved run and this one in a way that changes what is computed."""
        assert self.layout is not None
        found = []
        if state.get("model_hash") != self.model_hash:
            found.append(f"the model (hash {state.get('model_hash')} there, {self.model_hash} here): it was trained on "
                         "another model")
        if state.get("data") and self.data_id and state["data"] != self.data_id:
            found.append(f"the tokens (hash {state['data']} there, {self.data_id} here)")
        saved = read_json(self.layout.train_config) if self.layout.train_config.exists() else {}
        new = self.cfg.train_dict()
        found += [f"{k}: {saved[k]!r} -> {new[k]!r}" for k in new
                  if k in saved and k not in RESUMABLE_CHANGES and saved[k] != new[k]]
        shape = read_json(CLTLayout.checkpoint_clt(ckpt).config).get("config", {})
        now = self.clt.cfg.to_dict()
        found += [f"{k}: {shape[k]!r} -> {now[k]!r}" for k in now if k != "metadata" and shape.get(k) != now[k]]
        return found

    def _restore(self) -> None:
        assert self.layout is not None
        out = self.layout.root
        ckpt = latest_checkpoint(out)
        assert ckpt is not None
        state = read_json(CLTLayout.trainer_state(ckpt))
        diff = self._differences(ckpt, state)
        if diff:
            raise RunDirError(
                f"{out} holds a CLT run that differs from this one ({'; '.join(diff)}); resume must continue the same "
                f"computation (only {sorted(RESUMABLE_CHANGES - {'resume', 'overwrite'})} may change). Resume with "
                "the saved model and settings, train into another --out-dir, or start again with --overwrite.")
        try:
            saved = load_clt(CLTLayout.checkpoint_clt(ckpt).root, device=str(self.device))
            blob = torch.load(CLTLayout.trainer_blob(ckpt), weights_only=True, map_location="cpu")
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, SAECheckpointError) as err:
            raise SAECheckpointError(
                f"Checkpoint {ckpt} is truncated or corrupt ({type(err).__name__}: {err}); resume from an earlier one "
                "(point checkpoints/latest at it) or start again with --overwrite.") from err
        load_clt_state(self.clt, clt_state(saved), str(CLTLayout.checkpoint_clt(ckpt).weights))
        self.opt.load_state_dict(blob["optimizer"])
        self.since_fired = list(blob["since_fired"])
        self.losses = blob["losses"].tolist()
        self.step, self.rows_done = state["step"], state["rows_served"]
        self.complete, self.final = bool(state.get("complete")), state.get("final") or {}
        self.restored = ckpt
        print(f"resumed from {ckpt.name} (step {self.step}, {self.rows_done:,} rows)")

    def _skip_seen_rows(self) -> None:
        self.store.skip_to(self.rows_done)
        self.rows_done = 0


def train_clt(model: HookedTransformer | None, data, clt: CLTConfig | CrossLayerTranscoder,
              cfg: CLTTrainConfig | None = None, *, model_run: str | None = None) -> CLTTrainResult:
    """Train ``clt`` (a ``CLTConfig``: a fresh, seeded CLT) on ``model``'s MLP inputs and outputs over ``data``:
    a token tensor ``[n_seq, pos]``, ``TokenShards``, or a run directory (its training tokens; ``model=None``
    loads its model). ``model_run``: the model's run directory, recorded in the CLT's metadata (a run directory
    given as ``data`` is recorded anyway). With ``cfg.out_dir`` the directory is locked while it is written."""
    cfg = cfg or CLTTrainConfig()
    if not cfg.out_dir:
        return _train(model, data, clt, cfg, None, model_run)
    layout = CLTLayout(cfg.out_dir)
    with dir_lock(layout.lock, f"CLT run {layout.root}"):
        plan = check_clt_out_dir(layout.root, cfg.resume, cfg.overwrite)  # before the model loads: fail fast
        return _train(model, data, clt, cfg, plan, model_run)


def _train(model: HookedTransformer | None, data, clt: CLTConfig | CrossLayerTranscoder, cfg: CLTTrainConfig,
           plan: OutDirPlan | None, model_run: str | None) -> CLTTrainResult:
    import interp
    from interp.models.loading import run_data

    if isinstance(data, (str, Path)):
        model_run = str(data)
        model = model if model is not None else interp.load(model_run)
        data = run_data(model_run)
    if model is None:
        raise SAEConfigError("train_clt needs the model, or a run directory as data to load it from.")
    return CLTTrainer(model, data, clt, cfg, plan, model_run).run()


__all__ = ["RESUMABLE_CHANGES", "CLTTrainConfig", "CLTTrainResult", "CLTTrainer", "data_identity", "train_clt"]

"""Training a cross-layer transcoder on a model's MLP inputs and outputs.

Every layer's MLP input and output come from ONE forward pass per model batch (``ActivationStore.from_model``:
``run_with_cache`` with a names filter for all 2 * n_layers hooks, rows shuffled in a buffer, aligned across hooks).
Per step: the CLT's loss (MSE summed over layers + each layer's sparsity / AuxK term, the sparsity ramped up over
``sparsity_warmup_steps``), Adam with the SAE trainer's lr schedule (``saes.train.lr_at``: warm-up, constant, linear
decay), unit-norm latents (concatenated decoders) with the parallel gradient removed, thresholds kept >= 0. A small,
plain loop (like ``saes/toy.py``'s): no checkpoints or resume; the SAE trainer (``train.py``) trains per-layer SAEs.

>>> result = train_clt(model, tokens, CLTConfig(n_layers=2, d_model=32, d_sae=128, activation="topk", k=8),
...                    CLTTrainConfig(n_tokens=200_000, out_dir="runs/clt/tiny"))
>>> result.clt, result.final["fvu"]          # the trained CLT; each layer's FVU on the last batch
>>> result = train_clt(None, "runs/quickstart/model", clt_cfg)   # the run's model and training tokens
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import trange

from interp.analysis.activations.store import ActivationStore
from interp.errors import NonFiniteLossError
from interp.io import git_commit, hash_state_dict
from interp.models.tl import HookedTransformer
from saes.clt import CLTConfig, CrossLayerTranscoder, check_clt_fits
from saes.clt_format import save_clt
from saes.errors import SAEConfigError
from saes.train import lr_at


@dataclass(kw_only=True)
class CLTTrainConfig:
    """How a CLT is trained (its shape is its ``CLTConfig``)."""

    n_tokens: int = 200_000
    """Rows (token positions) to train on; steps = n_tokens // batch_size."""
    batch_size: int = 1024
    """Rows per optimizer step."""
    lr: float = 1e-3
    """Adam learning rate after warm-up."""
    warmup_steps: int = 20
    """Steps of linear lr warm-up (0: none)."""
    decay_start: float = 0.8
    """Fraction of the steps after which the lr decays linearly to 0 (1: no decay)."""
    sparsity_warmup_steps: int = 50
    """Steps over which the L1/L0 penalties ramp up from 0."""
    dead_tokens: int = 50_000
    """A latent is dead after this many rows without firing (dead TopK-family latents get the AuxK loss)."""
    unit_decoder: bool = True
    """Keep each latent's concatenated decoders at unit norm."""
    buffer_size: int = 2**14
    """Rows held in the shuffle buffer (at least 2 * batch_size is used)."""
    model_batch_size: int = 16
    """Sequences per forward pass of the model."""
    exclude_bos: bool = True
    """Leave the BOS position out (its norms are outliers)."""
    seed: int = 0
    """Seed of the initialisation and the shuffle."""
    progress: bool = True
    """Show a progress bar."""
    out_dir: str = ""
    """Where to save the trained CLT (``saes.clt_format.save_clt``); "": not saved."""

    def __post_init__(self) -> None:
        for name in ("n_tokens", "batch_size", "buffer_size", "model_batch_size", "dead_tokens"):
            if getattr(self, name) <= 0:
                raise SAEConfigError(f"{name}={getattr(self, name)} must be positive.")
        if not self.lr > 0 or self.warmup_steps < 0 or self.sparsity_warmup_steps < 0:
            raise SAEConfigError(f"lr={self.lr} must be > 0, warmup_steps={self.warmup_steps} and "
                                 f"sparsity_warmup_steps={self.sparsity_warmup_steps} >= 0.")
        if not 0 <= self.decay_start <= 1:
            raise SAEConfigError(f"decay_start={self.decay_start} must lie in [0, 1].")


@dataclass
class CLTTrainResult:
    clt: CrossLayerTranscoder
    losses: list[float]  # the total loss of every step
    steps: int
    rows: int
    final: dict[str, list[float]]  # per layer on the last batch: fvu, mse, l0, dead (fraction)
    out_dir: Path | None


def train_clt(model: HookedTransformer | None, data, clt: CLTConfig | CrossLayerTranscoder,
              cfg: CLTTrainConfig | None = None) -> CLTTrainResult:
    """Train ``clt`` (a ``CLTConfig``: a fresh, seeded CLT) on ``model``'s MLP inputs and outputs over ``data``:
    a token tensor ``[n_seq, pos]``, ``TokenShards``, or a run directory (its training tokens; ``model=None``
    loads its model)."""
    import interp
    from interp.models.loading import run_data

    cfg = cfg or CLTTrainConfig()
    run_dir = str(data) if isinstance(data, (str, Path)) else None
    if run_dir is not None:
        model = model if model is not None else interp.load(run_dir)
        data = run_data(run_dir)
    if model is None:
        raise SAEConfigError("train_clt needs the model, or a run directory as data to load it from.")
    device = model.cfg.device
    if isinstance(clt, CLTConfig):
        check_clt_fits(model, clt)
        with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
            torch.manual_seed(cfg.seed)
            clt = CrossLayerTranscoder(replace(clt, device=str(device), metadata=dict(clt.metadata)))
    check_clt_fits(model, clt.cfg)
    clt = clt.to(device)
    n = clt.n_layers
    hooks_in = [clt.cfg.hook_in_name(layer) for layer in range(n)]
    hooks_out = [clt.cfg.hook_out_name(layer) for layer in range(n)]
    store = ActivationStore.from_model(model, data, hooks_in + hooks_out, batch_size=cfg.batch_size,
                                       buffer_size=max(cfg.buffer_size, 2 * cfg.batch_size), seed=cfg.seed,
                                       model_batch_size=cfg.model_batch_size, exclude_bos=cfg.exclude_bos)
    opt = torch.optim.Adam(clt.parameters(), lr=cfg.lr)
    since_fired = [torch.zeros(w, dtype=torch.long) for w in clt.cfg.widths]
    total = max(1, cfg.n_tokens // cfg.batch_size)
    losses: list[float] = []
    final: dict[str, list[float]] = {}
    bar = trange(total, desc="train-clt", unit="step", disable=not cfg.progress)
    for step in bar:
        try:
            batch = next(store)
        except StopIteration:
            print(f"the tokens ran out after {store.rows_served:,} rows; stopping after {step} steps")
            break
        xs, targets = [batch[h].to(device) for h in hooks_in], [batch[h].to(device) for h in hooks_out]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, total, cfg.lr)  # type: ignore[arg-type]  (reads warmup_steps, decay_start)
        dead = [(s >= cfg.dead_tokens).to(device) for s in since_fired]
        out = clt.training_loss(xs, targets, sparsity_scale=min(1.0, (step + 1) / max(1, cfg.sparsity_warmup_steps)),
                                dead_masks=dead)
        if not torch.isfinite(out.loss):
            raise NonFiniteLossError(f"The CLT's loss became {float(out.loss.detach())} at step {step}; lower the lr "
                                     f"(now {cfg.lr}) or the sparsity coefficient.")
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if cfg.unit_decoder:
            clt.remove_decoder_parallel_grad_()
        opt.step()
        if cfg.unit_decoder:
            clt.normalize_decoder_()
        clt.after_step_()
        for layer, fired in enumerate(out.fired):
            since_fired[layer] += len(xs[0])
            since_fired[layer][fired.cpu()] = 0
        losses.append(float(out.loss.detach()))
        with torch.no_grad():
            var = torch.stack([(t - t.mean(0)).pow(2).sum(-1).mean() for t in targets])
            final = {"fvu": (out.mse / var).tolist(), "mse": out.mse.tolist(), "l0": out.l0.tolist(),
                     "dead": [float(d.float().mean()) for d in dead]}
        bar.set_postfix(loss=f"{losses[-1]:.3g}", fvu=f"{sum(final['fvu']) / n:.3f}", l0=f"{float(out.l0.sum()):.1f}")
    out_dir = None
    if cfg.out_dir:
        meta: dict[str, Any] = {"model_hash": hash_state_dict(model.state_dict()), "git_commit": git_commit(),
                                "training_steps": len(losses), "training_rows": store.rows_served,
                                "train_config": asdict(cfg), **({"model_run": run_dir} if run_dir else {})}
        out_dir = save_clt(clt, cfg.out_dir, meta)
    return CLTTrainResult(clt, losses, len(losses), store.rows_served, final, out_dir)


__all__ = ["CLTTrainConfig", "CLTTrainResult", "train_clt"]

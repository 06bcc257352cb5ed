"""Options of ``interp train-sae`` (each field is a flag; ``--config x.json`` fills them from a file).

One run trains one SAE from the flags, or several from ``saes`` (a list of ``SAESpec`` objects or dicts), all from
one pass over the activations:

    {"run_dir": "runs/quickstart/model", "out_dir": "runs/saes", "n_tokens": 2000000,
     "saes": [{"name": "topk-resid1", "hook": "blocks.1.hook_resid_pre", "architecture": "topk", "k": 32},
              {"name": "tc-mlp0", "hook": "blocks.0.ln2.hook_normalized", "hook_out": "blocks.0.hook_mlp_out",
               "architecture": "topk", "k": 16}]}

Each per-SAE field is declared once: ``SAEHyperparams`` (saes/config.py) holds the hyperparameters an SAE's config
shares, ``SAESpec`` adds what a training run needs to build one, and ``SAETrainConfig`` inherits ``SAESpec``: its
per-SAE fields (``--hook``, ``--architecture``, ``--k``, ...) describe the single SAE trained when ``saes`` is
empty. ``SAESpec.sae_config`` is the one place a spec becomes an ``SAEConfig``.

>>> cfg = SAETrainConfig(run_dir="runs/quickstart/model", out_dir="runs/saes", saes=[
...     SAESpec(hook="blocks.1.hook_resid_pre", architecture="topk", k=32, expansion=16)])
>>> [s.label for s in cfg.specs()]
['topk-blocks.1.hook_resid_pre']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from saes.config import NORMALIZATIONS, SAEConfig, SAEHyperparams
from saes.errors import SAEConfigError
from saes.registry import architecture_class


@dataclass(kw_only=True)
class SAESpec(SAEHyperparams):
    """One SAE (or transcoder) of a training run: what it reads, its architecture, its width and hyperparameters."""

    hook: str
    """The hook whose activations the SAE reads, e.g. blocks.1.hook_resid_pre (required)."""
    hook_out: str | None = None
    """Transcoders: the hook the SAE predicts, e.g. blocks.0.hook_mlp_out; None or "": an SAE of hook."""
    name: str = ""
    """The SAE's subdirectory of out_dir and its key in results; "": architecture-hook (-to-hook_out)."""
    architecture: str = "topk"
    """A registered architecture (``saes.registry.registered()``): standard, topk, batchtopk, jumprelu, gated,
    matryoshka_batchtopk."""
    expansion: int = 16
    """d_sae = expansion * d_in when d_sae is 0 (>= 1)."""
    d_sae: int = 0
    """Number of features; 0: expansion * d_in."""
    k: int = 32
    """Active features per row for topk/batchtopk/matryoshka_batchtopk (1..d_sae); ignored by other architectures."""
    lr: float = 0.0
    """Adam learning rate of this SAE (> 0); 0: the run's lr (SAETrainConfig.lr)."""

    def __post_init__(self) -> None:
        self.hook_out = self.hook_out or None
        self.check_spec()

    def check_spec(self) -> None:
        """Raise ``SAEConfigError`` for settings no SAE can train with (checked again by ``SAEConfig``)."""
        self.check_hyperparams(self.architecture)
        if not self.hook:
            raise SAEConfigError("An SAE needs the hook it reads (hook=..., e.g. blocks.1.hook_resid_pre).")
        if self.expansion < 1 or self.d_sae < 0:
            raise SAEConfigError(f"expansion={self.expansion} must be >= 1 and d_sae={self.d_sae} >= 0 (0: expansion "
                                 "times the input width).")
        if architecture_class(self.architecture).needs_k and not (self.k and self.k >= 1):
            raise SAEConfigError(f"The {self.architecture} architecture needs k >= 1 active features per row, got "
                                 f"k={self.k}.")
        if self.lr < 0:
            raise SAEConfigError(f"lr={self.lr} must be > 0, or 0 to use the run's lr.")

    @property
    def label(self) -> str:
        return self.name or f"{self.architecture}-{self.hook}" + (f"-to-{self.hook_out}" if self.hook_out else "")

    def spec_dict(self) -> dict[str, Any]:
        """This spec's own fields (of ``SAESpec``; a ``SAETrainConfig``'s run-wide fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(SAESpec)}

    def sae_config(self, d_in: int, d_out: int, metadata: dict[str, Any]) -> SAEConfig:
        """The ``SAEConfig`` of this SAE for a model whose hooks have widths ``d_in`` (and ``d_out``)."""
        shared = {name: getattr(self, name) for name in SAEHyperparams.hyperparam_names()}
        return SAEConfig(**shared, architecture=self.architecture, d_in=d_in, d_sae=self.d_sae or self.expansion * d_in,
                         hook_name=self.hook, hook_name_out=self.hook_out or None, d_out=d_out, k=self.k,
                         metadata=dict(metadata))


@dataclass(kw_only=True)
class SAETrainConfig(SAESpec):
    """``interp train-sae``: the run-wide settings, plus (inherited from ``SAESpec``) the one SAE the flags describe
    when ``saes`` is empty."""

    hook: str = "blocks.1.hook_resid_pre"
    """The hook the single flag-described SAE reads (when saes is empty), e.g. blocks.1.hook_resid_pre."""
    lr: float = 4e-4
    """Adam learning rate (peak, after warm-up) of every SAE whose spec leaves lr at 0 (> 0)."""
    run_dir: str = "runs/quickstart/model"
    """The model: a workbench run directory (written by interp train or interp quickstart)."""
    cache_dir: str = ""
    """Activations written by interp cache; "": computed on the fly from data."""
    data: str = ""
    """Token shards for on-the-fly activations; "": the run's training data."""
    out_dir: str = "runs/saes"
    """Where the run writes train_config.json, metrics.jsonl, checkpoints/ and one subdirectory per SAE. Other
    SAEs already there are left alone."""
    saes: list[SAESpec | dict[str, Any]] = field(default_factory=list)
    """The SAEs to train from one activation pass: SAESpec objects or dicts of SAESpec fields (JSON on the command
    line); empty: one SAE described by the per-SAE flags (--hook, --architecture, --k, ...)."""
    n_tokens: int = 2_000_000
    """Activations (rows) to train on (> 0); the number of steps is n_tokens // batch_size."""
    batch_size: int = 4096
    """Activations per optimizer step (> 0)."""
    warmup_steps: int = 50
    """Steps of linear lr warm-up from 0 (>= 0; 0: none)."""
    decay_start: float = 0.8
    """Fraction of the steps after which the lr decays linearly to 0 (0..1; 1: no decay)."""
    sparsity_warmup_steps: int = 100
    """Steps over which the L1/L0 coefficients ramp up linearly from 0 (>= 0; 0: full strength at once)."""
    normalize_activations: str = "expected_average_only_in"
    """How inputs are scaled while training: "expected_average_only_in" (to mean norm sqrt(d_in), folded into the
    saved weights) or "none"."""
    dead_tokens: int = 200_000
    """A feature is dead after this many rows without firing (> 0); dead features get the AuxK loss."""
    resample_dead: bool = False
    """Also re-initialise dead features towards badly reconstructed inputs (besides the AuxK loss of TopK SAEs)."""
    init_from_data: bool = True
    """Start from the first rows of the activations (sparsify's start): each SAE's decoder bias at its target's mean;
    a transcoder's encoder bias centring its pre-activations and its decoder rows at zero (set by the first step).
    false: zero biases and random decoder rows (SAELens' start)."""
    unit_decoder: bool = True
    """Keep decoder rows at unit norm (and remove the gradient component that only changes their norm)."""
    buffer_size: int = 2**16
    """Activations held in the shuffle buffer (> 0; at least 2 * batch_size is used)."""
    exclude_bos: bool = True
    """Leave the BOS position's activations out of training (their norms are outliers)."""
    seed: int = 0
    """Seed of the initialisation and the activation shuffle."""
    device: str = "auto"
    """Device to train on: auto (cuda when available, else cpu), cpu, cuda, cuda:1, ..."""
    distribute: str = "data"
    """Under torchrun (several processes): data (every rank trains every SAE on its share of each batch, gradients
    averaged: one process's result, faster) or modules (the SAEs split evenly over the ranks, each trained by one
    rank on whole batches; the number of SAEs must be a multiple of the number of processes). Ignored in one
    process. Every rank reads the same activations: from a cache (--cache-dir), or on the fly with each rank running
    its share of the model's forward passes."""
    ckpt_interval: int = 200
    """Steps between checkpoints (> 0); a final checkpoint is always written."""
    log_interval: int = 20
    """Steps between rows of metrics.jsonl (> 0)."""
    wandb: str = ""
    """A wandb project to log to (offline mode when the machine has no internet); "": no wandb."""
    progress: bool = True
    """Show a progress bar."""
    resume: bool = False
    """Continue the run in out_dir from its latest checkpoint; settings that change what is computed must match."""
    overwrite: bool = False
    """Start again in an out_dir that holds a run: deletes that run's checkpoints, metrics and train_config.json and
    the SAE subdirectories this run writes; other SAEs in out_dir are kept."""

    def __post_init__(self) -> None:
        for name in ("n_tokens", "batch_size", "buffer_size", "dead_tokens", "ckpt_interval", "log_interval"):
            if getattr(self, name) <= 0:
                raise SAEConfigError(f"{name}={getattr(self, name)} must be positive (--{name.replace('_', '-')}).")
        if not self.lr > 0:
            raise SAEConfigError(f"lr={self.lr} must be > 0 (typical SAE learning rates: 1e-4 to 1e-3).")
        if self.warmup_steps < 0 or self.sparsity_warmup_steps < 0:
            raise SAEConfigError(f"warmup_steps={self.warmup_steps} and sparsity_warmup_steps="
                                 f"{self.sparsity_warmup_steps} must be >= 0.")
        if not 0 <= self.decay_start <= 1:
            raise SAEConfigError(f"decay_start={self.decay_start} must lie in [0, 1] (1: no decay).")
        if self.normalize_activations not in NORMALIZATIONS:
            raise SAEConfigError(f"normalize_activations={self.normalize_activations!r}; use one of {NORMALIZATIONS}.")
        if self.distribute not in ("data", "modules"):
            raise SAEConfigError(f"distribute={self.distribute!r}: use data or modules.")
        if self.resume and self.overwrite:
            raise SAEConfigError("Choose one of --resume (continue the run) and --overwrite (start it again).")
        self.specs()  # every SAE's settings are checked now, not after the model has loaded

    def specs(self) -> list[SAESpec]:
        """The SAEs of this run: ``saes``, or the one the per-SAE flags describe."""
        if not self.saes:
            specs = [SAESpec(**self.spec_dict())]
        else:
            specs = []
            for entry in self.saes:
                if isinstance(entry, SAESpec):
                    specs.append(SAESpec(**entry.spec_dict()))
                    continue
                if not isinstance(entry, dict):
                    raise SAEConfigError(f"Each entry of saes must be an SAESpec or a dict of its fields, got {entry!r}.")
                unknown = sorted(set(entry) - {f.name for f in fields(SAESpec)})
                if unknown:
                    raise SAEConfigError(f"Unknown SAE field(s) {unknown} in saes entry {entry}; known: "
                                         f"{sorted(f.name for f in fields(SAESpec))}.")
                specs.append(SAESpec(**entry))
        labels = [s.label for s in specs]
        if len(set(labels)) != len(labels):
            raise SAEConfigError(f"Two SAEs share a name: {labels}; give each a distinct 'name'.")
        return specs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SAETrainConfig:
        """From ``train_config.json`` (keys this version does not know are ignored, missing ones get defaults)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# Settings that may change on --resume: they do not change what the run computes.
RESUMABLE_CHANGES = frozenset({"resume", "overwrite", "progress", "log_interval", "ckpt_interval", "device", "wandb",
                               "run_dir", "out_dir", "distribute"})


def resume_differences(saved: SAETrainConfig, new: SAETrainConfig) -> dict[str, tuple[Any, Any]]:
    """Settings of ``new`` that differ from the ``saved`` run's in a way that changes what is computed:
    ``{field: (saved, new)}``. Per-SAE fields are compared on the effective specs (``saes`` or the flags), named
    ``k`` for a flag-described SAE and ``saes[name].k`` otherwise; paths are compared resolved."""
    diff: dict[str, tuple[Any, Any]] = {}
    per_sae = {f.name for f in fields(SAESpec)}
    for f in fields(SAETrainConfig):
        if f.name in RESUMABLE_CHANGES or f.name in per_sae or f.name == "saes":
            continue
        a, b = getattr(saved, f.name), getattr(new, f.name)
        if f.name in ("cache_dir", "data") and a and b:
            a, b = str(Path(a).resolve()), str(Path(b).resolve())
        if a != b:
            diff[f.name] = (a, b)
    old_specs, new_specs = saved.specs(), new.specs()
    if [s.label for s in old_specs] != [s.label for s in new_specs]:
        diff["saes"] = ([s.label for s in old_specs], [s.label for s in new_specs])
        return diff
    flags = not saved.saes and not new.saes
    for old, now in zip(old_specs, new_specs, strict=True):
        a = {**old.spec_dict(), "lr": old.lr or saved.lr}  # the lr each SAE trains with
        b = {**now.spec_dict(), "lr": now.lr or new.lr}
        for name in a:
            if a[name] != b[name]:
                diff[name if flags else f"saes[{old.label}].{name}"] = (a[name], b[name])
    return diff


__all__ = ["RESUMABLE_CHANGES", "SAESpec", "SAETrainConfig", "resume_differences"]

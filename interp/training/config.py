"""Training configuration; each field is also a flag of ``interp train`` (``--max-steps``, ``--lr``, ...).

>>> cfg = TrainConfig(preset="tiny", data_dir="runs/data", out_dir="runs/tiny", max_steps=100)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interp.errors import ConfigError
from interp.models.config import ModelConfig


@dataclass
class TrainConfig:
    preset: str = "cpu"  # a ModelConfig preset (interp.models.config.PRESETS)
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {"n_layers": 4}
    data_dir: str = "runs/data"  # written by `interp corpus` (tokenizer/, train/, val/)
    out_dir: str = "runs/model"
    batch_size: int = 32  # sequences per optimizer step, across all processes and micro-steps
    grad_accum: int = 1
    max_steps: int = 2000
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_tokens: int = 100_000
    ckpt_interval: int = 250
    keep_checkpoints: int = 2
    log_interval: int = 10
    copy_drill_frac: float = 0.0  # share of rows replaced by copy drills (interp.training.copy_drills): induction forms sooner
    copy_drill_start: int = 0  # first step with drills: after the corpus has taught IOI, drills no longer disrupt it
    copy_drill_stop: int = 0  # first step without drills again (0: drills until the end)
    seed: int = 0
    device: str = "auto"  # auto -> cuda when available
    compile: bool = False
    resume: bool = False
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> None:
        for name in ("batch_size", "grad_accum", "max_steps", "log_interval", "eval_interval", "ckpt_interval",
                     "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}.")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}.")
        if not 0 < self.lr or not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"Need 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}.")
        if not 0 <= self.copy_drill_frac < 1:
            raise ConfigError(f"copy_drill_frac must lie in [0, 1), got {self.copy_drill_frac}.")
        if self.copy_drill_start < 0 or (self.copy_drill_stop and self.copy_drill_stop <= self.copy_drill_start):
            raise ConfigError(f"Drills run in steps [copy_drill_start, copy_drill_stop): need 0 <= start < stop (stop 0: "
                              f"to the end), got {self.copy_drill_start} and {self.copy_drill_stop}.")
        if self.resume and self.overwrite:
            raise ConfigError("Choose one of --resume (continue the run) and --overwrite (start it again).")

    def drills_at(self, step: int) -> bool:
        """Whether step ``step`` mixes copy drills into its batch."""
        return self.copy_drill_frac > 0 and step >= self.copy_drill_start and (
            not self.copy_drill_stop or step < self.copy_drill_stop)

    def model_config(self, d_vocab: int) -> ModelConfig:
        """The model's config: the preset, the overrides, and the data's vocabulary size."""
        return ModelConfig.from_preset(self.preset, **{**self.model_overrides, "d_vocab": d_vocab})

"""Training configuration; each field is also a flag of ``interp train`` (``--max-steps``, ``--lr``, ...).

>>> cfg = TrainConfig(preset="tiny", data_dir="runs/data", out_dir="runs/tiny", max_steps=100)
"""

from __future__ import annotations

import warnings
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

from interp.errors import ConfigError
from interp.models.config import ModelConfig

DRILL_KINDS = ("copy", "lookback", "task")  # in the order they take a batch's rows


@dataclass
class TrainConfig:
    """Options of ``interp train``: the model, the data, the optimizer schedule, validation, checkpoints."""

    preset: str = "cpu"
    """Model size, a preset of interp.models.config.PRESETS: tiny (tests), cpu (the quickstart), gpu, ts-1m,
    ts-3m, ts-8m, ts-33m (TinyStories sizes) or gpt2-small (124M)."""
    model_overrides: dict[str, Any] = field(default_factory=dict)
    """ModelConfig fields that replace the preset's, as JSON, e.g. '{"n_layers": 4, "n_heads": 8}' (keys: n_layers,
    d_model, n_heads, d_mlp, n_ctx, act_fn, norm, norm_sites, layer_norm_eps, tie_embeddings, dropout,
    init_std; d_vocab always comes from the data). {}: the preset as it is."""
    data_dir: str = "runs/data"
    """Data directory written by `interp corpus` (tokenizer/, train/ and val/ token shards)."""
    out_dir: str = "runs/model"
    """Run directory to write (checkpoints/, train_config.json, metrics.jsonl, loss_curve.html, tokenizer/); it
    must be new or empty unless --resume or --overwrite."""
    batch_size: int = 32
    """Sequences per optimizer step, summed over all processes and micro-steps (a multiple of grad_accum x the
    number of processes)."""
    grad_accum: int = 1
    """Micro-steps per optimizer step: each runs batch_size / grad_accum sequences, to fit memory (1: none)."""
    max_steps: int = 2000
    """Optimizer steps to train for; the cosine schedule ends here (may grow on --resume)."""
    lr: float = 2e-3
    """Peak learning rate, reached after warmup_steps (AdamW)."""
    min_lr: float = 2e-4
    """Learning rate at max_steps, the end of the cosine decay (0 <= min_lr <= lr)."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up from lr / warmup_steps to lr."""
    weight_decay: float = 0.1
    """AdamW weight decay on parameters with two or more dimensions (weight matrices, embeddings); biases and norm
    weights get none. 0: no decay."""
    beta1: float = 0.9
    """AdamW's first-moment decay."""
    beta2: float = 0.95
    """AdamW's second-moment decay."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value before each step; 0: no clipping."""
    val_interval: int = 250
    """Steps between validation-loss measurements on the val shards (also measured at the last step); written to
    metrics.jsonl as val_loss."""
    val_tokens: int = 100_000
    """Validation tokens per measurement (the first ones of the val shards, the same every time)."""
    ckpt_interval: int = 250
    """Steps between checkpoints (also at the last step); a killed run resumes from the latest."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept on disk (older ones are deleted); at least 1."""
    log_interval: int = 10
    """Steps between rows of metrics.jsonl (loss, lr, gradient norm, throughput)."""
    copy_drill_frac: float = 0.0
    """Share of each batch's rows replaced by copy drills (random tokens followed by their repeat, loss on the
    repeat: interp.training.copy_drills), so that induction forms sooner; in [0, 1], 0: no drills."""
    copy_drill_start: int = 0
    """First step with copy drills: start them after the corpus has taught IOI, so they no longer disrupt it."""
    copy_drill_stop: int = 0
    """First step without copy drills again (drills run in steps [start, stop)); 0: drills until the end."""
    lookback_drill_frac: float = 0.0
    """Share of each batch's rows replaced by lookback drills (random (value, key) pairs, then each key and its value,
    loss on the values: interp.training.lookback_drills), for the lookup that colored objects and multiple choice
    need; in [0, 1] (1: every row), 0: none. Drill kinds whose steps overlap take at most all rows together."""
    lookback_drill_start: int = 0
    """First step with lookback drills."""
    lookback_drill_stop: int = 0
    """First step without lookback drills again (they run in steps [start, stop)); 0: until the end."""
    task_drill_frac: float = 0.0
    """Share of each batch's rows replaced by task drills (colored-object scenes, multiple-choice items and, with
    task_drill_ioi_share and task_drill_capital_share, IOI sentences and capitals in the corpus's training forms,
    loss on the answers: interp.training.task_drills), which hook the lookback up to the tasks; in [0, 1], 0: none.
    They take the rows after the copy and lookback drills."""
    task_drill_start: int = 0
    """First step with task drills."""
    task_drill_stop: int = 0
    """First step without task drills again (they run in steps [start, stop)); 0: until the end."""
    task_drill_weight: float = 0.0
    """0: task-drill answers count in the batch's mean loss like any token; w > 0: they get their own mean, added
    with weight w to the mean of the other tokens (so their pull does not shrink with their share of the tokens);
    metrics.jsonl's loss is then that sum."""
    task_drill_mc_share: float = 0.5
    """Share of the task drills' pieces that are multiple-choice items (the rest colored-object scenes); in [0, 1]."""
    task_drill_lookup_share: float = 0.5
    """Share of the task drills' multiple-choice items whose question names the answer ("Which option says
    green?"), so only its letter is to be found; in [0, 1]."""
    task_drill_ioi_share: float = 0.0
    """Share of the task drills' pieces that are IOI sentences in the corpus's training forms, the indirect object
    the answer (task_drill_mc_share then splits the rest); in [0, 1], 0: none."""
    task_drill_capital_share: float = 0.0
    """Share of the task drills' pieces that are capitals stated or asked in the corpus's training forms that name
    the country first, the capital the answer; in [0, 1] with task_drill_ioi_share at most 1, 0: none."""
    init_from: str = ""
    """A run or checkpoint directory whose weights start this run instead of a fresh initialisation (fine-tuning,
    e.g. LayerNorm removal: its LayerNorm weights load into removable norms); its model shape must be this run's.
    '': a fresh initialisation."""
    seed: int = 0
    """Seed of the initialisation and of the batches (each step's batch depends only on seed and step)."""
    device: str = "auto"
    """Device: auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
    compile: bool = False
    """Compile the model with torch.compile (faster steps after a slower start, mostly on GPU)."""
    resume: bool = False
    """Continue the run in out_dir from its latest checkpoint, on the same data (checked by its hashes). Its settings
    must match, except max_steps, intervals, keep_checkpoints, device, compile and progress, and the settings that
    recover from a divergence (lr, min_lr, warmup_steps, grad_clip; recorded in run_info.json)."""
    overwrite: bool = False
    """Delete whatever out_dir holds and start again."""
    progress: bool = True
    """Show a progress bar."""

    renamed_fields: ClassVar[dict[str, str]] = {"eval_interval": "val_interval", "eval_tokens": "val_tokens"}
    # Former names still accepted for one release: as flags, in --config files and old train_config.json files
    # (interp.app.args.dataclass_from_dict), and as keyword arguments (below).
    eval_interval: InitVar[int | None] = None
    eval_tokens: InitVar[int | None] = None

    def __post_init__(self, eval_interval: int | None, eval_tokens: int | None) -> None:
        for old, value in (("eval_interval", eval_interval), ("eval_tokens", eval_tokens)):
            if value is not None:
                new = self.renamed_fields[old]
                warnings.warn(f"TrainConfig({old}=...) is deprecated; use {new}=...", FutureWarning, stacklevel=3)
                setattr(self, new, value)

    def validate(self) -> None:
        for name in ("batch_size", "grad_accum", "max_steps", "log_interval", "val_interval", "ckpt_interval",
                     "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}.")
        if self.batch_size % self.grad_accum:
            raise ConfigError(f"batch_size={self.batch_size} must be divisible by grad_accum={self.grad_accum}.")
        if not 0 < self.lr or not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"Need 0 <= min_lr <= lr and lr > 0, got lr={self.lr}, min_lr={self.min_lr}.")
        for kind in DRILL_KINDS:
            frac, start, stop = (getattr(self, f"{kind}_drill_{x}") for x in ("frac", "start", "stop"))
            if not 0 <= frac <= 1:
                raise ConfigError(f"{kind}_drill_frac must lie in [0, 1], got {frac}.")
            if start < 0 or (stop and stop <= start):
                raise ConfigError(f"Drills run in steps [{kind}_drill_start, {kind}_drill_stop): need 0 <= start < stop "
                                  f"(stop 0: to the end), got {start} and {stop}.")
        for name in ("task_drill_mc_share", "task_drill_lookup_share", "task_drill_ioi_share",
                     "task_drill_capital_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"{name} must lie in [0, 1], got {getattr(self, name)}.")
        if self.task_drill_ioi_share + self.task_drill_capital_share > 1:
            raise ConfigError("task_drill_ioi_share + task_drill_capital_share is the share of task-drill pieces that "
                              f"are IOI sentences or capitals: keep it at most 1, got {self.task_drill_ioi_share} + "
                              f"{self.task_drill_capital_share}.")
        if self.task_drill_weight < 0:
            raise ConfigError(f"task_drill_weight must be >= 0 (0: no own loss term), got {self.task_drill_weight}.")
        for step in (w[0] for w in map(self.drill_window, DRILL_KINDS) if w is not None):
            active = {k: getattr(self, f"{k}_drill_frac") for k in DRILL_KINDS if self.drills_at(step, k)}
            if len(active) > 1 and sum(active.values()) > 1:
                raise ConfigError(f"At step {step} the drills take {' + '.join(f'{k}_drill_frac' for k in active)} = "
                                  f"{sum(active.values()):g} of the rows: keep the sum at most 1, or separate their steps.")
        if self.resume and self.overwrite:
            raise ConfigError("Choose one of --resume (continue the run) and --overwrite (start it again).")

    def drill_window(self, kind: str = "copy") -> tuple[int, int] | None:
        """The steps ``[start, stop)`` that mix ``kind`` drills (one of DRILL_KINDS) into their batches; None
        without."""
        if not getattr(self, f"{kind}_drill_frac"):
            return None
        return getattr(self, f"{kind}_drill_start"), getattr(self, f"{kind}_drill_stop") or self.max_steps

    def drill_windows(self) -> dict[str, tuple[int, int]]:
        """``drill_window`` of each drill kind this run uses, in DRILL_KINDS order."""
        return {kind: window for kind in DRILL_KINDS if (window := self.drill_window(kind)) is not None}

    def drills_at(self, step: int, kind: str = "copy") -> bool:
        """Whether step ``step`` mixes ``kind`` drills (one of DRILL_KINDS) into its batch."""
        window = self.drill_window(kind)
        return window is not None and window[0] <= step < window[1]

    def model_config(self, d_vocab: int) -> ModelConfig:
        """The model's config: the preset, the overrides, and the data's vocabulary size."""
        return ModelConfig.from_preset(self.preset, **{**self.model_overrides, "d_vocab": d_vocab})

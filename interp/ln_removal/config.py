"""``LNRemovalConfig``: every option of ``interp remove-ln`` (each field is a flag; its docstring is the help)."""

from __future__ import annotations

from dataclasses import dataclass

from interp.errors import ConfigError
from interp.ln_removal.schedule import SCHEDULES


@dataclass
class LNRemovalConfig:
    """Options of ``interp remove-ln``: the parent, the schedule, the fine-tuning and what is compared."""

    run_dir: str = ""
    """The trained model whose LayerNorms to remove: a run directory of this workbench (interp train, quickstart,
    studies, import), or a Hugging Face GPT-2 directory (config.json + weights; give --text-source)."""
    out_dir: str = ""
    """Run directory to write (the LayerNorm-free model, its eval.json, report.html, ln_removal.json and the
    fine-tuning runs under it); '': RUN_DIR-noLN beside the parent. Must be new or empty unless --resume or
    --overwrite."""
    data_dir: str = ""
    """Token shards to fine-tune on (a directory of interp corpus made with the parent's tokenizer); '': the
    parent run's own data, or the data made from --text-source."""
    text_source: str = ""
    """Text to fine-tune an imported Hugging Face model on, tokenized with its own tokenizer into OUT/data: a
    .txt/.md/.jsonl file or folder, 'builtin' (the story corpus), or hf:NAME (needs the internet). '': none (a
    workbench run brings its data)."""
    text_tokens: int = 2_000_000
    """Training tokens taken from --text-source (validation: a tenth of it, at least 20,000)."""
    schedule: str = "fast"
    """When each norm's scale is frozen: fast (Baroni et al. 2025: from step 20, 2-3 steps apart; the default) or
    gradual (Heimersheim 2024: from step 200, 20-30 steps apart); the steps are data in
    interp.ln_removal.SCHEDULES."""
    max_steps: int = 0
    """Fine-tuning steps; they must exceed the schedule's last freeze. 0: a tenth of the parent's training steps,
    and at least the last freeze plus 50 (for an imported model: twice the last freeze, at least 100)."""
    lr: float = 0.0
    """Peak learning rate (linear warm-up, then cosine to lr / 10). 0: a third of the parent's peak rate, or 6e-4 for
    an imported model (the anchors' rate for GPT-2)."""
    warmup_steps: int = 10
    """Steps of linear learning-rate warm-up."""
    batch_size: int = 0
    """Sequences per step; 0: the parent run's (32 for an imported model)."""
    momentum: float = 0.9
    """Moving-average momentum of each live scale while it is tracked, before its freeze (the anchors' 0.9)."""
    aux_weight: float = 0.0
    """Weight of the auxiliary loss on the residual scale before ln_f: the mean squared relative deviation of each
    token's scale from the average one, which makes freezing it cheaper (the anchors use 0.1 for GPT-2 small).
    0: no auxiliary loss."""
    distill_weight: float = 1.0
    """Weight of a distillation loss: the KL divergence from the parent's next-token distribution to the model's,
    at every position (also the random first halves of copy drills, which have no language-model loss), so the
    LayerNorm-free model keeps the parent's predictions, not only its loss on text (with it the quickstart model's
    IOI on held-out phrasing families fell 0.93 -> 0.90 instead of -> 0.855; docs/ln-removal.md). 0: none."""
    copy_drill_frac: float = -1.0
    """Share of each batch's rows that are copy drills (random tokens, then their repeat: interp.training.copy_drills)
    in the fine-tune's first copy_drill_until of steps, so the fixed scales also fit random-token inputs (where
    induction is measured); the rest is plain text again, as in the parent's recipe. -1: the parent's share
    averaged over its training (its drill share x the fraction of its steps that drilled; 0 for a parent trained
    without drills), at most 0.05 (more overtrained induction and cost IOI); 0: none. Without drills the quickstart
    model's induction gain fell from 3.25 to 0.96."""
    copy_drill_until: float = 0.75
    """Share of the fine-tune's steps, from the start, that mix in copy drills (the rest is plain text, so the
    model's predictions on text settle back), in (0, 1]."""
    baseline: bool = True
    """Also fine-tune a copy with LayerNorm kept, same steps and data, into OUT/baseline_ln_kept, so the report
    separates what removal costs from what fine-tuning changes (as Baroni et al. report). --no-baseline: skip it."""
    n_prompts: int = 200
    """Prompts per probe task in the before/after comparison and eval.json."""
    seed: int = 0
    """Seed of the batches and of the evaluation prompts."""
    device: str = "auto"
    """Device: auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
    resume: bool = False
    """Continue an interrupted removal in out_dir (its fine-tuning from the latest checkpoint; finished parts are
    kept)."""
    overwrite: bool = False
    """Delete whatever out_dir holds and start again."""
    progress: bool = True
    """Show progress bars."""

    def validate(self) -> None:
        if not self.run_dir:
            raise ConfigError("Give the run to remove LayerNorm from: interp remove-ln RUN_DIR (or run_dir=...).")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown schedule {self.schedule!r}; choose one of {sorted(SCHEDULES)} "
                              "(interp.ln_removal.SCHEDULES).")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must lie in [0, 1), got {self.momentum}.")
        for name in ("max_steps", "lr", "batch_size", "aux_weight", "distill_weight", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0 picks the default), got {getattr(self, name)}.")
        if not (self.copy_drill_frac == -1 or 0 <= self.copy_drill_frac < 1):
            raise ConfigError(f"copy_drill_frac must lie in [0, 1) (or -1: the parent's), got {self.copy_drill_frac}.")
        if not 0 < self.copy_drill_until <= 1:
            raise ConfigError(f"copy_drill_until must lie in (0, 1], got {self.copy_drill_until}.")
        if self.n_prompts <= 0 or self.text_tokens <= 0:
            raise ConfigError("n_prompts and text_tokens must be positive.")
        if self.resume and self.overwrite:
            raise ConfigError("Choose one of --resume (continue the removal) and --overwrite (start it again).")

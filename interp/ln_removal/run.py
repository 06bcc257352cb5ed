"""``remove_ln`` (``interp remove-ln``): fine-tune a trained model into a LayerNorm-free one, compare, report.

>>> result = remove_ln(LNRemovalConfig(run_dir="runs/quickstart/model", out_dir="runs/quickstart/model-noLN"))
>>> interp.load(result.out)        # a HookedTransformer with normalization_type=None
>>> result.table()                 # validation loss and probe scores: parent, LayerNorm kept, LayerNorm-free

The fine-tuning is the ordinary trainer (``OUT/removal``: checkpoints, ``--resume``, metrics, progress bar) on a
model whose norms are ``removable``: ``TrainConfig.init_from`` is the parent and ``before_step`` freezes norms on
the schedule. At the end the frozen scales become norm ``fixed`` (``finalize``), saved as the run in ``OUT`` with
its own model config, then ``eval.json``, ``ln_removal.json`` (every number of the comparison) and ``report.html``.
Every check of the input runs before anything is written.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from interp.errors import ConfigError, RunDirError, TokenizerError
from interp.io import atomic_write_json, git_commit, read_json, to_jsonable
from interp.layout import DataLayout, LNRemovalLayout, RunLayout
from interp.ln_removal.compare import comparison_frame, dla_check
from interp.ln_removal.config import LNRemovalConfig
from interp.ln_removal.finalize import finalize
from interp.ln_removal.schedule import (
    SCHEDULES,
    RemovalEvent,
    apply_schedule,
    removable_norms,
    removal_events,
)
from interp.training.config import TrainConfig

_NOT_SHAPE = ("d_vocab", "norm", "norm_sites")  # model-config fields the fine-tuning does not copy from the parent
_IMPORTED_LR, _IMPORTED_BATCH = 6e-4, 32


@dataclass
class Plan:
    """What a removal will do, decided (and every input checked) before anything is written."""

    cfg: LNRemovalConfig
    out: LNRemovalLayout
    parent: RunLayout  # the parent run (OUT/parent for a Hugging Face directory, imported when the work starts)
    hf_dir: Path | None
    data_dir: Path  # OUT/data when it is made from --text-source
    events: list[RemovalEvent]
    removal: TrainConfig
    parent_steps: int | None
    hf_model: Any = field(default=None, repr=False)  # the imported GPT, written to OUT/parent by the work

    @property
    def baseline(self) -> TrainConfig:
        """The same fine-tuning with LayerNorm kept (the fair comparison)."""
        overrides = {**self.removal.model_overrides, "norm": "layernorm"}
        return dataclasses.replace(self.removal, model_overrides=overrides, out_dir=str(self.out.baseline.root))


@dataclass
class LNRemovalResult:
    out: Path
    summary: dict[str, Any]

    def table(self) -> pd.DataFrame:
        """Validation loss and every probe metric: parent, the fine-tune with LayerNorm kept, the LN-free model."""
        return comparison_frame(self.summary)


def _is_hf_dir(path: Path) -> bool:
    return (path / "config.json").exists() and not RunLayout(path).is_run()


def _parent_tokenizer_hash(parent: Path) -> str | None:
    from interp.data.tokenizer import load_tokenizer, tokenizer_hash
    from interp.models.loading import find_tokenizer_dir

    tok_dir = parent if _is_hf_dir(parent) else find_tokenizer_dir(parent)
    if tok_dir is not None and (tok_dir / "tokenizer.json").exists():
        return tokenizer_hash(load_tokenizer(tok_dir))
    info = RunLayout(parent).run_info
    return read_json(info).get("tokenizer_hash") if info.exists() else None


def _check_out_dir(cfg: LNRemovalConfig, out: LNRemovalLayout) -> None:
    if out.root.exists() and not out.root.is_dir():
        raise RunDirError(f"--out-dir {out.root} is a file; choose a directory.")
    contents = [p for p in out.root.iterdir()] if out.root.exists() else []
    if contents and not (cfg.resume or cfg.overwrite):
        raise RunDirError(f"{out.root} is not empty. Continue that removal with --resume, replace it with --overwrite "
                          "(deletes it), or pick another --out-dir.")
    if cfg.resume and contents and not (out.removal.train_config.exists() or out.summary.exists()
                                        or out.parent.root.exists()):
        raise RunDirError(f"{out.root} holds no LayerNorm removal to resume (no {out.removal.root.name}/ inside); "
                          "pick another --out-dir, or --overwrite it.")


def plan_removal(cfg: LNRemovalConfig) -> Plan:
    """Check every input and decide the fine-tuning; writes nothing. Raises a ``WorkbenchError`` naming the
    problem and its fix for a missing or LayerNorm-free parent, an unknown norm, a schedule that does not fit the
    steps, data tokenized differently from the parent, or an occupied ``out_dir``."""
    from interp.data.shards import TokenShards
    from interp.models.convert import import_hf
    from interp.training.checkpoint import latest_checkpoint

    cfg.validate()
    source = Path(cfg.run_dir)
    if not source.is_dir():
        raise RunDirError(f"{source} does not exist (resolved from {Path.cwd()}): give a run directory of interp train "
                          "or quickstart, or a Hugging Face GPT-2 directory.")
    out = LNRemovalLayout(cfg.out_dir or source.with_name(source.name + "-noLN"))
    if out.root.resolve() == source.resolve():
        raise RunDirError("--out-dir is the parent run itself; write the LayerNorm-free model to a new directory.")
    _check_out_dir(cfg, out)

    hf_dir, hf_model = (source, import_hf(source)) if _is_hf_dir(source) else (None, None)
    parent = out.parent if hf_dir is not None else RunLayout(source)
    if hf_dir is None and not parent.model_config.exists():
        raise RunDirError(f"{source} is neither a run directory (no {parent.model_config.name}) nor a Hugging Face "
                          "directory (no config.json).")
    model_cfg = hf_model.cfg.to_dict() if hf_model is not None else read_json(parent.model_config)
    parent_train = read_json(parent.train_config) if parent.train_config.exists() else {}
    kinds = {model_cfg.get("norm", "layernorm"), *model_cfg.get("norm_sites", {}).values()}
    if kinds != {"layernorm"}:
        raise ConfigError(
            f"{source} has norms {sorted(kinds)}; the removal schedule knows only LayerNorm (every site 'layernorm')"
            + (": this model has no LayerNorm left to remove." if "layernorm" not in kinds else
               ". Remove from a model with LayerNorm at every site."))

    if cfg.data_dir and cfg.text_source:
        raise ConfigError("Give one of --data-dir (token shards) and --text-source (text to tokenize), not both.")
    if cfg.data_dir:
        data_dir = Path(cfg.data_dir)
    elif cfg.text_source:
        data_dir = out.data.root
    elif hf_dir is not None:
        raise ConfigError(f"{source} is a Hugging Face model: give text to fine-tune it on with --text-source (a file, "
                          "a folder, 'builtin' or hf:NAME), or token shards made with its tokenizer with --data-dir.")
    else:
        data_dir = parent.data_dir()
    if not cfg.text_source:
        if not DataLayout(data_dir).train.is_dir():
            raise RunDirError(f"{data_dir} holds no training token shards (no train/): give a directory written by "
                              "interp corpus.")
        want, have = _parent_tokenizer_hash(source), TokenShards(DataLayout(data_dir).train).metadata.get(
            "tokenizer_hash")
        if want and have and want != have:
            raise TokenizerError(f"The data in {data_dir} was tokenized with another tokenizer ({have}) than {source} "
                                 f"uses ({want}); give --data-dir made with the parent's tokenizer (interp corpus "
                                 "--tokenizer PARENT/tokenizer), or --text-source.")
    elif hf_dir is not None and not (hf_dir / "tokenizer.json").exists():
        raise TokenizerError(f"{hf_dir} has no tokenizer.json to tokenize --text-source with; save the tokenizer "
                             "there (tokenizer.save_pretrained) or give --data-dir.")

    events = removal_events(model_cfg["n_layers"], SCHEDULES[cfg.schedule])
    last = events[-1].step
    ckpt = latest_checkpoint(parent.root) if hf_dir is None else None
    parent_steps = int(read_json(ckpt / "trainer_state.json").get("step", 0)) or None if ckpt else None
    default_steps = max(parent_steps // 10, last + 50) if parent_steps else max(100, 2 * last)
    max_steps = cfg.max_steps or default_steps
    if max_steps <= last:
        raise ConfigError(f"The {cfg.schedule!r} schedule's last freeze is at step {last} for {model_cfg['n_layers']} "
                          f"layers, but --max-steps is {max_steps}: give more than {last} steps (0: {default_steps}),"
                          " or the other schedule.")
    lr = cfg.lr or (float(parent_train["lr"]) / 3 if parent_train.get("lr") else _IMPORTED_LR)
    removal = TrainConfig(
        preset=parent_train.get("preset", "tiny"),
        model_overrides={**{k: v for k, v in model_cfg.items() if k not in _NOT_SHAPE}, "norm": "removable"},
        data_dir=str(data_dir), out_dir=str(out.removal.root),
        batch_size=cfg.batch_size or int(parent_train.get("batch_size", _IMPORTED_BATCH)), max_steps=max_steps,
        lr=lr, min_lr=lr / 10, warmup_steps=min(cfg.warmup_steps, max_steps), weight_decay=float(
            parent_train.get("weight_decay", 0.1)), val_interval=max(1, max_steps // 10),
        val_tokens=int(parent_train.get("val_tokens", 100_000)),
        copy_drill_frac=default_drill_share(parent_train) if cfg.copy_drill_frac < 0 else cfg.copy_drill_frac,
        copy_drill_stop=max(1, round(max_steps * cfg.copy_drill_until)),
        ckpt_interval=max(1, max_steps // 5), init_from=str(parent.root), seed=cfg.seed, device=cfg.device,
        resume=cfg.resume, progress=cfg.progress,
    )
    removal.validate()
    return Plan(cfg, out, parent, hf_dir, data_dir, events, removal, parent_steps, hf_model)


# The most copy-drill rows a removal mixes in by default. The quickstart parent's average share (0.125: 40% of rows
# in 1,250 of 4,000 steps) took its induction gain from 3.37 to 5.9 in the fine-tune and its IOI on held-out
# phrasing families from 0.93 to 0.855; at 0.05 (with distillation) 3.73 and 0.90 (docs/ln-removal.md).
MAX_DRILL_SHARE = 0.05


def default_drill_share(train_cfg: dict[str, Any]) -> float:
    """The share of copy-drill rows in a run's batches averaged over its training (0 without drills), at most
    ``MAX_DRILL_SHARE``: the removal's default drill share."""
    frac, steps = float(train_cfg.get("copy_drill_frac") or 0.0), int(train_cfg.get("max_steps") or 0)
    if not frac or not steps:
        return 0.0
    start, stop = int(train_cfg.get("copy_drill_start") or 0), int(train_cfg.get("copy_drill_stop") or 0) or steps
    return min(MAX_DRILL_SHARE, round(frac * (min(stop, steps) - start) / steps, 4))


def _prepare_inputs(plan: Plan) -> None:
    """An imported parent in OUT/parent and its text in OUT/data, each once (a resumed removal keeps them)."""
    from interp.data.prepare import DataConfig, prepare_data
    from interp.data.tokenizer import load_tokenizer
    from interp.training.checkpoint import write_model_run

    cfg = plan.cfg
    if plan.hf_dir is not None and not plan.parent.model_config.exists():
        tokenizer = load_tokenizer(plan.hf_dir) if (plan.hf_dir / "tokenizer.json").exists() else None
        write_model_run(plan.parent.root, plan.hf_model, tokenizer, state={"imported_from": str(plan.hf_dir)})
    if cfg.text_source and not DataLayout(plan.data_dir).config.exists():
        tok_dir = plan.hf_dir if plan.hf_dir is not None else RunLayout(plan.parent.root).tokenizer
        prepare_data(DataConfig(out_dir=str(plan.data_dir), source=cfg.text_source, tokenizer=str(tok_dir),
                                n_tokens=cfg.text_tokens, val_tokens=max(20_000, cfg.text_tokens // 10),
                                seed=cfg.seed))


def _distillation(parent: Path, weight: float):
    """``extra_loss`` term ``weight * KL(parent || model)`` per position, averaged; None when ``weight`` is 0."""
    from interp.training.checkpoint import load_model

    if not weight:
        return lambda model, inputs, logits: None
    teacher = load_model(parent).eval().requires_grad_(False)

    def loss(model: torch.nn.Module, inputs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        teacher.to(logits.device)
        with torch.no_grad():
            target = torch.log_softmax(teacher(inputs, check=False).float(), dim=-1)
        log_q = torch.log_softmax(logits.float(), dim=-1)
        return weight * (target.exp() * (target - log_q)).sum(-1).mean()

    return loss


def _hooks(plan: Plan):
    """The trainer's ``before_step`` (momentum, then the freezes due) and ``extra_loss`` (the auxiliary loss and
    the distillation from the parent)."""
    momentum, aux = plan.cfg.momentum, plan.cfg.aux_weight
    distill = _distillation(plan.parent.root, plan.cfg.distill_weight)

    def before_step(trainer) -> None:
        for norm in removable_norms(trainer.model).values():
            norm.momentum = momentum
        trainer.model.ln_f.track_spread = bool(aux)
        apply_schedule(trainer.model, plan.events, trainer.step)

    def extra_loss(model: torch.nn.Module, inputs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor | None:
        spread = model.ln_f.scale_spread
        terms = [aux * spread if aux and spread is not None else None, distill(model, inputs, logits)]
        terms = [t for t in terms if t is not None]
        return sum(terms) if terms else None

    return before_step, extra_loss, distill


def remove_ln(cfg: LNRemovalConfig) -> LNRemovalResult:
    """Run the whole removal (see the module docstring); returns the LayerNorm-free run and its comparison."""
    from interp.data.tokenizer import load_tokenizer
    from interp.models.loading import find_tokenizer_dir
    from interp.tasks.evaluate_run import evaluate_run, score_run
    from interp.training.checkpoint import load_model, write_model_run
    from interp.training.trainer import train

    t0 = time.time()
    plan = plan_removal(cfg)
    out = plan.out
    if cfg.overwrite and out.root.exists():
        shutil.rmtree(out.root)
    out.root.mkdir(parents=True, exist_ok=True)
    if cfg.resume and out.summary.exists() and read_json(out.summary).get("finished"):
        print(f"{out.root}: this removal is finished; nothing to resume.")
        return LNRemovalResult(out.root, read_json(out.summary))
    _prepare_inputs(plan)

    before_step, extra_loss, distill = _hooks(plan)
    result = train(plan.removal, before_step=before_step, extra_loss=extra_loss)
    removable = load_model(out.removal.root)
    apply_schedule(removable, plan.events, result.step)
    ln_free = finalize(removable)
    if out.checkpoints.exists():  # a resumed removal killed after this point: the same model is written again
        shutil.rmtree(out.checkpoints)
    tok_dir = find_tokenizer_dir(plan.parent.root)
    write_model_run(out.root, ln_free, load_tokenizer(tok_dir) if tok_dir is not None else None, step=result.step,
                    state={"ln_removal_of": str(plan.cfg.run_dir), "schedule": cfg.schedule})
    atomic_write_json(out.run_info, {"git_commit": git_commit(), **out.data_record(plan.data_dir),
                                     "ln_removal_of": str(Path(cfg.run_dir).resolve())})
    if cfg.baseline:
        train(plan.baseline, extra_loss=distill)  # the same loss, LayerNorm kept

    n, seed, device = cfg.n_prompts, cfg.seed, None if cfg.device == "auto" else cfg.device
    scores = {"parent": score_run(plan.parent.root, n, seed, device=device, data_dir=plan.data_dir),
              "ln_free": evaluate_run(out.root, n, seed, device=device)}
    if cfg.baseline:
        scores["baseline_ln_kept"] = evaluate_run(out.baseline.root, n, seed, device=device, data_dir=plan.data_dir)
    summary = {
        "config": to_jsonable(cfg), "parent": str(cfg.run_dir), "parent_steps": plan.parent_steps,
        "removal_steps": plan.removal.max_steps,
        "step_fraction": plan.removal.max_steps / plan.parent_steps if plan.parent_steps else None,
        "events": [vars(e) for e in plan.events], "scores": {k: _plain(v) for k, v in scores.items()},
        "dla": dla_check(plan.parent.root, out.root, seed=seed), "git_commit": git_commit(),
        "seconds": round(time.time() - t0, 1), "finished": True,
    }
    atomic_write_json(out.summary, summary)
    from interp.ln_removal.report import write_removal_report

    write_removal_report(out, summary)
    return LNRemovalResult(out.root, summary)


def _plain(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scores.items() if k != "meta"}

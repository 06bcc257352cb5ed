"""The main job: corpus -> tokenizer -> model -> evaluation -> HTML report, in one command.

>>> run_quickstart(QuickstartConfig(out_dir="runs/quickstart"))

On a 2-core CPU it takes about 11 minutes with the defaults (the 8-head ``cpu`` preset, 4,000 steps of 32 x 128
tokens; steps 2,000-3,249 with copy drills, which form an induction circuit once the corpus has taught IOI, and the
last 750 steps without them, so that IOI and the other tasks recover): on phrasing families held out of the corpus,
IOI 0.90-0.92 and capitals 0.88-0.885, induction gain 2.7-3.8 nats (README; docs/circuit-formation.md). On a GPU it picks the larger
``gpu`` preset; ``interp studies`` runs the same pipeline on the ``studies`` preset, whose main training is followed
by fine-tunes (``interp.app.stages``) that teach colored objects and multiple choice.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch

from interp.app.quickstart_report import TARGETS, fine_tunes_html, write_quickstart_report
from interp.app.stages import STAGES, check_parent, stage_config
from interp.devices import resolve_device
from interp.errors import ConfigError
from interp.io import atomic_write_json, read_json
from interp.layout import DataLayout, QuickstartLayout
from interp.models.config import PRESETS

SAMPLE_PROMPTS = (
    "Once upon a time,",
    "When Lily and Tom went to the park, Tom gave a ball to",
    "The capital of France is",
    "The war lasted from 1732 to 17",
    "On the table there is a red cup, a blue pen and a green book. What color is the pen? It is",
)


@dataclass
class QuickstartConfig:
    out_dir: str = "runs/quickstart"
    """Output directory: data/ (corpus and tokenizer), model/ (the run) and report.html."""
    preset: str = "auto"
    """Model size, a preset of interp.models.config.PRESETS; auto: cpu without a GPU, gpu with one."""
    max_steps: int = 0
    """Steps of the main training; 0: the preset's recipe (RECIPES: 4000 for cpu and gpu, 3000 for studies)."""
    batch_size: int = 0
    """Sequences per training step; 0: the preset's recipe (32 for cpu and studies, 64 for gpu)."""
    n_tokens: int = 0
    """Training tokens of stories to generate; 0: the preset's recipe (16M for cpu, 40M for gpu, 25M for
    studies)."""
    lr: float = 0.0
    """Peak learning rate (after the warm-up; cosine decay to min_lr); 0: the preset's recipe (RECIPES: 3e-3 for cpu and
    gpu, 1.5e-3 for studies)."""
    min_lr: float = -1.0
    """Learning rate at the last step; -1: a tenth of the peak."""
    warmup_steps: int = 100
    """Steps of linear learning-rate warm-up."""
    copy_drill_frac: float = 0.4
    """Share of each batch's rows that are copy drills (interp.training.copy_drills) while drills run; they form an
    induction circuit sooner. In [0, 1); 0: no drills."""
    copy_drill_start: int = -1
    """First step with copy drills; -1: the recipe's (RECIPES: half of max_steps; 5/8 for studies, as it was
    measured; docs/circuit-formation.md)."""
    copy_drill_stop: int = -1
    """First step without copy drills again; -1: 13/16 of max_steps; 0: drills until the end."""
    lookback_drill_frac: float = 0.0
    """Share of each batch's rows that are lookback drills (interp.training.lookback_drills) while they run: the
    lookup that colored objects and multiple choice need. In [0, 1]; 0: none. Training runs have not formed it
    (docs/circuit-formation.md); fine-tunes of a finished model do (README)."""
    lookback_drill_start: int = 0
    """First step with lookback drills."""
    lookback_drill_stop: int = 0
    """First step without lookback drills again; 0: until the end."""
    task_drill_frac: float = 0.0
    """Share of each batch's rows that are task drills (interp.training.task_drills: colored-object scenes and
    multiple-choice items in training forms, loss on the answers) while they run. In [0, 1]; 0: none."""
    task_drill_start: int = 0
    """First step with task drills."""
    task_drill_stop: int = 0
    """First step without task drills again; 0: until the end."""
    task_drill_weight: float = 0.0
    """Weight of the task-drill answers' own mean loss (TrainConfig.task_drill_weight); 0: they count like any
    token."""
    fine_tunes: bool = True
    """Run the preset's fine-tunes after the main training (interp.app.stages.STAGES; studies: lookback, tasks,
    settle and settle-again, 3,750 steps, which teach colored objects and multiple choice). The main run is then
    stages/base and the last fine-tune model/. --no-fine-tunes: the main training alone, in model/. Presets without
    fine-tunes (cpu, gpu) ignore it."""
    n_prompts: int = 200
    """Held-out prompts per probe task in the evaluation (greater-than and induction use half)."""
    seed: int = 0
    """Seed of the corpus, the model's initialisation and batches, and the evaluation prompts."""
    device: str = "auto"
    """Device: auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
    resume: bool = False
    """Continue an interrupted quickstart in out_dir from the latest checkpoint (the corpus is reused)."""
    overwrite: bool = False
    """Start the training again, replacing the run in out_dir/model."""
    progress: bool = True
    """Show progress bars."""


@dataclass(frozen=True)
class Recipe:
    """A preset's training budget when the quickstart's options leave it at 0."""

    max_steps: int
    batch_size: int
    n_tokens: int
    drill_start: float = 0.5  # first step with copy drills, as a share of max_steps
    lr: float = 3e-3  # peak learning rate


# cpu: ~11 minutes on a 2-core CPU; gpu: minutes on a GPU; studies (``interp studies``): the larger model that the
# circuit, SAE and steering studies use. Its main training was 6,000 steps (~70 minutes on a 2-core CPU) before its
# fine-tunes (interp.app.stages: 3,750 steps) joined it; with 4,500 the whole measured 84.6 minutes from a clean
# clone, but 108.9 on a day the same machine ran 1.3x slower (issue 16 asks for 90). 3,000 steps at lr 1.5e-3 (half
# the quickstart's, which the shorter schedule needs), with the lookback and tasks stages at half their old rates,
# took 66.4 and 69.5 minutes (seeds 0 and 1) and meet the four targets on both (docs/circuit-formation.md, "Scaled fine-tunes on the
# half-rate main training").
# Any other preset gets the cpu recipe.
RECIPES = {
    "cpu": Recipe(max_steps=4000, batch_size=32, n_tokens=16_000_000),
    "gpu": Recipe(max_steps=4000, batch_size=64, n_tokens=40_000_000),
    "studies": Recipe(max_steps=3000, batch_size=32, n_tokens=25_000_000, drill_start=5 / 8, lr=1.5e-3),
}


@dataclass
class StudiesConfig(QuickstartConfig):
    """``interp studies``: the quickstart's pipeline on the larger ``studies`` model, for the seed studies."""

    out_dir: str = "runs/studies"
    """Output directory: data/ (corpus and tokenizer), model/ (the run) and report.html."""
    preset: str = "studies"
    """Model size, a preset of interp.models.config.PRESETS (studies: 4 layers, d_model 256, 8 heads)."""


def _resolved(cfg: QuickstartConfig) -> dict[str, Any]:
    cuda = resolve_device(cfg.device).type == "cuda"
    preset = cfg.preset if cfg.preset != "auto" else ("gpu" if cuda else "cpu")
    recipe = RECIPES.get(preset, RECIPES["cpu"])
    return {
        "preset": preset,
        "max_steps": (steps := cfg.max_steps or recipe.max_steps),
        "batch_size": cfg.batch_size or recipe.batch_size,
        "n_tokens": cfg.n_tokens or recipe.n_tokens,
        "lr": (lr := cfg.lr or recipe.lr),
        "min_lr": cfg.min_lr if cfg.min_lr != -1 else float(f"{lr / 10:.6g}"),  # 3e-4 exactly, not 3.0000000000000003e-4
        "copy_drill_start": cfg.copy_drill_start if cfg.copy_drill_start >= 0 else int(steps * recipe.drill_start),
        "copy_drill_stop": cfg.copy_drill_stop if cfg.copy_drill_stop >= 0 else steps * 13 // 16,
        **{f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name.startswith(("lookback_drill_", "task_drill_"))},
    }


def _prepare(cfg: QuickstartConfig, data_dir: Path, n_tokens: int) -> None:
    from interp.data.prepare import DataConfig, prepare_data

    # The quickstart owns its data directory: it regenerates it (atomically) when the settings differ. Where it
    # lives is not a setting: a copied or moved run reuses its data (and so can be resumed).
    data_cfg = DataConfig(out_dir=str(data_dir), n_tokens=n_tokens, seed=cfg.seed, overwrite=True)
    saved = DataLayout(data_dir).config

    def settings(config: dict) -> dict:
        return {k: v for k, v in config.items() if k not in ("overwrite", "out_dir")}

    if saved.exists() and settings(read_json(saved)["config"]) == settings(data_cfg.__dict__):
        print(f"[1/4] corpus: reusing {data_dir}")
        return
    print(f"[1/4] corpus: generating {n_tokens:,} tokens of stories and training a tokenizer")
    prepare_data(data_cfg, progress=cfg.progress)


@torch.no_grad()
def _samples(run_dir: Path, seed: int) -> list[tuple[str, str]]:
    from interp.models.loading import load_gpt_and_tokenizer

    gpt, tok = load_gpt_and_tokenizer(run_dir)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for prompt in SAMPLE_PROMPTS:
        ids = torch.tensor([[tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]])
        new = gpt.generate(ids, max_new_tokens=40, temperature=0.7, top_k=20, generator=gen)[0, ids.shape[1] :]
        out.append((prompt, tok.decode(new).split("<|endoftext|>")[0]))
    return out


def run_quickstart(cfg: QuickstartConfig) -> dict[str, Any]:
    """Run the whole job; returns the evaluation results (also in ``out_dir/model/eval.json``)."""
    from interp.tasks.evaluate_run import evaluate_run
    from interp.training.config import TrainConfig
    from interp.training.trainer import train

    t0 = time.time()
    out = Path(cfg.out_dir)
    r = _resolved(cfg)
    if r["preset"] not in PRESETS:  # before the corpus is built, not after
        raise ConfigError(f"Unknown preset {r['preset']!r}; choose auto or one of {sorted(PRESETS)}.")
    layout = QuickstartLayout(out)
    data_dir, run_dir = layout.data.root, layout.model.root  # data beside the model
    stages = STAGES.get(r["preset"], ()) if cfg.fine_tunes else ()
    main_dir = layout.stage("base").root if stages else run_dir
    main_cfg = TrainConfig(
        preset=r["preset"], data_dir=str(data_dir), out_dir=str(main_dir), batch_size=r["batch_size"],
        max_steps=r["max_steps"], lr=r["lr"], min_lr=r["min_lr"], warmup_steps=cfg.warmup_steps,
        copy_drill_frac=cfg.copy_drill_frac, copy_drill_start=r["copy_drill_start"], copy_drill_stop=r["copy_drill_stop"],
        **{k: v for k, v in r.items() if k.startswith(("lookback_drill_", "task_drill_"))},
        val_interval=max(1, r["max_steps"] // 5), ckpt_interval=max(1, r["max_steps"] // 5), seed=cfg.seed,
        device=cfg.device, resume=cfg.resume, overwrite=cfg.overwrite, progress=cfg.progress,
    )
    main_cfg.validate()  # bad settings fail now, not after the corpus is built
    _prepare(cfg, data_dir, r["n_tokens"])
    device = None if cfg.device == "auto" else cfg.device
    print(f"[2/4] training the '{r['preset']}' preset for {r['max_steps']} steps of {r['batch_size']} sequences")
    train(main_cfg)
    before, t_tune = None, time.time()
    if stages:
        before = evaluate_run(main_dir, n_prompts=cfg.n_prompts, seed=cfg.seed, device=device,  # for the record
                              progress=cfg.progress)
        # the main run, then each stage's own directory: each stage starts from the one before it
        dirs = [main_dir, *(layout.stage(s.name).root for s in stages[:-1]), run_dir]
        if cfg.resume:  # before any stage trains
            for parent, out_dir in pairwise(dirs):
                check_parent(out_dir, parent)
        for i, (stage, (parent, out_dir)) in enumerate(zip(stages, pairwise(dirs), strict=True), 1):
            print(f"[2/4] fine-tune {i}/{len(stages)} '{stage.name}', {stage.settings['max_steps']} steps: "
                  f"{stage.summary}")
            train(TrainConfig(**stage_config(asdict(main_cfg), stage, str(parent), str(out_dir))))
    tuned_minutes = (time.time() - t_tune) / 60
    print("[3/4] evaluating on held-out probe prompts")
    results = evaluate_run(run_dir, n_prompts=cfg.n_prompts, seed=cfg.seed, device=device, progress=cfg.progress)
    print("[4/4] writing the report")
    samples = _samples(run_dir, cfg.seed)
    minutes = (time.time() - t0) / 60
    report = write_quickstart_report(
        layout.report, run_dir, results, samples, summary=[
            ["preset", r["preset"]], ["total time (minutes)", round(minutes, 1)],
            *([["main training run", str(main_dir)], ["fine-tunes (minutes)", round(tuned_minutes, 1)]]
              if stages else [])],
        targets=TARGETS.get(r["preset"], TARGETS["quickstart"]),
        fine_tunes=fine_tunes_html(stages, before, results) if stages else "")
    atomic_write_json(layout.summary, {"config": cfg, "resolved": r, "minutes": round(minutes, 2),
                                       "stages": [s.name for s in stages], "fine_tune_minutes": round(tuned_minutes, 2),
                                       "eval_before_fine_tunes": before, "eval": results})
    ioi, ind = results["ioi_heldout_family"], results["induction"]
    print(f"\nDone in {minutes:.1f} min. Validation loss {results.get('val_loss', float('nan')):.3f}; "
          f"on held-out phrasing families IOI accuracy {ioi['accuracy']:.3f} (logit diff "
          f"{ioi['mean_logit_diff']:.2f}; {results['ioi']['accuracy']:.3f} in-distribution), capitals "
          f"{results['capitals_heldout_family']['accuracy']:.3f}, colored objects "
          f"{results['colored_objects_heldout_family']['accuracy']:.3f}, multiple choice "
          f"{results['multiple_choice_heldout_family']['accuracy']:.3f}; induction gain {ind['induction_gain']:.2f} nats.")
    print(f"Report: {report.resolve()}  (open it in a browser)")
    return results

"""The one owner of on-disk layouts: where each file of a data directory, a model run and a cache lives.

Every module asks these objects for paths instead of spelling file names, and paths recorded inside an artifact
resolve relative to the artifact, so a run copied anywhere (with its data beside it) keeps working from any
current directory.

    runs/quickstart/   QuickstartLayout: report.html  quickstart.json
      data/        DataLayout:  data_config.json  tokenizer/  train/  val/
      model/       RunLayout:   train_config.json  model_config.json  run_info.json  metrics.jsonl
                                loss_curve.html  eval.json  tokenizer/  tuned_lens/  .lock
                                checkpoints/latest
                                checkpoints/step_000500/   CheckpointLayout: model.safetensors  model_config.json
                                                           optimizer.pt  trainer_state.json
                                analysis/<task>/           AnalysisLayout: report.html  findings.json

>>> run = RunLayout("runs/quickstart/model")
>>> run.data_dir()            # the run's training data, found relative to the run first
PosixPath('runs/quickstart/data')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from interp.errors import RunDirError


class Layout:
    """A directory whose file names one subclass owns; ``root`` is where it lies (relative paths stay relative)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"


class DataLayout(Layout):
    """A data directory written by ``interp corpus``."""

    SPLITS = ("train", "val")

    config = property(lambda self: self.root / "data_config.json")
    tokenizer = property(lambda self: self.root / "tokenizer")
    train = property(lambda self: self.split("train"))
    val = property(lambda self: self.split("val"))

    def split(self, name: str) -> Path:
        """``train`` or ``val``: a token-shard directory."""
        if name not in self.SPLITS:
            raise RunDirError(f"Unknown data split {name!r}; use one of {self.SPLITS}.")
        return self.root / name

    def exists(self) -> bool:
        return self.config.exists() or self.train.is_dir()


class RunLayout(Layout):
    """A model run directory written by ``interp train`` (or ``interp import``)."""

    train_config = property(lambda self: self.root / "train_config.json")
    model_config = property(lambda self: self.root / "model_config.json")
    run_info = property(lambda self: self.root / "run_info.json")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    loss_curve = property(lambda self: self.root / "loss_curve.html")
    eval = property(lambda self: self.root / "eval.json")
    tokenizer = property(lambda self: self.root / "tokenizer")
    checkpoints = property(lambda self: self.root / "checkpoints")
    latest = property(lambda self: self.root / "checkpoints" / "latest")
    tuned_lens = property(lambda self: self.root / "tuned_lens")
    lock = property(lambda self: self.root / ".lock")

    def checkpoint(self, step_or_name: int | str) -> Path:
        """``checkpoints/step_000500`` from 500 or from its name."""
        name = step_or_name if isinstance(step_or_name, str) else f"step_{step_or_name:06d}"
        return self.checkpoints / name

    def analysis(self, task: str) -> Path:
        return self.root / "analysis" / task

    def is_run(self) -> bool:
        return self.model_config.exists() or self.train_config.exists()

    def data_record(self, data_dir: str | os.PathLike) -> dict[str, str]:
        """How a run records its data directory: relative to the run (survives copying the run and its data
        together) and absolute (survives moving the run alone)."""
        data = Path(data_dir).resolve()
        return {"data_dir": str(data), "data_dir_relative": os.path.relpath(data, self.root.resolve())}

    def data_candidates(self) -> list[tuple[Path, str]]:
        """Where the run's data may be, most trusted first, each with where that path came from."""
        from interp.io import read_json

        found: list[tuple[Path, str]] = []
        info = read_json(self.run_info) if self.run_info.exists() else {}
        if info.get("data_dir_relative"):
            found.append((self.root / info["data_dir_relative"], f"data_dir_relative in {self.run_info}"))
        if info.get("data_dir"):
            found.append((Path(info["data_dir"]), f"data_dir in {self.run_info}"))
        cfg: dict[str, Any] = read_json(self.train_config) if self.train_config.exists() else {}
        if cfg.get("data_dir"):
            given = Path(cfg["data_dir"])
            found.append((given, f"data_dir in {self.train_config} (relative to the current directory {Path.cwd()})"
                          if not given.is_absolute() else f"data_dir in {self.train_config}"))
        return found

    def data_dir(self, required: bool = True) -> Path | None:
        """The run's training data directory: the first recorded location that exists.

        With ``required`` a missing directory raises an error that lists every path tried and where it came
        from; otherwise it returns None.
        """
        if not (self.root.is_dir() and self.is_run()) and not required:
            return None
        if not self.root.is_dir():
            raise RunDirError(f"Run directory {self.root} does not exist (resolved from {Path.cwd()}); check the "
                              "path, or train a run there with `interp train`.")
        if not self.is_run():
            raise RunDirError(f"{self.root} is not a run directory (it holds no {self.model_config.name}; resolved from "
                              f"{Path.cwd()}): check the path. Runs are written by `interp train` or `interp quickstart`.")
        tried = self.data_candidates()
        for path, _source in tried:
            if DataLayout(path).exists():
                return path
        if not required:
            return None
        where = "; ".join(f"{p} (from {src})" for p, src in tried) or "nothing: the run records no data directory"
        raise RunDirError(f"The training data of run {self.root} was not found. Tried: {where}. Copy the data "
                          "directory to one of these places, or pass its path explicitly (--data-dir).")


class LNRemovalLayout(RunLayout):
    """The output of ``interp remove-ln``: a run directory holding the LayerNorm-free model (its checkpoint,
    ``model_config.json``, ``eval.json``), beside the fine-tuning that produced it and its comparison.

        OUT/  checkpoints/  model_config.json  run_info.json  tokenizer/  eval.json  ln_removal.json  report.html
              removal/            the fine-tuning run with removable norms (checkpoints, metrics.jsonl, --resume)
              baseline_ln_kept/   the same fine-tuning with LayerNorm kept (the fair comparison)
              parent/  data/      an imported Hugging Face parent and its text (--text-source), when given one
    """

    summary = property(lambda self: self.root / "ln_removal.json")
    report = property(lambda self: self.root / "report.html")
    removal = property(lambda self: RunLayout(self.root / "removal"))
    baseline = property(lambda self: RunLayout(self.root / "baseline_ln_kept"))
    parent = property(lambda self: RunLayout(self.root / "parent"))
    data = property(lambda self: DataLayout(self.root / "data"))


class SteeringLayout(Layout):
    """The output of ``interp steer`` for one concept:

        OUT/  results.json   every row (method, strength, split), the chosen strengths, the config, timings
              report.html    concept rate against fluency per method, the test table, sample continuations
              steering/GOAL-METHOD/   each method's steering at its chosen strength (Steering.load)
    """

    results = property(lambda self: self.root / "results.json")
    report = property(lambda self: self.root / "report.html")

    def steering(self, goal: str, method: str) -> Path:
        return self.root / "steering" / f"{goal}-{method}"


class CheckpointLayout(Layout):
    """One checkpoint directory (``checkpoints/step_000500``) written by the trainer or ``interp import``."""

    weights = property(lambda self: self.root / "model.safetensors")
    model_config = property(lambda self: self.root / "model_config.json")
    optimizer = property(lambda self: self.root / "optimizer.pt")
    trainer_state = property(lambda self: self.root / "trainer_state.json")

    def is_complete(self) -> bool:
        """Weights and trainer state present (what a resume needs besides the optimizer)."""
        return self.weights.exists() and self.trainer_state.exists()


class AnalysisLayout(Layout):
    """The output of ``interp analyze`` for one task (``RUN/analysis/ioi``)."""

    report = property(lambda self: self.root / "report.html")
    findings = property(lambda self: self.root / "findings.json")


class QuickstartLayout(Layout):
    """``interp quickstart``'s out dir: its data and model side by side, the report and a summary."""

    data = property(lambda self: DataLayout(self.root / "data"))
    model = property(lambda self: RunLayout(self.root / "model"))  # the finished model (the last fine-tune's)
    report = property(lambda self: self.root / "report.html")
    summary = property(lambda self: self.root / "quickstart.json")

    def stage(self, name: str) -> RunLayout:
        """The run of a fine-tune stage, or ``base`` for the main training when fine-tunes follow it."""
        return RunLayout(self.root / "stages" / name)

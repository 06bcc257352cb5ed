"""The guard of a ``train-sae`` out dir: new run, ``--resume`` or ``--overwrite``, decided before anything is written.

- A new run refuses an out dir that holds a run (``train_config.json``) or SAE directories it would replace.
- ``--resume`` compares the saved ``train_config.json`` with the new settings and refuses changes to what is
  computed (k, lr, architecture, hooks, n_tokens, ...), naming each; harmless ones (progress, log_interval,
  ckpt_interval, device, ...: ``RESUMABLE_CHANGES``) may change.
- ``--overwrite`` deletes only what this run owns: the old run's ``train_config.json``, ``metrics.jsonl``,
  ``checkpoints/`` and the SAE directories this run will write. Other SAEs in a shared out dir are kept.

A ``train-clt`` out dir (``check_clt_out_dir``) is one CLT directory with its run beside it: a new run refuses a
non-empty one; ``--resume`` continues its latest checkpoint (the trainer compares model, tokens and settings);
``--overwrite`` deletes the CLT, ``checkpoints/`` and ``train_config.json``, keeping other files.

>>> plan = check_out_dir(cfg)      # raises RunDirError, or says what --overwrite will delete
>>> plan.clear()                   # later, once the model and hooks have been checked
>>> plan = check_clt_out_dir("runs/clt", resume=False, overwrite=False)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from interp.errors import RunDirError
from interp.io import read_json
from interp.training.checkpoint import latest_checkpoint
from saes.errors import SAEConfigError
from saes.layout import CLTLayout, SAERunLayout
from saes.train_config import RESUMABLE_CHANGES, SAETrainConfig, resume_differences


@dataclass
class OutDirPlan:
    """What a run will do to its out dir: resume the saved run, or start (deleting ``delete`` first)."""

    layout: SAERunLayout | CLTLayout
    resume: bool
    delete: list[Path] = field(default_factory=list)

    def clear(self) -> None:
        """Delete what ``--overwrite`` replaces (nothing otherwise)."""
        for path in self.delete:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def saved_config(layout: SAERunLayout) -> SAETrainConfig:
    """The settings the run in ``layout`` was started with."""
    try:
        return SAETrainConfig.from_dict(read_json(layout.train_config))
    except (OSError, json.JSONDecodeError, TypeError, SAEConfigError) as err:
        raise RunDirError(f"{layout.train_config} cannot be read as SAE training settings ({err}); the run cannot be "
                          "resumed. Start it again with --overwrite, or choose another --out-dir.") from err


def check_out_dir(cfg: SAETrainConfig) -> OutDirPlan:
    """Decide what ``cfg`` may do in its out dir (raising ``RunDirError`` when it may do nothing), deleting nothing."""
    layout = SAERunLayout(cfg.out_dir)
    out = layout.root
    labels = [s.label for s in cfg.specs()]
    if cfg.resume and (layout.is_run() or latest_checkpoint(out) is not None):
        diff = resume_differences(saved_config(layout), cfg) if layout.is_run() else {}
        if diff:
            changes = "; ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in diff.items())
            raise RunDirError(
                f"{out} holds a run trained with other settings ({changes}); --resume must not change what the run "
                f"computes (only {sorted(RESUMABLE_CHANGES - {'resume', 'overwrite'})} may change). Resume with the "
                f"saved settings ({layout.train_config}), train the new ones into another --out-dir, or start again "
                "with --overwrite.")
        return OutDirPlan(layout, resume=True)
    plan = OutDirPlan(layout, resume=False)
    if layout.is_run():
        if not cfg.overwrite:
            raise RunDirError(
                f"{out} already holds an SAE run; pass --resume to continue it (same settings), --overwrite to start "
                f"again (deletes its checkpoints, metrics and train_config.json and the SAE directories {labels}; "
                f"other SAEs in {out} are kept), or choose another --out-dir.")
        plan.delete += [p for p in layout.run_files() if p.exists()]
    taken = [label for label in labels if layout.sae(label).root.exists()]
    if taken and not cfg.overwrite:
        raise RunDirError(f"{out} already has SAE directories {taken} that this run would replace; pass --overwrite to "
                          "replace them, give the SAEs other names (name=...), or choose another --out-dir.")
    plan.delete += [layout.sae(label).root for label in taken]
    return plan


def check_clt_out_dir(out_dir: str | Path, resume: bool, overwrite: bool) -> OutDirPlan:
    """Decide what a CLT run may do in ``out_dir`` (raising ``RunDirError`` when it may do nothing), deleting
    nothing. Whether a resumed run matches the saved one is the trainer's check (it needs the model)."""
    layout = CLTLayout(out_dir)
    out = layout.root
    if resume and latest_checkpoint(out) is not None:
        return OutDirPlan(layout, resume=True)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out-dir {out} is a file; choose a directory.")
    ours = [p for p in layout.clt_files() + layout.run_files() if p.exists()]
    others = sorted(p.name for p in out.iterdir() if p not in ours and not p.name.startswith(".")) \
        if out.is_dir() else []
    leftovers = resume and not layout.is_clt()  # a run killed before its first checkpoint: nothing to lose
    if (others or (ours and not leftovers)) and not overwrite:
        shown = ", ".join(([p.name for p in ours] + others)[:6])
        wipe = "deletes its CLT, checkpoints and train_config.json; other files are kept"
        if resume:
            raise RunDirError(f"--out-dir {out} holds no checkpoint to resume from ({layout.latest} is missing) and is "
                              f"not empty ({shown}); pass --overwrite to train there from the start ({wipe}), or "
                              "choose another --out-dir.")
        raise RunDirError(f"--out-dir {out} already exists and is not empty ({shown}); pass --resume to continue the "
                          f"CLT run there (same model and settings), --overwrite to train again ({wipe}), or choose "
                          "another --out-dir.")
    return OutDirPlan(layout, resume=False, delete=ours)


__all__ = ["OutDirPlan", "check_clt_out_dir", "check_out_dir", "saved_config"]

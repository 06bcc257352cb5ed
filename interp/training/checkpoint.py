"""Checkpoints: safetensors weights, JSON config, optimizer and trainer state, written atomically.

Layout of a run directory::

    model_config.json  train_config.json  metrics.jsonl  tokenizer/
    checkpoints/step_000500/{model.safetensors, model_config.json, optimizer.pt, trainer_state.json}
    checkpoints/latest          # the name of the newest complete checkpoint, written last

A checkpoint directory is built under a temporary name and renamed into place, and ``latest`` is replaced
atomically after it, so a run killed at any moment leaves the previous checkpoint intact.

>>> gpt = load_model("runs/quickstart/model")            # latest checkpoint
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from interp.errors import CheckpointError
from interp.io import (
    atomic_dir,
    atomic_path,
    atomic_save_safetensors,
    atomic_write_json,
    atomic_write_text,
    is_disk_full,
    load_safetensors,
    read_json,
    remove_stale_temps,
    sha256_file,
)
from interp.layout import CheckpointLayout, RunLayout
from interp.models.config import ModelConfig
from interp.models.gpt import GPT

CKPT_DIR = RunLayout(".").checkpoints.name  # "checkpoints" (the names live in interp.layout)
LATEST = RunLayout(".").latest.name  # "latest"


def model_tensors(model: GPT) -> dict[str, torch.Tensor]:
    """State dict to save: tied ``lm_head.weight`` is left out (it is ``wte.weight``)."""
    state = model.state_dict()
    if model.cfg.tie_embeddings:
        state.pop("lm_head.weight", None)
    return state


def save_checkpoint(run_dir: str | Path, model: GPT, optimizer: torch.optim.Optimizer | None, step: int,
                    state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``checkpoints/step_{step:06d}`` atomically, point ``latest`` at it, keep the newest ``keep``."""
    root = Path(run_dir) / CKPT_DIR
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:06d}"
    try:
        with atomic_dir(root / name) as tmp_dir:
            tmp = CheckpointLayout(tmp_dir)
            atomic_save_safetensors(tmp.weights, model_tensors(model), metadata={"format": "interp-gpt"})
            atomic_write_json(tmp.model_config, model.cfg.to_dict())
            hashes = {tmp.weights.name: sha256_file(tmp.weights)}
            if optimizer is not None:
                with atomic_path(tmp.optimizer) as opt_tmp:
                    torch.save(optimizer.state_dict(), opt_tmp)
                hashes[tmp.optimizer.name] = sha256_file(tmp.optimizer)
            atomic_write_json(tmp.trainer_state, {"step": step, **state, "sha256": hashes})
    except (OSError, RuntimeError, SafetensorError) as err:
        if not is_disk_full(err):
            raise
        raise CheckpointError(f"Could not write checkpoint {name} into {root}: the disk is full ({err}). The "
                              "previous checkpoint is intact and nothing half-written was kept: free some space, then "
                              "continue with --resume.") from err
    publish_latest(root, name, keep)
    return root / name


def write_model_run(out_dir: str | Path, model: GPT, tokenizer: Any = None, state: dict[str, Any] | None = None,
                    step: int = 0) -> Path:
    """A run directory holding one model and no training (``interp import``, the output of LayerNorm removal):
    a checkpoint, ``model_config.json`` and, when given, the tokenizer; ``interp.load`` and ``interp eval`` read
    it. ``state`` goes into the checkpoint's trainer state (where the model came from)."""
    from interp.data.tokenizer import save_tokenizer

    run = RunLayout(out_dir)
    save_checkpoint(run.root, model, None, step=step, state={"tokens_seen": 0, **(state or {})})
    atomic_write_json(run.model_config, model.cfg.to_dict())
    if tokenizer is not None and not run.tokenizer.exists():
        save_tokenizer(tokenizer, run.tokenizer)
    return run.root


def verify_checkpoint_file(ckpt: Path, filename: str) -> None:
    """Compare a checkpoint file with the sha256 recorded when it was written (checkpoints written before hashes
    were recorded pass unchecked)."""
    state_path = CheckpointLayout(ckpt).trainer_state
    if not state_path.exists():
        return
    expected = (read_json(state_path).get("sha256") or {}).get(filename)
    if expected is not None and sha256_file(ckpt / filename) != expected:
        raise CheckpointError(f"{ckpt / filename} has changed since it was written (its sha256 differs from the one "
                              f"in {state_path.name}): the file is corrupt or was modified. Use an earlier checkpoint "
                              "or retrain.")


def publish_latest(root: Path, name: str, keep: int) -> None:
    """Point ``root/latest`` at checkpoint ``name`` (atomically), then delete older checkpoints so that ``keep``
    remain. The checkpoint just published is never deleted, and neither is any later-named one (a stale
    checkpoint from before a restart is not pruned in place of the new one), nor leftovers of killed saves
    (``.step_*``) of an earlier process (they are removed)."""
    if keep < 1:
        raise CheckpointError(f"keep={keep}: at least the newest checkpoint must be kept (keep >= 1).")
    atomic_write_text(root / LATEST, name + "\n")
    older = sorted(p for p in root.glob("step_*") if p.is_dir() and p.name < name)
    for old in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(old)
    remove_stale_temps(root, "step_*")  # temp dirs of saves killed midway


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoint directories that hold weights and trainer state, oldest first."""
    root = Path(run_dir) / CKPT_DIR
    return sorted(p for p in root.glob("step_*") if CheckpointLayout(p).is_complete())


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    root = Path(run_dir) / CKPT_DIR
    pointer = root / LATEST
    if not pointer.exists():
        return None
    path = root / pointer.read_text().strip()
    return path if path.is_dir() else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory from a run directory (its latest) or a checkpoint directory itself."""
    path = Path(path)
    if CheckpointLayout(path).weights.exists():
        return path
    ckpt = latest_checkpoint(path)
    if ckpt is None:
        raise CheckpointError(f"No checkpoint in {path}: expected {RunLayout(path).latest} or "
                              f"{CheckpointLayout(path).weights.name}. "
                              "Is this a run directory written by `interp train`?")
    return ckpt


def load_model(path: str | Path, device: str | torch.device = "cpu") -> GPT:
    """The ``GPT`` saved at ``path`` (run or checkpoint directory), with clear errors for bad checkpoints."""
    ckpt = resolve_checkpoint(path)
    files = CheckpointLayout(ckpt)
    cfg_path = files.model_config
    if not cfg_path.exists():
        cfg_path = RunLayout(ckpt.parent.parent).model_config  # the run's, for checkpoints without their own
    if not cfg_path.exists():
        raise CheckpointError(f"No {files.model_config.name} beside {ckpt}; the checkpoint is incomplete.")
    try:
        cfg = ModelConfig.from_dict(read_json(cfg_path))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{cfg_path} is not a valid model config: {err}") from err
    try:
        verify_checkpoint_file(ckpt, files.weights.name)
        tensors = load_safetensors(files.weights)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{files.weights} is truncated or corrupt ({err}); use an earlier "
                              "checkpoint or retrain.") from err
    model = GPT(cfg)
    expected = model_tensors(model)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        foreign = len(missing) > len(expected) // 2
        raise CheckpointError(
            f"{ckpt} is not an interp-workbench checkpoint (it has tensors such as {unexpected[:3]}); "
             "for Hugging Face GPT-2 directories use interp.models.convert.import_hf." if foreign else
             f"{ckpt} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise CheckpointError(f"{ckpt}: tensor {name} has shape {tuple(t.shape)} but model_config.json implies "
                                  f"{tuple(expected[name].shape)}; the config does not belong to these weights.")
    model.load_state_dict(tensors, strict=False)
    return model.to(device).eval()


def load_training_state(ckpt: Path, model: GPT, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore weights and optimizer in place from ``ckpt``; returns its trainer state."""
    loaded = load_model(ckpt)
    model.load_state_dict(loaded.state_dict())
    opt_path = CheckpointLayout(ckpt).optimizer
    if not opt_path.exists():
        raise CheckpointError(f"{ckpt} has no optimizer.pt, so training cannot resume exactly from it.")
    verify_checkpoint_file(ckpt, opt_path.name)
    try:
        optimizer.load_state_dict(torch.load(opt_path, map_location="cpu", weights_only=True))
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError) as err:
        raise CheckpointError(f"{opt_path} is truncated, corrupt or not an optimizer state ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}); resume from an earlier checkpoint "
                              "(point checkpoints/latest at it) or start again with --overwrite.") from err
    return read_json(CheckpointLayout(ckpt).trainer_state)

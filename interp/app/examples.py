"""Example models for notebooks and docs: a tiny trained run built once per machine, or the quickstart run.

>>> run_dir = example_run("tiny")        # ~30 s the first time, then reused from the temp directory
>>> run_dir = example_run("quickstart")  # runs/quickstart/model, after `interp quickstart`
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from interp.errors import RunDirError

TINY_STEPS = 150


def example_run(size: str = "tiny", root: str | Path | None = None) -> Path:
    """The run directory of an example model: ``'tiny'`` (trained here on first use) or ``'quickstart'``."""
    if size == "quickstart":
        run = Path("runs/quickstart/model")
        if not (run / "model_config.json").exists():
            raise RunDirError(f"{run} holds no trained model: run `interp quickstart` first (about 12 minutes), "
                              "or use example_run('tiny').")
        return run
    if size != "tiny":
        raise RunDirError(f"Unknown example size {size!r}: use 'tiny' or 'quickstart'.")
    from interp.data.prepare import DataConfig, prepare_data
    from interp.training.config import TrainConfig
    from interp.training.trainer import train

    root = Path(root or Path(tempfile.gettempdir()) / "interp-workbench-examples")
    data, run = root / "tiny-data", root / "tiny-model"
    if not (data / "data_config.json").exists():
        prepare_data(DataConfig(out_dir=str(data), n_tokens=400_000, val_tokens=40_000, vocab_size=1024,
                                bpe_train_chars=400_000, seed=0))
    if not (run / "model_config.json").exists() or not (run / "checkpoints" / "latest").exists():
        train(TrainConfig(preset="tiny", data_dir=str(data), out_dir=str(run), batch_size=16, max_steps=TINY_STEPS,
                          lr=3e-3, min_lr=3e-4, warmup_steps=10, val_interval=TINY_STEPS, val_tokens=8_000,
                          ckpt_interval=TINY_STEPS, progress=False, seed=0, overwrite=True))
    return run

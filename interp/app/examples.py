"""Example models for notebooks and docs: a tiny trained run built once per machine, or the quickstart run.

>>> run_dir = example_run("tiny")        # ~30 s the first time, then reused from the temp directory
>>> run_dir = example_run("quickstart")  # runs/quickstart/model, after `interp quickstart`
>>> run_dir = example_run("auto")        # the quickstart run if it exists, else the tiny one

The quickstart run is looked for in ``runs/quickstart/model`` under the current directory and each of its
parents (Jupyter starts kernels in ``notebooks/``), then under the checkout this package was installed from.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from interp.errors import RunDirError
from interp.layout import DataLayout, RunLayout

TINY_STEPS = 150


QUICKSTART_RUN = Path("runs") / "quickstart" / "model"


def quickstart_candidates() -> list[Path]:
    """Where ``interp quickstart``'s model may be: under the current directory or a parent, then the checkout."""
    here = Path.cwd().resolve()
    places = [here, *here.parents, Path(__file__).resolve().parents[2]]
    return list(dict.fromkeys(place / QUICKSTART_RUN for place in places))


def find_quickstart_run() -> Path | None:
    """The quickstart's run directory if ``interp quickstart`` has finished somewhere above here, else None."""
    return next((run for run in quickstart_candidates() if RunLayout(run).latest.exists()), None)


def example_run(size: str = "tiny", root: str | Path | None = None) -> Path:
    """The run directory of an example model: ``'tiny'`` (trained here on first use), ``'quickstart'`` (after
    ``interp quickstart``) or ``'auto'`` (the quickstart's if it exists, else the tiny one)."""
    if size not in ("tiny", "quickstart", "auto"):
        raise RunDirError(f"Unknown example size {size!r}: use 'tiny', 'quickstart' or 'auto'.")
    if size in ("quickstart", "auto"):
        run = find_quickstart_run()
        if run is not None:
            return run
        if size == "quickstart":
            tried = ", ".join(str(p) for p in quickstart_candidates()[:3])
            raise RunDirError(f"No finished quickstart run found (looked in {tried}, ...): run `interp quickstart` "
                              "from the repository root first (about 11 minutes), or use example_run('tiny').")
    from interp.data.prepare import DataConfig, prepare_data
    from interp.training.config import TrainConfig
    from interp.training.trainer import train

    root = Path(root or Path(tempfile.gettempdir()) / "interp-workbench-examples")
    data, run = root / "tiny-data", root / "tiny-model"
    if not DataLayout(data).config.exists():
        prepare_data(DataConfig(out_dir=str(data), n_tokens=400_000, val_tokens=40_000, vocab_size=1024,
                                bpe_train_chars=400_000, seed=0))
    if not RunLayout(run).model_config.exists() or not RunLayout(run).latest.exists():
        train(TrainConfig(preset="tiny", data_dir=str(data), out_dir=str(run), batch_size=16, max_steps=TINY_STEPS,
                          lr=3e-3, min_lr=3e-4, warmup_steps=10, val_interval=TINY_STEPS, val_tokens=8_000,
                          ckpt_interval=TINY_STEPS, progress=False, seed=0, overwrite=True))
    return run

"""The one owner of SAE file names: an SAE directory (``SAELayout``), a ``train-sae`` out dir
(``SAERunLayout``) and a cross-layer transcoder (``CLTLayout``, also a ``train-clt`` out dir). Every ``saes`` module asks these instead of spelling file names; the run-level names a model
run shares (``train_config.json``, ``metrics.jsonl``, ``checkpoints/``) come from ``interp.layout.RunLayout``.

    runs/saes/                    SAERunLayout
      train_config.json  metrics.jsonl  wandb/
      checkpoints/{step_000200/{saes/<name>/, trainer.pt, trainer_state.json}, latest}
      <name>/                     SAELayout (SAELens format)
        cfg.json  sae_weights.safetensors  sparsity.safetensors  eval.json  density.html  dashboard/
        ground_truth.json  ground_truth.html

>>> run = SAERunLayout("runs/saes")
>>> run.sae("topk-blocks.1.hook_resid_pre").weights
PosixPath('runs/saes/topk-blocks.1.hook_resid_pre/sae_weights.safetensors')
"""

from __future__ import annotations

import os
from pathlib import Path

from interp.layout import Layout, RunLayout


class SAELayout(Layout):
    """One SAE directory in SAELens' on-disk format (plus the workbench's evaluation files)."""

    CFG = "cfg.json"
    WEIGHTS = "sae_weights.safetensors"


    cfg = property(lambda self: self.root / self.CFG)
    weights = property(lambda self: self.root / self.WEIGHTS)
    sparsity = property(lambda self: self.root / "sparsity.safetensors")  # SAELens' feature log-sparsity
    eval = property(lambda self: self.root / "eval.json")
    density = property(lambda self: self.root / "density.html")
    ground_truth = property(lambda self: self.root / "ground_truth.json")  # eval-sae --ground-truth
    ground_truth_page = property(lambda self: self.root / "ground_truth.html")
    dashboard = property(lambda self: self.root / "dashboard")

    def is_sae(self) -> bool:
        return self.cfg.exists() and self.weights.exists()


class SAERunLayout(Layout):
    """An out dir of ``interp train-sae``: run-level files, checkpoints, and one ``SAELayout`` per SAE."""

    SAES = "saes"  # inside a checkpoint: one SAE directory per SAE

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__(root)
        self._run = RunLayout(self.root)

    train_config = property(lambda self: self._run.train_config)
    metrics = property(lambda self: self._run.metrics)
    checkpoints = property(lambda self: self._run.checkpoints)
    latest = property(lambda self: self._run.latest)
    wandb = property(lambda self: self.root / "wandb")  # wandb's offline files, when --wandb is set
    lock = property(lambda self: self._run.lock)  # held while a process writes the out dir

    def checkpoint(self, step_or_name: int | str) -> Path:
        """``checkpoints/step_000200`` from 200 or from its name."""
        return self._run.checkpoint(step_or_name)

    def sae(self, name: str) -> SAELayout:
        """The final SAE ``name`` of the run."""
        return SAELayout(self.root / name)

    @classmethod
    def checkpoint_sae(cls, ckpt: Path, name: str) -> SAELayout:
        """SAE ``name`` inside checkpoint directory ``ckpt``."""
        return SAELayout(ckpt / cls.SAES / name)

    @staticmethod
    def trainer_blob(ckpt: Path) -> Path:
        """Optimizer state and dead-feature counters of a checkpoint (``torch.save``, loaded weights-only)."""
        return ckpt / "trainer.pt"

    @staticmethod
    def trainer_state(ckpt: Path) -> Path:
        """Step, rows served and activation scales of a checkpoint (JSON)."""
        return ckpt / "trainer_state.json"

    def run_files(self) -> list[Path]:
        """What belongs to the run as a whole (not to one SAE): deleted by ``--overwrite``."""
        return [self.train_config, self.metrics, self.checkpoints, self.wandb]

    def is_run(self) -> bool:
        return self.train_config.exists()


class CLTLayout(Layout):
    """One CLT directory in the workbench format. A ``train-clt`` out dir is one too, the run's files beside the CLT
    (each checkpoint holds a CLT directory of its own):

        runs/clt/  clt_config.json  clt_weights.safetensors  train_config.json
          checkpoints/{step_000200/{clt/, trainer.pt, trainer_state.json}, latest}
    """

    CONFIG = "clt_config.json"
    WEIGHTS = "clt_weights.safetensors"
    CLT = "clt"  # inside a checkpoint: the CLT at that step

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__(root)
        self._run = RunLayout(self.root)

    config = property(lambda self: self.root / self.CONFIG)
    weights = property(lambda self: self.root / self.WEIGHTS)
    train_config = property(lambda self: self._run.train_config)  # CLTTrainConfig as JSON
    checkpoints = property(lambda self: self._run.checkpoints)
    latest = property(lambda self: self._run.latest)
    lock = property(lambda self: self._run.lock)  # held while a process trains into the directory

    def checkpoint(self, step_or_name: int | str) -> Path:
        """``checkpoints/step_000200`` from 200 or from its name."""
        return self._run.checkpoint(step_or_name)

    @classmethod
    def checkpoint_clt(cls, ckpt: Path) -> CLTLayout:
        """The CLT inside checkpoint directory ``ckpt``."""
        return cls(ckpt / cls.CLT)

    trainer_blob = staticmethod(SAERunLayout.trainer_blob)  # optimizer state, dead counters, losses (torch.save)
    trainer_state = staticmethod(SAERunLayout.trainer_state)  # step, rows served, model and data identity (JSON)

    def clt_files(self) -> list[Path]:
        """The trained CLT itself."""
        return [self.config, self.weights]

    def run_files(self) -> list[Path]:
        """What a training run writes besides the CLT: deleted (with the CLT) by ``--overwrite``."""
        return [self.train_config, self.checkpoints]

    def is_clt(self) -> bool:
        return self.config.exists() and self.weights.exists()

    def is_run(self) -> bool:
        """Whether a training run has written here (its settings or a checkpoint)."""
        return self.train_config.exists() or self.checkpoints.exists()


__all__ = ["CLTLayout", "SAELayout", "SAERunLayout"]

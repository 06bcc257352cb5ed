"""Options of ``interp train-sae`` (each field is a flag; ``--config x.json`` fills them from a file).

One run trains one SAE from the flags, or several from ``saes`` (a list of ``SAESpec`` dicts), all from one
pass over the activations:

    {"run_dir": "runs/quickstart/model", "out_dir": "runs/saes", "n_tokens": 2000000,
     "saes": [{"name": "topk-resid1", "hook": "blocks.1.hook_resid_pre", "architecture": "topk", "k": 32},
              {"name": "tc-mlp0", "hook": "blocks.0.ln2.hook_normalized", "hook_out": "blocks.0.hook_mlp_out",
               "architecture": "topk", "k": 16}]}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from saes.config import SAEConfig
from saes.errors import SAEConfigError


@dataclass
class SAESpec:
    """One SAE (or transcoder) of a training run."""

    hook: str
    name: str = ""  # default: architecture-hook
    hook_out: str | None = None  # set for a transcoder
    architecture: str = "topk"
    expansion: int = 16  # d_sae = expansion * d_in unless d_sae is set
    d_sae: int = 0
    k: int | None = 32
    l1_coefficient: float = 5.0
    l0_coefficient: float = 1.0
    skip: bool = False
    matryoshka_widths: list[int] = field(default_factory=list)
    lr: float = 0.0  # 0: the run's lr

    @property
    def label(self) -> str:
        return self.name or f"{self.architecture}-{self.hook}" + (f"-to-{self.hook_out}" if self.hook_out else "")

    def sae_config(self, d_in: int, d_out: int, metadata: dict[str, Any]) -> SAEConfig:
        d_sae = self.d_sae or self.expansion * d_in
        topk_family = self.architecture in ("topk", "batchtopk", "matryoshka_batchtopk")
        widths = self.matryoshka_widths or ([d_sae // 8, d_sae // 2, d_sae] if self.architecture ==
                                            "matryoshka_batchtopk" else [])
        return SAEConfig(architecture=self.architecture, d_in=d_in, d_sae=d_sae, hook_name=self.hook,
                         hook_name_out=self.hook_out, d_out=d_out, skip=self.skip, k=self.k if topk_family else None,
                         l1_coefficient=self.l1_coefficient, l0_coefficient=self.l0_coefficient,
                         matryoshka_widths=widths, metadata=dict(metadata))


@dataclass
class SAETrainConfig:
    run_dir: str = "runs/quickstart/model"  # the model (a workbench run directory)
    cache_dir: str = ""  # activations written by `interp cache`; empty: computed on the fly from `data`
    data: str = ""  # token shards for on-the-fly activations (default: the run's training data)
    out_dir: str = "runs/saes"
    saes: list[dict[str, Any]] = field(default_factory=list)  # SAESpec dicts; empty: one SAE from the flags below
    hook: str = "blocks.1.hook_resid_pre"
    hook_out: str = ""
    architecture: str = "topk"
    expansion: int = 16
    d_sae: int = 0
    k: int = 32
    l1_coefficient: float = 5.0
    l0_coefficient: float = 1.0
    skip: bool = False
    n_tokens: int = 2_000_000  # activations (rows) to train on
    batch_size: int = 4096
    lr: float = 4e-4
    warmup_steps: int = 50
    decay_start: float = 0.8  # linear decay of the lr to 0 over the last 20% of steps
    sparsity_warmup_steps: int = 100  # L1/L0 coefficients ramp up linearly over these steps
    normalize_activations: str = "expected_average_only_in"  # inputs scaled to mean norm sqrt(d_in) (folded at save)
    dead_tokens: int = 200_000  # a feature is dead after this many rows without firing
    resample_dead: bool = False  # also re-initialise dead features (besides the AuxK loss of TopK SAEs)
    unit_decoder: bool = True  # keep decoder rows at unit norm
    buffer_size: int = 2**16
    exclude_bos: bool = True
    seed: int = 0
    device: str = "auto"
    ckpt_interval: int = 200  # steps
    log_interval: int = 20
    wandb: str = ""  # a wandb project name to log to (offline mode when the machine has no internet)
    progress: bool = True
    resume: bool = False
    overwrite: bool = False

    def specs(self) -> list[SAESpec]:
        if self.saes:
            try:
                specs = [SAESpec(**s) for s in self.saes]
            except TypeError as err:
                raise SAEConfigError(f"Bad entry in saes: {err}. Fields: {sorted(SAESpec.__dataclass_fields__)}.") from err
        else:
            specs = [SAESpec(hook=self.hook, hook_out=self.hook_out or None, architecture=self.architecture,
                             expansion=self.expansion, d_sae=self.d_sae, k=self.k, l1_coefficient=self.l1_coefficient,
                             l0_coefficient=self.l0_coefficient, skip=self.skip)]
        labels = [s.label for s in specs]
        if len(set(labels)) != len(labels):
            raise SAEConfigError(f"Two SAEs share a name: {labels}; give each a distinct 'name'.")
        return specs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

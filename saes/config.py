"""The configuration of one SAE or transcoder: architecture, sizes, hooks and loss coefficients.

``SAEHyperparams`` declares, once, the hyperparameters an SAE shares with its training spec
(``saes.train_config.SAESpec`` inherits them, and so the ``interp train-sae`` flags); ``SAEConfig`` adds what the
built SAE needs (widths, hooks, dtype). Family facts (does this architecture need k? an L1 penalty?) come from the
architecture class in ``saes.registry``, never from lists of names here.

Saved as ``cfg.json`` in SAELens' on-disk layout (see ``format.py``); workbench-only fields live in ``metadata``.

>>> cfg = SAEConfig(architecture="topk", d_in=128, d_sae=2048, k=32, hook_name="blocks.1.hook_resid_post")
>>> tc = SAEConfig(architecture="topk", d_in=128, d_sae=2048, k=32, hook_name="blocks.0.ln2.hook_normalized",
...                hook_name_out="blocks.0.hook_mlp_out", skip=True)   # a skip-transcoder
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from saes.errors import SAEConfigError
from saes.registry import architecture_class

NORMALIZATIONS = ("none", "expected_average_only_in")  # how the trainer may scale activations (SAETrainConfig)


@dataclass(kw_only=True)
class SAEHyperparams:
    """The hyperparameters of one SAE that its config and its training spec share (declared here only)."""

    l1_coefficient: float = 5.0
    """L1 penalty weight (on feature activations times decoder row norms) for standard and gated SAEs (>= 0);
    ignored by other architectures."""
    l0_coefficient: float = 1.0
    """L0 penalty weight for JumpReLU SAEs (>= 0); ignored by other architectures."""
    jumprelu_bandwidth: float = 0.05
    """JumpReLU: width of the rectangle kernel of the threshold's straight-through gradient (> 0)."""
    jumprelu_init_threshold: float = 0.01
    """JumpReLU: the initial threshold of every feature (>= 0)."""
    matryoshka_widths: list[int] = field(default_factory=list)
    """matryoshka_batchtopk: nested prefix widths, increasing and ending at d_sae; empty: d_sae/8, d_sae/2,
    d_sae. Ignored by other architectures."""
    aux_k: int | None = None
    """TopK family: dead features used by the AuxK loss (>= 1); None or 0: d_in // 2."""
    aux_coefficient: float = 1.0
    """TopK family: weight of the AuxK loss that revives dead features (>= 0; 0 turns it off)."""
    skip: bool = False
    """Skip-transcoder: add a learnt linear map W_skip from input to output (needs a transcoder's output hook)."""
    apply_b_dec_to_input: bool = True
    """Subtract the decoder bias from the input before encoding (SAELens' default; never done by transcoders)."""

    def check_hyperparams(self, architecture: str) -> None:
        """Raise ``SAEConfigError`` for values no architecture accepts."""
        architecture_class(architecture)  # an unknown name raises, listing the registered ones
        for name in ("l1_coefficient", "l0_coefficient", "aux_coefficient", "jumprelu_init_threshold"):
            if getattr(self, name) < 0:
                raise SAEConfigError(f"{name}={getattr(self, name)} must be >= 0.")
        if self.jumprelu_bandwidth <= 0:
            raise SAEConfigError(f"jumprelu_bandwidth={self.jumprelu_bandwidth} must be > 0.")
        if self.aux_k is not None and self.aux_k < 0:
            raise SAEConfigError(f"aux_k={self.aux_k} must be >= 1 (or 0/None for d_in // 2).")

    @classmethod
    def hyperparam_names(cls) -> list[str]:
        return [f.name for f in fields(SAEHyperparams)]


@dataclass(kw_only=True)
class SAEConfig(SAEHyperparams):
    """One built SAE: its architecture and sizes, the hooks it reads and predicts, and the shared hyperparameters."""

    architecture: str
    """A registered architecture (``saes.registry.registered()``): standard, topk, batchtopk, jumprelu, gated,
    matryoshka_batchtopk."""
    d_in: int
    """Width of the input activations (> 0)."""
    d_sae: int
    """Number of features (> 0)."""
    hook_name: str = ""
    """The hook the SAE reads, e.g. blocks.1.hook_resid_post; "": not tied to a model hook (toy data, tests)."""
    hook_name_out: str | None = None
    """Transcoders: the hook the SAE predicts (e.g. blocks.0.hook_mlp_out); None: an SAE (reconstructs its input)."""
    d_out: int | None = None
    """Width of the output: hook_name_out's width for a transcoder; None: d_in."""
    k: int | None = None
    """Active features per row for topk/batchtopk/matryoshka_batchtopk (1..d_sae, required by them); set to None
    for other architectures, which ignore it."""
    normalize_activations: str = "none"
    """Scaling the SAE expects its inputs to have: only "none" (the trainer folds its scaling into the weights
    before saving; SAELens checkpoints with another value must be folded first)."""
    dtype: str = "float32"
    """Parameter dtype, a torch dtype name: float32, float64, bfloat16, float16."""
    device: str = "cpu"
    """Device the parameters live on (cpu, cuda, cuda:1, ...); not saved (``cfg.json`` always says cpu)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance saved with the SAE: model run and hash, git commit, training steps and rows, ..."""

    def __post_init__(self) -> None:
        self.check_hyperparams(self.architecture)
        arch = architecture_class(self.architecture)
        if self.d_in <= 0 or self.d_sae <= 0:
            raise SAEConfigError(f"d_in={self.d_in} and d_sae={self.d_sae} must be positive.")
        if self.d_out is None:
            self.d_out = self.d_in
        if not arch.needs_k:
            self.k = None
        elif not self.k:
            raise SAEConfigError(f"The {self.architecture} architecture needs k (active features per row), e.g. k=32.")
        elif not 0 < self.k <= self.d_sae:
            raise SAEConfigError(f"k={self.k} must be between 1 and the SAE width d_sae={self.d_sae}.")
        if arch.nested_widths:
            widths = list(self.matryoshka_widths) or arch.default_widths(self.d_sae)
            if sorted(widths) != widths or widths[-1] != self.d_sae or widths[0] <= 0:
                raise SAEConfigError(f"matryoshka_widths={widths} must increase and end at d_sae={self.d_sae}.")
            self.matryoshka_widths = widths
        if self.normalize_activations != "none":
            raise SAEConfigError(f"normalize_activations={self.normalize_activations!r}: an SAE takes raw activations "
                                 "('none'); fold the scaling into the weights (SAE.fold_activation_norm_scaling_).")
        if self.skip and not self.is_transcoder:
            raise SAEConfigError("skip=True makes a skip-transcoder: also set hook_name_out (the hook it predicts).")

    @property
    def is_transcoder(self) -> bool:
        return self.hook_name_out is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SAEConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


__all__ = ["NORMALIZATIONS", "SAEConfig", "SAEHyperparams"]

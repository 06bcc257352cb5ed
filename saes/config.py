"""The configuration of one SAE or transcoder: architecture, sizes, hooks and loss coefficients.

Saved as ``cfg.json`` in SAELens' on-disk layout (see ``format.py``); workbench-only fields live in ``metadata``.

>>> cfg = SAEConfig(architecture="topk", d_in=128, d_sae=2048, k=32, hook_name="blocks.1.hook_resid_post")
>>> tc = SAEConfig(architecture="topk", d_in=128, d_sae=2048, k=32, hook_name="blocks.0.ln2.hook_normalized",
...                hook_name_out="blocks.0.hook_mlp_out", skip=True)   # a skip-transcoder
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from saes.errors import SAEConfigError

NORMALIZATIONS = ("none", "expected_average_only_in")


@dataclass
class SAEConfig:
    architecture: str  # a key of saes.base.ARCHITECTURES: standard, topk, batchtopk, jumprelu, gated, matryoshka_batchtopk
    d_in: int
    d_sae: int
    hook_name: str = ""
    hook_name_out: str | None = None  # set for a transcoder: read hook_name, predict hook_name_out
    d_out: int | None = None  # transcoders: width of hook_name_out (default d_in)
    skip: bool = False  # skip-transcoder: adds a linear map W_skip from input to output
    k: int | None = None  # TopK / BatchTopK / Matryoshka: active features per row
    l1_coefficient: float = 5.0  # standard / gated: L1 penalty (weighted by decoder norms)
    l0_coefficient: float = 1.0  # JumpReLU: L0 penalty
    jumprelu_bandwidth: float = 0.05
    jumprelu_init_threshold: float = 0.01
    matryoshka_widths: list[int] = field(default_factory=list)  # nested prefix widths, last = d_sae
    aux_k: int | None = None  # dead-feature auxiliary loss (TopK family); default d_in // 2
    aux_coefficient: float = 1.0
    apply_b_dec_to_input: bool = True
    normalize_activations: str = "none"  # or "expected_average_only_in": scale inputs to norm sqrt(d_in)
    dtype: str = "float32"
    device: str = "cpu"
    metadata: dict[str, Any] = field(default_factory=dict)  # model name/hash, git commit, training tokens ...

    def __post_init__(self) -> None:
        import saes.architectures  # noqa: F401  (every architecture registers itself)
        from saes.base import ARCHITECTURES

        if self.architecture not in ARCHITECTURES:
            raise SAEConfigError(f"Unknown SAE architecture {self.architecture!r}; known: {sorted(ARCHITECTURES)}.")
        if self.d_in <= 0 or self.d_sae <= 0:
            raise SAEConfigError(f"d_in={self.d_in} and d_sae={self.d_sae} must be positive.")
        if self.d_out is None:
            self.d_out = self.d_in
        needs_k = self.architecture in ("topk", "batchtopk", "matryoshka_batchtopk")
        if needs_k and not self.k:
            raise SAEConfigError(f"The {self.architecture} architecture needs k (active features per row), e.g. k=32.")
        if self.k is not None and not 0 < self.k <= self.d_sae:
            raise SAEConfigError(f"k={self.k} must be between 1 and the SAE width d_sae={self.d_sae}.")
        if self.architecture == "matryoshka_batchtopk":
            widths = self.matryoshka_widths or [self.d_sae]
            if sorted(widths) != widths or widths[-1] != self.d_sae or widths[0] <= 0:
                raise SAEConfigError(f"matryoshka_widths={widths} must increase and end at d_sae={self.d_sae}.")
            self.matryoshka_widths = widths
        if self.normalize_activations not in NORMALIZATIONS:
            raise SAEConfigError(f"normalize_activations={self.normalize_activations!r}; use one of {NORMALIZATIONS}.")
        if self.skip and not self.is_transcoder:
            raise SAEConfigError("skip=True makes a skip-transcoder: also set hook_name_out (the hook it predicts).")

    @property
    def is_transcoder(self) -> bool:
        return self.hook_name_out is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SAEConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

"""GPT-2-class model configuration and named presets.

>>> cfg = ModelConfig.from_preset("tiny", d_vocab=512)
>>> cfg.d_head
16
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from interp.errors import ConfigError

NORM_KINDS = ("layernorm", "none", "fixed", "removable")
NORM_SITES = ("ln1", "ln2", "ln_f")


@dataclass
class ModelConfig:
    """Shape of a pre-LN GPT-2-class transformer (learned positions, GELU MLP).

    ``norm`` sets the normalization at every site; ``norm_sites`` overrides single sites, keyed
    ``"blocks.{i}.ln1"``, ``"blocks.{i}.ln2"`` or ``"ln_f"``. Kinds: ``layernorm``; ``none`` (identity);
    ``fixed`` (centre, divide by a fixed per-site scale, then the affine LN weights; at ``ln1`` the query/key
    and value inputs get separate scales), which is what LayerNorm removal by fine-tuning converges to;
    ``removable`` (LayerNorm while that fine-tuning runs, ``interp.models.norms.RemovableNorm``).
    """

    n_layers: int = 2
    """Transformer blocks."""
    d_model: int = 128
    """Width of the residual stream (a multiple of n_heads)."""
    n_heads: int = 4
    """Attention heads per block; each has d_model / n_heads dimensions."""
    d_mlp: int | None = None
    """Hidden width of each MLP; None: 4 * d_model."""
    n_ctx: int = 128
    """Context length in tokens (learned position embeddings)."""
    d_vocab: int = 4096
    """Vocabulary size (set from the tokenizer's when training)."""
    act_fn: str = "gelu_new"
    """MLP activation: gelu_new (GPT-2's tanh approximation), gelu or relu."""
    norm: str = "layernorm"
    """Normalization at every site: layernorm, none (identity), fixed (a fixed scale, see above) or removable
    (LayerNorm during LayerNorm removal)."""
    norm_sites: dict[str, str] = field(default_factory=dict)
    """Per-site overrides of norm, keyed blocks.{i}.ln1, blocks.{i}.ln2 or ln_f; {}: norm everywhere."""
    layer_norm_eps: float = 1e-5
    """Epsilon added to the variance in LayerNorm."""
    tie_embeddings: bool = True
    """Share the unembedding with the token embedding, as GPT-2 does."""
    dropout: float = 0.0
    """Dropout on the attention probabilities during training; 0: none."""
    init_std: float = 0.02
    """Standard deviation of the normal initialisation of weights (residual-stream output projections: divided by
    sqrt(2 * n_layers), as in GPT-2)."""

    def __post_init__(self) -> None:
        if self.d_mlp is None:
            self.d_mlp = 4 * self.d_model
        self.validate()

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def validate(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "d_mlp", "n_ctx", "d_vocab"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"ModelConfig.{name} must be a positive integer, got {value!r}.")
        if self.d_model % self.n_heads:
            raise ConfigError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: pick n_heads from "
                f"{[h for h in range(1, min(self.d_model, 64) + 1) if self.d_model % h == 0]} or change d_model."
            )
        if self.act_fn not in ("gelu_new", "gelu", "relu"):
            raise ConfigError(f"act_fn={self.act_fn!r} is not supported; use 'gelu_new', 'gelu' or 'relu'.")
        for site, kind in {"norm": self.norm, **self.norm_sites}.items():
            if kind not in NORM_KINDS:
                raise ConfigError(f"Normalization {kind!r} at {site!r} is unknown; choose one of {NORM_KINDS}.")
        valid_sites = {f"blocks.{i}.{s}" for i in range(self.n_layers) for s in ("ln1", "ln2")} | {"ln_f"}
        for site in self.norm_sites:
            if site not in valid_sites:
                raise ConfigError(f"norm_sites key {site!r} is not a site; use e.g. 'blocks.0.ln1' or 'ln_f'.")

    def norm_at(self, site: str) -> str:
        """Normalization kind at ``site`` (``'blocks.0.ln1'``, ``'ln_f'``...)."""
        return self.norm_sites.get(site, self.norm)

    def all_norm_kinds(self) -> set[str]:
        sites = [f"blocks.{i}.{s}" for i in range(self.n_layers) for s in ("ln1", "ln2")] + ["ln_f"]
        return {self.norm_at(s) for s in sites}

    def n_params(self, include_embeddings: bool = False) -> int:
        d, m = self.d_model, self.d_mlp or 4 * self.d_model
        per_layer = 4 * d * d + 4 * d + 2 * d * m + m + d + 4 * d
        total = self.n_layers * per_layer + 2 * d
        if include_embeddings:
            total += self.d_vocab * d + self.n_ctx * d + (0 if self.tie_embeddings else self.d_vocab * d)
        return total

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown model config keys {unknown}; known keys are {sorted(known)}.")
        return cls(**data)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ModelConfig:
        if name not in PRESETS:
            raise ConfigError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls.from_dict({**PRESETS[name], **overrides})


# Sizes: `tiny` for tests, `cpu` for the quickstart on a 2-core CPU, `gpu` for the quickstart on a GPU,
# TinyStories-like sizes (Eldan & Li 2023: 1M-33M non-embedding parameters), and GPT-2 small (124M).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(n_layers=2, d_model=64, n_heads=4, n_ctx=64, d_vocab=512),
    # Untied embeddings and a larger init (TransformerLens' 0.8/sqrt(d_model)) let the copying circuits (induction,
    # name movers) form several times sooner in small models than GPT-2's tied, std-0.02 set-up (measured on
    # repeated-token data: repeat loss 0.9-1.1 vs 3.7 nats after 900 steps). `cpu` has 8 heads of 16 dimensions:
    # with 4, the induction head the quickstart's copy drills build also votes for the second name in IOI prompts
    # (zero-ablating it raised IOI from 0.83 to 0.97) and IOI ended at 0.80-0.82; with 8 it recovers to 0.925.
    "cpu": dict(n_layers=2, d_model=128, n_heads=8, n_ctx=128, d_vocab=4096, tie_embeddings=False, init_std=0.07),
    # `studies`: the model the circuit, SAE and steering studies use (`interp studies`, 65-90 minutes on 2 CPU cores):
    # twice the layers and width of `cpu`, for tasks that need more composition (colored objects, multiple choice).
    "studies": dict(n_layers=4, d_model=256, n_heads=8, n_ctx=128, d_vocab=4096, tie_embeddings=False,
                    init_std=0.05),
    "gpu": dict(n_layers=6, d_model=384, n_heads=6, n_ctx=256, d_vocab=4096, tie_embeddings=False, init_std=0.04),
    "ts-1m": dict(n_layers=8, d_model=64, n_heads=16, n_ctx=512, d_vocab=4096),
    "ts-3m": dict(n_layers=8, d_model=128, n_heads=16, n_ctx=512, d_vocab=4096),
    "ts-8m": dict(n_layers=8, d_model=256, n_heads=16, n_ctx=512, d_vocab=4096),
    "ts-33m": dict(n_layers=4, d_model=768, n_heads=16, n_ctx=512, d_vocab=4096),
    "gpt2-small": dict(n_layers=12, d_model=768, n_heads=12, n_ctx=1024, d_vocab=50257),
}

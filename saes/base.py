"""The SAE base class. Each architecture lives in its own file, subclasses ``SAE``, declares its family facts
(class attributes below) and registers itself in ``saes.registry``.

An SAE maps activations ``x [..., d_in]`` to sparse features ``[..., d_sae]`` and back to ``[..., d_out]``
(``d_out = d_in`` for an SAE; a transcoder predicts another hook, a skip-transcoder adds ``x @ W_skip.T``).
Parameter names and shapes follow SAELens (``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_out]``), so checkpoints
move between the two libraries unchanged (``format.py``).

>>> sae = build_sae(SAEConfig(architecture="topk", d_in=128, d_sae=2048, k=32))
>>> feats = sae.encode(x)          # [batch, 2048], at most 32 non-zero per row
>>> out = sae.training_loss(x)     # LossOutput(loss, parts={"mse": ..., "aux": ...}, fired, l0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from jaxtyping import Float
from torch import Tensor, nn

from saes.errors import SAEShapeError
from saes.registry import ARCHITECTURES, architecture_class, register

if TYPE_CHECKING:
    from saes.config import SAEConfig


@dataclass
class LossOutput:
    loss: Tensor  # the total training loss (a scalar)
    parts: dict[str, Tensor]  # its terms, e.g. mse, l1, aux (scalars, for logging)
    fired: Tensor  # Bool [d_sae]: features active on at least one row of the batch (dead-feature tracking)
    l0: Tensor  # mean number of active features per row (a scalar)


class SAE(nn.Module):
    """An SAE of one architecture. The class attributes are the architecture's family facts, declared here once
    (subclasses override them) and read by ``SAEConfig``, the trainer and ``format.py`` through the registry."""

    architecture: ClassVar[str] = ""  # the registered name (set by ``register``)
    needs_k: ClassVar[bool] = False  # a fixed number k of active features (TopK family): ``cfg.k`` is required
    uses_l1: ClassVar[bool] = False  # trains with an L1 penalty (``cfg.l1_coefficient``)
    uses_l0: ClassVar[bool] = False  # trains with an L0 penalty (``cfg.l0_coefficient``)
    uses_aux_k: ClassVar[bool] = False  # revives dead features with the AuxK loss (``cfg.aux_k``, ``aux_coefficient``)
    nested_widths: ClassVar[bool] = False  # nested prefixes of features (``cfg.matryoshka_widths``)
    scalar_threshold: ClassVar[bool] = False  # one inference threshold, saved as SAELens' per-feature JumpReLU vector
    saelens_name: ClassVar[str] = ""  # the SAELens inference architecture computing the same function
    encoder_init_gain: ClassVar[float] = 1.0  # an SAE's encoder starts as this times its decoder's transpose
    has_b_enc: ClassVar[bool] = True  # an encoder bias ``b_enc [d_sae]`` (gated SAEs have gate/magnitude biases)

    @classmethod
    def default_widths(cls, d_sae: int) -> list[int]:
        """``matryoshka_widths`` when none are given (only used when ``nested_widths``)."""
        return [d_sae]

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dtype = getattr(torch, cfg.dtype)
        d_in, d_sae, d_out = cfg.d_in, cfg.d_sae, cfg.d_out
        w_dec = torch.empty(d_sae, d_out, dtype=dtype)
        nn.init.kaiming_uniform_(w_dec)
        w_dec *= 0.1 / w_dec.norm(dim=1, keepdim=True)  # small unit-direction rows, as in Anthropic's recipe
        self.W_dec = nn.Parameter(w_dec)
        w_enc = (w_dec.T * self.encoder_init_gain if d_out == d_in
                 else nn.init.kaiming_uniform_(torch.empty(d_in, d_sae, dtype=dtype)))
        self.W_enc = nn.Parameter(w_enc.contiguous())
        self.b_dec = nn.Parameter(torch.zeros(d_out, dtype=dtype))
        if self.has_b_enc:
            self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype))
        if cfg.skip:
            self.W_skip = nn.Parameter(torch.zeros(d_out, d_in, dtype=dtype))
        self.to(cfg.device)

    # -- the forward pass ----------------------------------------------------------------------------------------
    def check_width(self, x: Tensor, width: int | None = None, what: str = "input") -> None:
        width = width or self.cfg.d_in
        if x.shape[-1] != width:
            hook = self.cfg.hook_name if what == "input" else self.cfg.hook_name_out
            raise SAEShapeError(f"This SAE expects {what} activations of width {width} (hook {hook!r}), got shape "
                                f"{tuple(x.shape)}: check the hook name and that the SAE belongs to this model.")

    @property
    def centers_input(self) -> bool:
        """Whether the encoder reads ``x - b_dec`` (``apply_b_dec_to_input``; never for transcoders, whose b_dec
        lives in the output space)."""
        return self.cfg.apply_b_dec_to_input and not self.cfg.is_transcoder

    def checked_input(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_in"]:
        """``x`` with its width checked, in the SAE's dtype (the fused kernels centre it themselves)."""
        self.check_width(x)
        return x.to(self.W_enc.dtype)

    def sae_in(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_in"]:
        """The encoder's input: ``x`` minus the decoder bias when ``centers_input``."""
        x = self.checked_input(x)
        return x - self.b_dec if self.centers_input else x

    def pre_acts(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        return self.sae_in(x) @ self.W_enc + self.b_enc

    def activate(self, pre: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_sae"]:
        """Pre-activations -> feature activations at inference (each architecture defines it)."""
        raise NotImplementedError

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        return self.activate(self.pre_acts(x))

    def decode(self, feats: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_out"]:
        return feats @ self.W_dec + self.b_dec

    def skip_out(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"] | float:
        return x.to(self.W_skip.dtype) @ self.W_skip.T if self.cfg.skip else 0.0

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        return self.decode(self.encode(x)) + self.skip_out(x)

    # -- training ----------------------------------------------------------------------------------------------
    def train_feats(self, x: Float[Tensor, "batch d_in"]) -> tuple[Tensor, Tensor]:
        """(feature activations used for training, pre-activations). Defaults to the inference activation."""
        pre = self.pre_acts(x)
        return self.activate(pre), pre

    def sparsity_losses(self, feats: Tensor, pre: Tensor, x: Tensor, target: Tensor, x_hat: Tensor,
                        dead_mask: Tensor | None, scale: float) -> dict[str, Tensor]:
        """Architecture-specific terms (L1, L0, auxiliary losses); ``scale`` warms sparsity penalties up."""
        return {}

    def training_loss(self, x: Float[Tensor, "batch d_in"], target: Float[Tensor, "batch d_out"] | None = None, *,
                      sparsity_scale: float = 1.0, dead_mask: Tensor | None = None) -> LossOutput:
        """Reconstruction MSE (summed over the width, averaged over rows, as SAELens) plus sparsity terms."""
        target = x if target is None else target
        self.check_width(target, self.cfg.d_out, "output")
        feats, pre = self.train_feats(x)
        x_hat = self.decode(feats) + self.skip_out(x)
        mse = (x_hat - target).pow(2).sum(-1).mean()
        parts = {"mse": mse, **self.sparsity_losses(feats, pre, x, target, x_hat, dead_mask, sparsity_scale)}
        active = feats > 0
        return LossOutput(sum(parts.values()), parts, active.any(0), active.sum(-1).float().mean())

    @torch.no_grad()
    def init_from_data_(self, x: Float[Tensor, "batch d_in"], target: Float[Tensor, "batch d_out"]) -> None:
        """A data-dependent start (sparsify's): the decoder bias at the target's mean, so the first outputs are the
        average activation rather than 0. A transcoder also gets its encoder bias centring its pre-activations on
        ``x``'s mean (an SAE's encoder reads ``x - b_dec``: centred already) and zero decoder rows, so that its
        first step points each used row along its gradient instead of a random direction untied to the encoder
        (on bench/sae_train.py's transcoder: held-out FVU 0.39 against 0.71 after 48 steps)."""
        self.b_dec.copy_(target.mean(0).to(self.b_dec.dtype))
        if self.cfg.is_transcoder:
            self.W_dec.zero_()
            if self.has_b_enc:
                self.b_enc.copy_(-(x.mean(0).to(self.W_enc.dtype) @ self.W_enc))

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Rescale decoder rows to unit norm (and the encoder to match, so outputs are unchanged where possible)."""
        norms = self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8)
        self.W_dec.div_(norms)

    @torch.no_grad()
    def remove_decoder_parallel_grad_(self) -> None:
        """Project out the part of the decoder gradient that only changes row norms (used with unit-norm rows)."""
        if self.W_dec.grad is None:
            return
        unit = self.W_dec / self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8)
        self.W_dec.grad -= (self.W_dec.grad * unit).sum(1, keepdim=True) * unit

    @torch.no_grad()
    def fold_activation_norm_scaling_(self, scale_in: float, scale_out: float | None = None) -> None:
        """Trained on ``x * scale_in`` (and targets ``* scale_out``)? Fold the scales so raw activations work."""
        scale_out = scale_in if scale_out is None else scale_out
        # Pre-activations are unchanged by the fold (x * s_in - b_dec) @ W_enc == (x - b_dec / s_in) @ (s_in W_enc),
        # so thresholds stay as they are.
        self.W_enc.mul_(scale_in)
        self.W_dec.div_(scale_out)
        self.b_dec.div_(scale_out)
        if self.centers_input and scale_in != scale_out:
            raise ValueError("An SAE reconstructs its own input: scale_in must equal scale_out.")
        if self.cfg.skip:
            self.W_skip.mul_(scale_in / scale_out)

    @torch.no_grad()
    def after_step_(self) -> None:
        """Called by the trainer after each optimizer step (e.g. to keep thresholds non-negative)."""


def build_sae(cfg: SAEConfig) -> SAE:
    """A freshly initialised SAE of ``cfg.architecture``."""
    return architecture_class(cfg.architecture)(cfg)


__all__ = ["ARCHITECTURES", "SAE", "LossOutput", "build_sae", "register"]

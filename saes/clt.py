"""Cross-layer transcoders (CLT; Anthropic's "Circuit tracing" 2025, circuit-tracer, sparsify): one encoder per
layer l reading that layer's MLP input (``blocks.{l}.ln2.hook_normalized``), and decoders from layer l's latents
to the MLP output (``blocks.{l'}.hook_mlp_out``) of every layer l' >= l:

    mlp_out[l'] ~= sum_{l <= l'} acts[l] @ W_dec(l)[:, l' - l] + b_dec[l']

Each layer's encoder is an SAE of the chosen architecture (topk: k per row and layer; batchtopk: k per row and
layer on average over the batch; jumprelu; standard: ReLU + L1), built by ``build_sae`` as a transcoder whose output
is the concatenation of the MLP outputs it writes to (``d_out = (n_layers - l) * d_model``). So the activation,
its training path, sparsity penalty, AuxK and thresholds are those of ``topk.py``, ``batchtopk.py``,
``jumprelu.py``, ``relu.py``, unchanged; the L1 penalty and unit-norm decoder rows use the norm of a latent's
concatenated decoders (Anthropic's CLT convention). The CLT owns the output biases ``b_dec [n_layers, d_model]``.

>>> clt = CrossLayerTranscoder(CLTConfig(n_layers=2, d_model=32, d_sae=256, activation="topk", k=8))
>>> acts = clt.encode([mlp_in_0, mlp_in_1])          # [acts_0, acts_1], each [..., 256]
>>> outs = clt([mlp_in_0, mlp_in_1])                 # [mlp_out_0_hat, mlp_out_1_hat]
>>> clt.training_loss(ins, outs).loss                # MSE summed over layers + sparsity/AuxK terms
>>> clt = CrossLayerTranscoder.from_transcoders([tc0, tc1])   # decoders only to their own layer
>>> logits, acts = run_with_clt(model, tokens, clt)   # every MLP output replaced by the CLT's
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor, nn

from interp.analysis.hooks import resolve_hook_names
from interp.models.tl import HookedTransformer
from saes.base import SAE, build_sae
from saes.config import SAEConfig, SAEHyperparams
from saes.errors import SAEConfigError, SAEShapeError
from saes.registry import architecture_class
from saes.topk import auxk_loss

ACTIVATIONS = ("topk", "batchtopk", "jumprelu", "standard")  # the architectures a CLT layer may use


@dataclass(kw_only=True)
class CLTShape(SAEHyperparams):
    """What every layer of a CLT computes, apart from the sizes the model fixes: the activation, k, the hooks read
    and predicted, the dtype, and the hyperparameters shared with one SAE (``SAEHyperparams``: l0/l1 coefficients,
    AuxK, JumpReLU). ``CLTConfig`` adds the sizes; the options of ``interp train-clt`` share these fields."""

    activation: str = field(default="topk", metadata={"choices": ACTIVATIONS})
    """Per-layer activation: topk (k latents per row), batchtopk (k per row on average over the batch; one
    threshold at inference), jumprelu (learnt thresholds, L0 penalty), standard (ReLU + L1 penalty)."""
    k: int | None = None
    """Active latents per row and layer for topk/batchtopk (1..d_sae of every layer); None for the others."""
    hook_in: str = "blocks.{layer}.ln2.hook_normalized"
    """The hook layer l's encoder reads ({layer} is replaced by l)."""
    hook_out: str = "blocks.{layer}.hook_mlp_out"
    """The hook layer l's reconstruction replaces ({layer} is replaced by l)."""
    dtype: str = "float32"
    """Parameter dtype, a torch dtype name."""

    def check_shape(self) -> None:
        """Raise ``SAEConfigError`` for an activation, k, hooks or hyperparameters no CLT accepts."""
        if self.activation not in ACTIVATIONS:
            raise SAEConfigError(f"activation={self.activation!r}: a cross-layer transcoder supports {ACTIVATIONS}.")
        self.check_hyperparams(self.activation)
        if architecture_class(self.activation).needs_k and (not self.k or self.k < 1):
            raise SAEConfigError(f"The {self.activation} activation needs k (active latents per row and layer), e.g. "
                                 "k=32.")
        if self.skip:
            raise SAEConfigError("skip=True: cross-layer transcoders have no skip connection here.")
        for name in ("hook_in", "hook_out"):
            if "{layer}" not in getattr(self, name):
                raise SAEConfigError(f"{name}={getattr(self, name)!r} must contain {{layer}}, e.g. "
                                     "'blocks.{layer}.hook_mlp_out'.")


@dataclass(kw_only=True)
class CLTConfig(CLTShape):
    """A cross-layer transcoder: its layers and widths (and, from ``CLTShape``, the per-layer activation, the hooks
    it reads and predicts, and the hyperparameters it shares with one SAE)."""

    n_layers: int
    """Layers 0..n_layers-1 of the model, each with one encoder (>= 1)."""
    d_model: int
    """Width of every input and output hook (> 0)."""
    d_sae: int | list[int]
    """Latents per layer: one width for every layer, or a list of n_layers widths."""
    device: str = "cpu"
    """Where the parameters live; not saved."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Provenance saved with the CLT: model_hash, model_run, git_commit, training steps and rows, ..."""

    def __post_init__(self) -> None:
        self.check_shape()
        if self.n_layers < 1 or self.d_model < 1:
            raise SAEConfigError(f"n_layers={self.n_layers} and d_model={self.d_model} must be positive.")
        widths = self.widths
        if len(widths) != self.n_layers:
            raise SAEConfigError(f"d_sae={self.d_sae} gives {len(widths)} widths for n_layers={self.n_layers}: give one "
                                 "int for every layer, or a list with one width per layer.")
        if min(widths) < 1:
            raise SAEConfigError(f"Every layer's width must be positive, got d_sae={self.d_sae}.")
        if not architecture_class(self.activation).needs_k:
            self.k = None
        elif self.k > min(widths):  # type: ignore[operator]  (check_shape: k >= 1)
            layer = widths.index(min(widths))
            raise SAEConfigError(f"k={self.k} exceeds the width d_sae={widths[layer]} of layer {layer}: use k <= "
                                 f"{min(widths)} or wider layers.")

    @property
    def widths(self) -> list[int]:
        """The width of each layer's latents."""
        return [self.d_sae] * self.n_layers if isinstance(self.d_sae, int) else list(self.d_sae)

    def hook_in_name(self, layer: int) -> str:
        return self.hook_in.format(layer=layer)

    def hook_out_name(self, layer: int) -> str:
        return self.hook_out.format(layer=layer)

    def layer_config(self, layer: int) -> SAEConfig:
        """The ``SAEConfig`` of layer ``layer``'s encoder: a transcoder to the concatenated outputs it writes to."""
        shared = {name: getattr(self, name) for name in SAEHyperparams.hyperparam_names()}
        return SAEConfig(**shared, architecture=self.activation, d_in=self.d_model, d_sae=self.widths[layer],
                         d_out=(self.n_layers - layer) * self.d_model, k=self.k, hook_name=self.hook_in_name(layer),
                         hook_name_out=self.hook_out_name(layer), dtype=self.dtype, device=self.device)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "device"}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CLTConfig:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise SAEConfigError(f"Unknown CLT setting(s) {unknown}; it was written by a newer workbench or edited "
                                 "by hand.")
        return cls(**data)


@dataclass
class CLTLossOutput:
    loss: Tensor  # the total training loss (a scalar)
    parts: dict[str, Tensor]  # its terms summed over layers: mse, and aux / l0_penalty / l1 (scalars, for logging)
    fired: list[Tensor]  # per layer, Bool [d_sae]: latents active on at least one row (dead-latent tracking)
    l0: Tensor  # [n_layers]: mean active latents per row, per layer
    mse: Tensor  # [n_layers]: each layer's reconstruction MSE (summed over the width, averaged over rows)


Inputs = Sequence[Tensor] | Tensor  # one tensor per layer, or one stacked [n_layers, ..., d_model] tensor


class CrossLayerTranscoder(nn.Module):
    def __init__(self, cfg: CLTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoders = nn.ModuleList()
        for layer in range(cfg.n_layers):
            enc = build_sae(cfg.layer_config(layer))
            # The CLT owns the output biases (one per output layer): layer l's own b_dec would duplicate them.
            out_width = enc.b_dec.shape[0]
            del enc.b_dec
            enc.register_buffer("b_dec", torch.zeros(out_width, dtype=enc.W_dec.dtype, device=enc.W_dec.device),
                                persistent=False)
            self.encoders.append(enc)
        self.b_dec = nn.Parameter(torch.zeros(cfg.n_layers, cfg.d_model, dtype=getattr(torch, cfg.dtype),
                                              device=cfg.device))

    @property
    def n_layers(self) -> int:
        return self.cfg.n_layers

    def encoder(self, layer: int) -> SAE:
        return self.encoders[layer]  # type: ignore[return-value]

    def W_dec(self, layer: int) -> Float[Tensor, "d_sae n_out d_model"]:
        """Layer ``layer``'s decoders: ``W_dec(l)[:, j]`` writes to the MLP output of layer ``l + j``."""
        return self.encoder(layer).W_dec.view(-1, self.n_layers - layer, self.cfg.d_model)

    # -- inputs ----------------------------------------------------------------------------------------------
    def _per_layer(self, xs: Inputs, what: str, n: int | None = None) -> list[Tensor]:
        n = self.n_layers if n is None else n
        xs = list(xs.unbind(0)) if isinstance(xs, Tensor) else list(xs)
        if len(xs) != n:
            raise SAEShapeError(f"This CLT has {self.n_layers} layers and takes one {what} per layer "
                                f"({n} in all), got {len(xs)}: pass a list of {n} tensors [..., {self.cfg.d_model}] "
                                "or a stacked tensor [n_layers, ..., d_model].")
        for layer, x in enumerate(xs):
            if x.shape[-1] != self.cfg.d_model:
                hook = self.cfg.hook_in_name(layer) if what == "input" else self.cfg.hook_out_name(layer)
                raise SAEShapeError(f"Layer {layer}'s {what} (hook {hook!r}) has shape {tuple(x.shape)}; this CLT "
                                    f"expects width d_model={self.cfg.d_model}: check it belongs to this model.")
            if x.shape[:-1] != xs[0].shape[:-1]:
                raise SAEShapeError(f"Every layer's {what} must cover the same rows: layer 0 has shape "
                                    f"{tuple(xs[0].shape)}, layer {layer} {tuple(x.shape)}.")
        return xs

    # -- the forward pass ------------------------------------------------------------------------------------
    def encode(self, xs: Inputs) -> list[Float[Tensor, "... d_sae"]]:
        """Each layer's latents from its MLP input (per-layer TopK / BatchTopK threshold / JumpReLU / ReLU)."""
        return [self.encoder(layer).encode(x) for layer, x in enumerate(self._per_layer(xs, "input"))]

    def decode(self, acts: Sequence[Tensor]) -> list[Float[Tensor, "... d_model"]]:
        """Each layer's MLP output: ``sum_{l <= l'} acts[l] @ W_dec(l)[:, l' - l] + b_dec[l']``."""
        acts = list(acts)
        if len(acts) != self.n_layers:
            raise SAEShapeError(f"decode takes one latent tensor per layer ({self.n_layers}), got {len(acts)}.")
        outs: list[Tensor] = [self.b_dec[layer] for layer in range(self.n_layers)]
        for layer, a in enumerate(acts):
            enc = self.encoder(layer)
            if a.shape[-1] != enc.cfg.d_sae:
                raise SAEShapeError(f"Layer {layer}'s latents have width {a.shape[-1]}, the CLT has "
                                    f"d_sae={enc.cfg.d_sae} there.")
            written = (a.to(enc.W_dec.dtype) @ enc.W_dec).unflatten(-1, (self.n_layers - layer, self.cfg.d_model))
            for j in range(self.n_layers - layer):
                outs[layer + j] = outs[layer + j] + written[..., j, :]
        return outs

    def forward(self, xs: Inputs) -> list[Float[Tensor, "... d_model"]]:
        return self.decode(self.encode(xs))

    # -- training --------------------------------------------------------------------------------------------
    def training_loss(self, xs: Inputs, targets: Inputs, *, sparsity_scale: float = 1.0,
                      dead_masks: Sequence[Tensor | None] | None = None) -> CLTLossOutput:
        """MSE summed over layers plus each layer's sparsity terms; ``xs``, ``targets``: per layer ``[batch,
        d_model]``. Layer l's AuxK (TopK family) predicts the error of every output it writes to (layers >= l);
        ``dead_masks[l]`` (Bool ``[d_sae]``) marks layer l's dead latents."""
        xs, targets = self._per_layer(xs, "input"), self._per_layer(targets, "target")
        if xs[0].shape[:-1] != targets[0].shape[:-1]:
            raise SAEShapeError(f"Inputs {tuple(xs[0].shape)} and targets {tuple(targets[0].shape)} cover different "
                                "rows.")
        if dead_masks is not None and len(dead_masks) != self.n_layers:
            raise SAEShapeError(f"dead_masks needs one entry per layer ({self.n_layers}), got {len(dead_masks)}.")
        trained = [self.encoder(layer).train_feats(x) for layer, x in enumerate(xs)]
        feats = [f for f, _ in trained]
        recon = self.decode(feats)
        targets = [t.to(r.dtype) for t, r in zip(targets, recon, strict=True)]
        mse = torch.stack([(r - t).pow(2).sum(-1).mean() for r, t in zip(recon, targets, strict=True)])
        parts: dict[str, Tensor] = {"mse": mse.sum()}
        for layer, (f, pre) in enumerate(trained):
            enc = self.encoder(layer)
            dead = dead_masks[layer] if dead_masks is not None else None
            target_l, recon_l = torch.cat(targets[layer:], -1), torch.cat(recon[layer:], -1)
            if enc.uses_aux_k:  # TopK keeps its AuxK in its fused training_loss; BatchTopK in sparsity_losses
                extra = {"aux": auxk_loss(enc, xs[layer], target_l, recon_l, dead)}
            else:
                extra = enc.sparsity_losses(f, pre, xs[layer], target_l, recon_l, dead, sparsity_scale)
            for name, value in extra.items():
                parts[name] = parts[name] + value if name in parts else value
        active = [f > 0 for f in feats]
        return CLTLossOutput(sum(parts.values()), parts, [a.reshape(-1, a.shape[-1]).any(0) for a in active],
                             torch.stack([a.sum(-1).float().mean() for a in active]), mse.detach())

    @torch.no_grad()
    def init_from_data_(self, xs: Inputs, targets: Inputs) -> None:
        """The per-layer transcoders' data-dependent start (``SAE.init_from_data_``): each output bias at its MLP
        output's mean, each encoder's pre-activations centred on its input's mean, every decoder at zero (set by
        the first step)."""
        xs, targets = self._per_layer(xs, "input"), self._per_layer(targets, "target")
        for layer, (enc, x, y) in enumerate(zip(self.encoders, xs, targets, strict=True)):
            self.b_dec[layer] = y.reshape(-1, y.shape[-1]).mean(0).to(self.b_dec.dtype)
            enc.W_dec.zero_()
            if enc.has_b_enc:
                enc.b_enc.copy_(-(x.reshape(-1, x.shape[-1]).mean(0).to(enc.W_enc.dtype) @ enc.W_enc))

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        """Unit-norm latents: each latent's concatenated decoders (all the layers it writes to) get norm 1."""
        for enc in self.encoders:
            enc.normalize_decoder_()

    @torch.no_grad()
    def remove_decoder_parallel_grad_(self) -> None:
        for enc in self.encoders:
            enc.remove_decoder_parallel_grad_()

    @torch.no_grad()
    def after_step_(self) -> None:
        for enc in self.encoders:
            enc.after_step_()

    # -- building from per-layer transcoders ---------------------------------------------------------------
    @classmethod
    def from_transcoders(cls, transcoders: Sequence[SAE]) -> CrossLayerTranscoder:
        """The CLT whose layer l is ``transcoders[l]`` (layers 0..n-1 in order): same latents and outputs, every
        cross-layer decoder zero."""
        if not transcoders:
            raise SAEConfigError("from_transcoders needs one transcoder per layer, got none.")
        first = transcoders[0].cfg
        templates = set()
        for layer, tc in enumerate(transcoders):
            c = tc.cfg
            if not c.is_transcoder or c.skip:
                raise SAEConfigError(f"transcoders[{layer}] ({c.architecture}, hook {c.hook_name!r}) is "
                                     f"{'a skip-transcoder' if c.skip else 'an SAE'}: a CLT is built from plain "
                                     "transcoders (hook_name_out set, skip=False).")
            same = (c.architecture, c.d_in, c.d_out, c.k, c.dtype) == (first.architecture, first.d_in, first.d_in,
                                                                       first.k, first.dtype)
            if not same:
                raise SAEConfigError(f"transcoders[{layer}] is a {c.architecture} transcoder {c.d_in} -> {c.d_out} "
                                     f"(k={c.k}, {c.dtype}); a CLT needs every layer alike, as transcoders[0]: "
                                     f"{first.architecture} {first.d_in} -> {first.d_in} (k={first.k}, {first.dtype}).")
            prefix = f"blocks.{layer}."
            if not (c.hook_name.startswith(prefix) and c.hook_name_out.startswith(prefix)):
                raise SAEConfigError(f"transcoders[{layer}] reads {c.hook_name!r} and writes {c.hook_name_out!r}; "
                                     f"a CLT's layer {layer} lives in {prefix}*: pass the transcoders of layers "
                                     "0..n-1 in order.")
            templates.add((c.hook_name.replace(prefix, "blocks.{layer}.", 1),
                           c.hook_name_out.replace(prefix, "blocks.{layer}.", 1)))
        if len(templates) > 1:
            raise SAEConfigError(f"The transcoders read and write different hooks per layer: {sorted(templates)}.")
        hook_in, hook_out = templates.pop()
        shared = {name: getattr(first, name) for name in SAEHyperparams.hyperparam_names()}
        hashes = {tc.cfg.metadata.get("model_hash") for tc in transcoders}
        cfg = CLTConfig(**shared, n_layers=len(transcoders), d_model=first.d_in,
                        d_sae=[tc.cfg.d_sae for tc in transcoders], activation=first.architecture, k=first.k,
                        hook_in=hook_in, hook_out=hook_out, dtype=first.dtype, device=str(transcoders[0].W_enc.device),
                        metadata={"from_transcoders": True,
                                  **({"model_hash": hashes.pop()} if len(hashes) == 1 and None not in hashes else {})})
        clt = cls(cfg)
        with torch.no_grad():
            for layer, tc in enumerate(transcoders):
                enc = clt.encoder(layer)
                ours = enc.state_dict()
                for name, t in tc.state_dict().items():
                    if name == "b_dec":
                        clt.b_dec[layer] = t
                    elif name == "W_dec":
                        enc.W_dec.zero_()
                        clt.W_dec(layer)[:, 0] = t
                    else:
                        ours[name].copy_(t)
        return clt

    # -- splicing into a model -------------------------------------------------------------------------------
    def splice_hooks(self, record: dict[int, Tensor] | None = None) -> list[tuple[str, Callable]]:
        """Forward hooks replacing every MLP output ``hook_out(l)`` by the CLT's reconstruction, encoded from the
        (spliced) run's own MLP inputs: ``model.run_with_hooks(tokens, fwd_hooks=clt.splice_hooks())``.
        ``record`` receives each layer's latents."""
        pending: dict[int, Tensor] = {}

        def read(act: Tensor, hook, layer: int) -> None:
            if layer == 0:
                pending.clear()
            acts = self.encoder(layer).encode(act)
            if record is not None:
                record[layer] = acts
            written = (acts @ self.encoder(layer).W_dec).unflatten(-1, (self.n_layers - layer, self.cfg.d_model))
            for j in range(self.n_layers - layer):
                pending[layer + j] = pending.get(layer + j, 0) + written[..., j, :]

        def write(act: Tensor, hook, layer: int) -> Tensor:
            return (pending.pop(layer) + self.b_dec[layer]).to(act.dtype)

        hooks: list[tuple[str, Callable]] = []
        for layer in range(self.n_layers):
            hooks.append((self.cfg.hook_in_name(layer), lambda a, hook, layer=layer: read(a, hook, layer)))
            hooks.append((self.cfg.hook_out_name(layer), lambda a, hook, layer=layer: write(a, hook, layer)))
        return hooks


def check_clt_fits(model: HookedTransformer, cfg: CLTConfig) -> None:
    """Refuse a CLT the model cannot feed: more layers than the model, another width, hooks it lacks."""
    if cfg.n_layers > model.cfg.n_layers:
        raise SAEConfigError(f"The CLT has n_layers={cfg.n_layers}; the model only {model.cfg.n_layers}.")
    if cfg.d_model != model.cfg.d_model:
        raise SAEConfigError(f"The CLT has d_model={cfg.d_model}; the model's is {model.cfg.d_model}.")
    resolve_hook_names(model, [f(layer) for layer in range(cfg.n_layers)
                               for f in (cfg.hook_in_name, cfg.hook_out_name)])


def run_with_clt(model: HookedTransformer, tokens: Tensor, clt: CrossLayerTranscoder
                 ) -> tuple[Tensor, dict[int, Tensor]]:
    """Logits of ``model`` with every MLP output replaced by ``clt``'s reconstruction, and each layer's latents."""
    check_clt_fits(model, clt.cfg)
    record: dict[int, Tensor] = {}
    with model.hooks(fwd_hooks=clt.splice_hooks(record)):
        logits = model(tokens)
    return logits, record


__all__ = ["ACTIVATIONS", "CLTConfig", "CLTLossOutput", "CLTShape", "CrossLayerTranscoder", "check_clt_fits", "run_with_clt"]

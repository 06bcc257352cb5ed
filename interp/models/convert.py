"""Conversions between the workbench's ``GPT`` and TransformerLens / Hugging Face GPT-2.

- ``to_hooked(gpt, tokenizer)`` -> ``HookedTransformer`` with equal logits (LayerNorm kept unfolded, so hooks such
  as ``blocks.L.ln2.hook_normalized`` exist). Models whose norms are all ``none``/``fixed`` become
  ``normalization_type=None`` TL models with the fixed scales folded into the next weights (exact: a fixed-scale
  norm is linear).
- ``from_hooked(model)`` -> ``GPT`` for GPT-2-style TL models (LayerNorm, learned positions).
- ``export_hf(gpt, tokenizer, out_dir)`` writes a directory ``GPT2LMHeadModel.from_pretrained`` loads (a
  LayerNorm-free model's fixed norms as near-identity LayerNorms, as the removal anchors export);
  ``import_hf(path_or_model)`` reads one back.

>>> hooked = to_hooked(gpt, tokenizer)
>>> logits = hooked(tokens)   # equals gpt(tokens) to ~1e-6
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from interp.errors import CheckpointError, ConfigError, WorkbenchError
from interp.io import atomic_dir
from interp.models.config import ModelConfig
from interp.models.gpt import GPT
from interp.models.input_checks import add_input_checks
from interp.models.tl import HookedTransformer, HookedTransformerConfig

if TYPE_CHECKING:
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerBase


def hooked_config(cfg: ModelConfig, normalization_type: str | None = "LN") -> HookedTransformerConfig:
    return HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_ctx=cfg.n_ctx, d_head=cfg.d_head, n_heads=cfg.n_heads,
        d_mlp=cfg.d_mlp, d_vocab=cfg.d_vocab, act_fn=cfg.act_fn, normalization_type=normalization_type,
        eps=cfg.layer_norm_eps, positional_embedding_type="standard", original_architecture="GPT2LMHeadModel",
        default_prepend_bos=True, init_weights=False,
    )


def _fold_fixed(norm: torch.nn.Module, W: Tensor, b: Tensor, scale: Tensor) -> tuple[Tensor, Tensor]:
    """Fold ``(x - mean) / scale * w + beta`` into a following map ``x -> x @ W + b``.

    ``W`` is [..., d_model, d_out] (input dim second to last). Centering is the linear map I - 11^T/d, which
    is symmetric, so it moves onto W's input rows as subtracting their mean.
    """
    w, beta = norm.weight.detach(), norm.bias.detach()
    b_new = b + torch.einsum("d,...do->...o", beta, W)
    W_new = W * (w / scale).unsqueeze(-1)
    return W_new - W_new.mean(dim=-2, keepdim=True), b_new


def gpt_to_hooked_state(gpt: GPT) -> tuple[dict[str, Tensor], str | None]:
    """TransformerLens state dict (and normalization_type) for a workbench GPT."""
    cfg = gpt.cfg
    kinds = cfg.all_norm_kinds()
    if "removable" in kinds:
        raise ConfigError("This model is in the middle of a LayerNorm removal (norm 'removable'); finish it with "
                          "interp.ln_removal.finalize (every scale frozen) before converting it.")
    if kinds == {"layernorm"}:
        norm_type: str | None = "LN"
    elif "layernorm" not in kinds:
        norm_type = None
    else:
        raise ConfigError(
            f"This model mixes LayerNorm and LayerNorm-free sites ({sorted(kinds)}); TransformerLens needs one "
            "kind for the whole model. Finish the LayerNorm removal (all sites 'fixed' or 'none') first."
        )
    H, dh, D = cfg.n_heads, cfg.d_head, cfg.d_model
    sd: dict[str, Tensor] = {
        "embed.W_E": gpt.wte.weight.detach(),
        "pos_embed.W_pos": gpt.wpe.weight.detach(),
    }
    for i, blk in enumerate(gpt.blocks):
        p = f"blocks.{i}."
        Wqkv, bqkv = blk.attn.c_attn.weight.detach(), blk.attn.c_attn.bias.detach()
        W_Q, W_K, W_V = (Wqkv[j * D : (j + 1) * D].T.reshape(D, H, dh).permute(1, 0, 2) for j in range(3))
        b_Q, b_K, b_V = (bqkv[j * D : (j + 1) * D].reshape(H, dh) for j in range(3))
        W_in, b_in = blk.mlp.c_fc.weight.detach().T, blk.mlp.c_fc.bias.detach()
        if norm_type == "LN":
            for ln_name, ln in (("ln1", blk.ln1), ("ln2", blk.ln2)):
                sd[p + f"{ln_name}.w"], sd[p + f"{ln_name}.b"] = ln.weight.detach(), ln.bias.detach()
        else:
            if blk.ln1.kind == "fixed":
                W_Q, b_Q = _fold_fixed(blk.ln1, W_Q, b_Q, blk.ln1.scale_qk)
                W_K, b_K = _fold_fixed(blk.ln1, W_K, b_K, blk.ln1.scale_qk)
                W_V, b_V = _fold_fixed(blk.ln1, W_V, b_V, blk.ln1.scale_v)
            if blk.ln2.kind == "fixed":
                W_in, b_in = _fold_fixed(blk.ln2, W_in, b_in, blk.ln2.scale)
        sd.update({
            p + "attn.W_Q": W_Q, p + "attn.W_K": W_K, p + "attn.W_V": W_V,
            p + "attn.b_Q": b_Q, p + "attn.b_K": b_K, p + "attn.b_V": b_V,
            p + "attn.W_O": blk.attn.c_proj.weight.detach().T.reshape(H, dh, D),
            p + "attn.b_O": blk.attn.c_proj.bias.detach(),
            p + "mlp.W_in": W_in, p + "mlp.b_in": b_in,
            p + "mlp.W_out": blk.mlp.c_proj.weight.detach().T, p + "mlp.b_out": blk.mlp.c_proj.bias.detach(),
        })
    W_U, b_U = gpt.lm_head.weight.detach().T, torch.zeros(cfg.d_vocab, dtype=gpt.wte.weight.dtype)
    if norm_type == "LN":
        sd["ln_final.w"], sd["ln_final.b"] = gpt.ln_f.weight.detach(), gpt.ln_f.bias.detach()
    elif gpt.ln_f.kind == "fixed":
        W_U, b_U = _fold_fixed(gpt.ln_f, W_U, b_U, gpt.ln_f.scale)
    sd["unembed.W_U"], sd["unembed.b_U"] = W_U, b_U
    return {k: v.clone() for k, v in sd.items()}, norm_type


def to_hooked(
    gpt: GPT, tokenizer: PreTrainedTokenizerBase | None = None, device: str | torch.device | None = None
) -> HookedTransformer:
    """A TransformerLens ``HookedTransformer`` computing the same function as ``gpt``."""
    state, norm_type = gpt_to_hooked_state(gpt)
    hooked = HookedTransformer(hooked_config(gpt.cfg, norm_type), tokenizer=tokenizer, move_to_device=False)
    missing, unexpected = hooked.load_state_dict(state, strict=False)
    real_missing = [k for k in missing if not k.endswith(("IGNORE", "mask"))]
    if real_missing or unexpected:
        raise CheckpointError(f"Conversion to HookedTransformer left {real_missing} missing, {unexpected} unexpected.")
    hooked.eval()
    add_input_checks(hooked)
    return hooked.to(device, print_details=False) if device is not None else hooked


def from_hooked(hooked: HookedTransformer) -> GPT:
    """A workbench ``GPT`` from a GPT-2-style TransformerLens model (LayerNorm, learned positions, no b_U)."""
    c = hooked.cfg
    if c.normalization_type not in ("LN", "LNPre") or c.positional_embedding_type != "standard" or c.attn_only:
        raise ConfigError(
            "from_hooked needs a GPT-2-style model (LayerNorm, standard positional embeddings, MLPs); got "
            f"normalization_type={c.normalization_type}, positional_embedding_type={c.positional_embedding_type}."
        )
    if c.d_head * c.n_heads != c.d_model:
        raise ConfigError(f"d_head*n_heads={c.d_head * c.n_heads} must equal d_model={c.d_model}.")
    cfg = ModelConfig(
        n_layers=c.n_layers, d_model=c.d_model, n_heads=c.n_heads, d_mlp=c.d_mlp, n_ctx=c.n_ctx,
        d_vocab=c.d_vocab, act_fn=c.act_fn if c.act_fn in ("gelu_new", "gelu", "relu") else "gelu_new",
        layer_norm_eps=c.eps, tie_embeddings=False,
    )
    gpt = GPT(cfg)
    sd = {k: v.detach().cpu() for k, v in hooked.state_dict().items()}
    if sd["unembed.b_U"].abs().max() > 0:
        raise ConfigError("The TransformerLens model has a non-zero unembedding bias, which GPT does not have.")
    D = c.d_model
    new: dict[str, Tensor] = {"wte.weight": sd["embed.W_E"], "wpe.weight": sd["pos_embed.W_pos"]}
    for i in range(c.n_layers):
        p = q = f"blocks.{i}."
        W = [sd[p + f"attn.W_{x}"].permute(1, 0, 2).reshape(D, D).T for x in "QKV"]
        new[q + "attn.c_attn.weight"] = torch.cat(W, dim=0)
        new[q + "attn.c_attn.bias"] = torch.cat([sd[p + f"attn.b_{x}"].reshape(D) for x in "QKV"])
        new[q + "attn.c_proj.weight"] = sd[p + "attn.W_O"].reshape(D, D).T
        new[q + "attn.c_proj.bias"] = sd[p + "attn.b_O"]
        new[q + "mlp.c_fc.weight"], new[q + "mlp.c_fc.bias"] = sd[p + "mlp.W_in"].T, sd[p + "mlp.b_in"]
        new[q + "mlp.c_proj.weight"], new[q + "mlp.c_proj.bias"] = sd[p + "mlp.W_out"].T, sd[p + "mlp.b_out"]
        for ln in ("ln1", "ln2"):
            new[q + f"{ln}.weight"] = sd.get(p + f"{ln}.w", torch.ones(D))
            new[q + f"{ln}.bias"] = sd.get(p + f"{ln}.b", torch.zeros(D))
    new["ln_f.weight"] = sd.get("ln_final.w", torch.ones(D))
    new["ln_f.bias"] = sd.get("ln_final.b", torch.zeros(D))
    new["lm_head.weight"] = sd["unembed.W_U"].T
    gpt.load_state_dict({k: v.contiguous() for k, v in new.items()})
    return gpt


# ----------------------------------------------------------------------------------------------------------
# Hugging Face GPT-2 (GPT2LMHeadModel). HF uses Conv1D, whose weight is the transpose of nn.Linear's.
_HF_LAYER_MAP = {
    "ln1.weight": "ln_1.weight", "ln1.bias": "ln_1.bias", "ln2.weight": "ln_2.weight", "ln2.bias": "ln_2.bias",
    "attn.c_attn.weight": "attn.c_attn.weight", "attn.c_attn.bias": "attn.c_attn.bias",
    "attn.c_proj.weight": "attn.c_proj.weight", "attn.c_proj.bias": "attn.c_proj.bias",
    "mlp.c_fc.weight": "mlp.c_fc.weight", "mlp.c_fc.bias": "mlp.c_fc.bias",
    "mlp.c_proj.weight": "mlp.c_proj.weight", "mlp.c_proj.bias": "mlp.c_proj.bias",
}


def _hf_key_pairs(n_layers: int) -> list[tuple[str, str, bool]]:
    """(our key, HF key, transpose?) for every tensor."""
    pairs = [("wte.weight", "transformer.wte.weight", False), ("wpe.weight", "transformer.wpe.weight", False),
             ("ln_f.weight", "transformer.ln_f.weight", False), ("ln_f.bias", "transformer.ln_f.bias", False)]
    for i in range(n_layers):
        for ours, theirs in _HF_LAYER_MAP.items():
            pairs.append((f"blocks.{i}.{ours}", f"transformer.h.{i}.{theirs}", ours.endswith("proj.weight")
                          or ours.endswith("c_attn.weight") or ours.endswith("c_fc.weight")))
    return pairs


_NEAR_IDENTITY_EPS = 1e12
_NEAR_IDENTITY_GAIN = 1e6  # sqrt(_NEAR_IDENTITY_EPS): LayerNorm's 1/sqrt(var + eps) becomes 1/1e6, then undone


@torch.no_grad()
def _fixed_as_layernorm(gpt: GPT) -> dict[str, Tensor]:
    """The state dict of a LayerNorm GPT-2 computing a fixed-norm model's function, for HF export.

    With eps = 1e12 LayerNorm divides by sqrt(var + 1e12) = 1e6 (to float precision for any residual scale below
    ~1e3), so weight * 1e6 / scale makes it the fixed norm (as the LayerNorm-removal anchors export). ``ln1``'s
    query/key scale differs from its value scale while HF has one ``ln_1``: it takes the value scale, and the
    query/key rows of ``c_attn`` absorb the ratio r = scale_v / scale_qk (x_qk = r (x_v - b) + b).
    """
    sd = {k: v.clone() for k, v in gpt.state_dict().items()}
    D = gpt.cfg.d_model
    for name, module in gpt.named_modules():
        if getattr(module, "kind", None) != "fixed":
            continue
        scale = module.scale_v if hasattr(module, "scale_v") else module.scale
        sd[f"{name}.weight"] = module.weight * _NEAR_IDENTITY_GAIN / scale
        if hasattr(module, "scale_qk"):
            attn = name.rsplit(".", 1)[0] + ".attn.c_attn"
            W, b = sd[f"{attn}.weight"], sd[f"{attn}.bias"]  # [3D, D], [3D]: rows q, k, v
            r = module.scale_v / module.scale_qk
            b[: 2 * D] += (1 - r) * (W[: 2 * D] @ module.bias)
            W[: 2 * D] *= r
        del sd[name + (".scale_qk" if hasattr(module, "scale_qk") else ".scale")]
        sd.pop(f"{name}.scale_v", None)
    return sd


def export_hf(gpt: GPT, out_dir: str | Path, tokenizer: PreTrainedTokenizerBase | None = None,
              overwrite: bool = False) -> Path:
    """Write a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer files), all at once: it is
    built under a temporary name and renamed into place. A non-empty ``out_dir`` is refused unless ``overwrite``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} already exists and is not empty; export into a new directory, or pass "
                          "overwrite=True (--overwrite) to replace it.")

    cfg = gpt.cfg
    kinds = cfg.all_norm_kinds()
    if kinds not in ({"layernorm"}, {"fixed"}):
        raise ConfigError("Hugging Face GPT-2 has LayerNorm at every site; this model has "
                          f"{sorted(kinds)}. Export a LayerNorm model or a finished LayerNorm removal (norm 'fixed' "
                          "everywhere), or use to_hooked().")
    if cfg.act_fn != "gelu_new":
        raise ConfigError(f"Hugging Face GPT-2 export expects act_fn 'gelu_new', got {cfg.act_fn!r}.")
    eos = tokenizer.eos_token_id if tokenizer is not None and tokenizer.eos_token_id is not None else cfg.d_vocab - 1
    hf_cfg = GPT2Config(
        vocab_size=cfg.d_vocab, n_positions=cfg.n_ctx, n_embd=cfg.d_model, n_layer=cfg.n_layers,
        n_head=cfg.n_heads, n_inner=cfg.d_mlp, activation_function="gelu_new",
        layer_norm_epsilon=cfg.layer_norm_eps if kinds == {"layernorm"} else _NEAR_IDENTITY_EPS, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        tie_word_embeddings=cfg.tie_embeddings, bos_token_id=eos, eos_token_id=eos,
    )
    hf_cfg.n_ctx = cfg.n_ctx  # transformers 5 drops it; TransformerLens' config reader needs it
    hf = GPT2LMHeadModel(hf_cfg)
    ours = gpt.state_dict() if kinds == {"layernorm"} else _fixed_as_layernorm(gpt)
    sd = {theirs: (ours[o].T if t else ours[o]).contiguous().clone() for o, theirs, t in _hf_key_pairs(cfg.n_layers)}
    sd["lm_head.weight"] = ours["lm_head.weight"].clone()
    missing, unexpected = hf.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("attn.bias") and not k.endswith("masked_bias")]
    if missing or unexpected:
        raise CheckpointError(f"HF export left {missing} missing and {unexpected} unexpected.")
    with atomic_dir(out) as tmp:
        hf.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    return out


def import_hf(source: str | Path | GPT2LMHeadModel) -> GPT:
    """A workbench ``GPT`` from a Hugging Face GPT-2 directory (or a loaded ``GPT2LMHeadModel``)."""
    from transformers import GPT2LMHeadModel

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not (path / "config.json").exists():
            raise CheckpointError(f"{path} is not a Hugging Face model directory (no config.json).")
        hf = GPT2LMHeadModel.from_pretrained(path)
    else:
        hf = source
    c = hf.config
    if getattr(c, "model_type", None) != "gpt2":
        raise CheckpointError(f"Expected a GPT-2 model, got model_type={getattr(c, 'model_type', None)!r}.")
    act = c.activation_function if c.activation_function in ("gelu_new", "gelu", "relu") else None
    if act is None:
        raise ConfigError(f"Unsupported activation {c.activation_function!r} in the Hugging Face config.")
    cfg = ModelConfig(
        n_layers=c.n_layer, d_model=c.n_embd, n_heads=c.n_head, d_mlp=c.n_inner or 4 * c.n_embd,
        n_ctx=c.n_positions, d_vocab=c.vocab_size, act_fn=act, layer_norm_eps=c.layer_norm_epsilon,
        tie_embeddings=bool(getattr(c, "tie_word_embeddings", True)),
    )
    gpt = GPT(cfg)
    theirs = {k: v.detach().float() for k, v in hf.state_dict().items()}
    sd = {o: (theirs[t].T if tr else theirs[t]).contiguous() for o, t, tr in _hf_key_pairs(cfg.n_layers)}
    sd["lm_head.weight"] = theirs.get("lm_head.weight", theirs["transformer.wte.weight"])
    gpt.load_state_dict(sd)
    return gpt.eval()


def hooked_from_pretrained_name(name: str, device: str = "cpu") -> HookedTransformer:
    """Load a model TransformerLens knows by name (needs the internet on first use)."""
    try:
        return add_input_checks(HookedTransformer.from_pretrained(name, device=device))
    except (OSError, ConnectionError) as err:
        raise WorkbenchError(
            f"Could not load {name!r} through TransformerLens: {err}. This machine looks offline. On a machine "
            f"with internet save it with transformers (GPT2LMHeadModel.from_pretrained({name!r}).save_pretrained(DIR)),"
            " copy DIR here and run `interp import --hf DIR --out-dir RUN_DIR` (or interp.models.convert.import_hf(DIR))."
        ) from err

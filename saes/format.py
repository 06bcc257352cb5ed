"""SAE checkpoints in SAELens' on-disk format: ``cfg.json`` + ``sae_weights.safetensors`` in one directory.

A workbench SAE is written as the SAELens *inference* architecture that computes the same function
(BatchTopK and Matryoshka save as "jumprelu" with their threshold, transcoders as "transcoder" / "skip_transcoder"
/ "jumprelu_transcoder" ...), so ``sae_lens.SAE.load_from_disk`` gives the same outputs. The workbench's own
config travels in ``cfg.json["metadata"]["workbench"]``. ``load_sae`` reads both workbench- and SAELens-written
directories. Released SAEs load through SAELens' registry when the machine is online.

>>> save_sae(sae, "runs/saes/topk-resid1")
>>> sae = load_sae("runs/saes/topk-resid1")            # or a directory SAELens wrote
>>> theirs = to_saelens(sae)                            # a sae_lens.SAE with the same outputs
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from interp.io import atomic_save_safetensors, atomic_write_json
from saes.base import SAE, build_sae
from saes.config import SAEConfig
from saes.errors import SAECheckpointError, SAEConfigError
from saes.layout import SAELayout
from saes.registry import architecture_class, registered

CFG, WEIGHTS = SAELayout.CFG, SAELayout.WEIGHTS


def saelens_architecture(cfg: SAEConfig) -> str | None:
    """The SAELens inference architecture computing the same function, or None if SAELens has none."""
    saelens_name = architecture_class(cfg.architecture).saelens_name
    if not cfg.is_transcoder:
        return saelens_name
    if saelens_name in ("standard", "jumprelu"):  # SAELens: transcoder, skip_transcoder, jumprelu_(skip_)transcoder
        jump = "jumprelu_" if saelens_name == "jumprelu" else ""
        return jump + ("skip_transcoder" if cfg.skip else "transcoder")
    return None  # TopK and gated transcoders: SAELens has no such inference class


def _saelens_cfg(sae: SAE) -> dict[str, Any]:
    from importlib.metadata import version

    __version__ = version("sae-lens")  # without importing SAELens (2 s)
    cfg = sae.cfg
    saelens_arch = saelens_architecture(cfg)
    meta = {**cfg.metadata, "sae_lens_version": __version__, "sae_lens_training_version": __version__,
            "hook_name": cfg.hook_name, "hook_name_out": cfg.hook_name_out,
            "workbench": {k: v for k, v in cfg.to_dict().items() if k != "metadata"}}
    out: dict[str, Any] = {
        "architecture": saelens_arch or f"workbench_{cfg.architecture}_transcoder", "d_in": cfg.d_in, "d_sae": cfg.d_sae,
        "dtype": cfg.dtype, "device": "cpu", "apply_b_dec_to_input": sae.centers_input,
        "normalize_activations": "none", "reshape_activations": "none", "metadata": meta,
    }
    if cfg.is_transcoder:
        out["d_out"] = cfg.d_out
    if saelens_arch == "topk":  # SAELens' TopK config carries k
        out.update(k=cfg.k, rescale_acts_by_decoder_norm=False)
    return out


def _saelens_state(sae: SAE) -> dict[str, torch.Tensor]:
    state = {k: v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    if sae.scalar_threshold:
        state["threshold"] = state["threshold"].expand(sae.cfg.d_sae).contiguous()
    return state


def save_sae(sae: SAE, out_dir: str | Path, extra_metadata: dict[str, Any] | None = None) -> Path:
    """Write ``sae`` to ``out_dir`` (atomically: weights, then config) in SAELens' format."""
    out = SAELayout(out_dir)
    if extra_metadata:
        sae.cfg.metadata.update(extra_metadata)
    atomic_save_safetensors(out.weights, _saelens_state(sae))
    atomic_write_json(out.cfg, _saelens_cfg(sae))
    return out.root


# -- loading ----------------------------------------------------------------------------------------------------
_FROM_SAELENS = {  # SAELens architecture -> (ours, transcoder?, skip?)
    "standard": ("standard", False, False), "topk": ("topk", False, False), "jumprelu": ("jumprelu", False, False),
    "gated": ("gated", False, False), "transcoder": ("standard", True, False),
    "skip_transcoder": ("standard", True, True), "jumprelu_transcoder": ("jumprelu", True, False),
    "jumprelu_skip_transcoder": ("jumprelu", True, True),
}


def config_from_saelens(cfg: dict[str, Any]) -> SAEConfig:
    """Our ``SAEConfig`` for a SAELens ``cfg.json`` dict (workbench-written or SAELens-written)."""
    meta = dict(cfg.get("metadata") or {})
    if "workbench" in meta:
        ours = dict(meta.pop("workbench"))
        unknown = sorted(set(ours) - {f.name for f in fields(SAEConfig)} - {"metadata"})
        if unknown:
            raise SAEConfigError(f"cfg.json has workbench setting(s) {unknown} this version does not know; it was "
                                 "written by a newer workbench, or edited by hand: remove them or update.")
        return SAEConfig(**ours, metadata={k: v for k, v in meta.items() if not k.startswith("sae_lens")})
    arch = cfg.get("architecture", "standard")
    if arch not in _FROM_SAELENS:
        raise SAEConfigError(f"Unknown SAE architecture {arch!r} in cfg.json; this workbench reads "
                             f"{sorted(_FROM_SAELENS)} (SAELens) and {registered()} (its own).")
    if cfg.get("normalize_activations", "none") not in ("none", None):
        raise SAEConfigError(f"normalize_activations={cfg['normalize_activations']!r} is not supported when loading; "
                             "fold the scaling into the weights first (SAELens: fold_activation_norm_scaling_factor).")
    ours, transcoder, skip = _FROM_SAELENS[arch]
    hook = meta.get("hook_name") or cfg.get("hook_name") or ""
    hook_out = (meta.get("hook_name_out") or hook) if transcoder else None
    return SAEConfig(architecture=ours, d_in=cfg["d_in"], d_sae=cfg["d_sae"], d_out=cfg.get("d_out"), k=cfg.get("k"),
                     hook_name=hook, hook_name_out=hook_out, skip=skip, dtype=cfg.get("dtype", "float32"),
                     apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
                     metadata={k: v for k, v in meta.items() if v is not None and not k.startswith("sae_lens")})


def _load_state(sae: SAE, state: dict[str, torch.Tensor], where: str) -> SAE:
    if sae.scalar_threshold and "threshold" in state:
        state = {**state, "threshold": state["threshold"].flatten()[0]}
    expected = sae.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise SAECheckpointError(f"{where} has no tensor {missing[0]!r} (missing: {missing}); the checkpoint is "
                                 "incomplete or belongs to another architecture.")
    for name, t in expected.items():
        if state[name].shape != t.shape:
            raise SAECheckpointError(f"Tensor {name!r} in {where} has shape {tuple(state[name].shape)}, the config "
                                     f"says {tuple(t.shape)}: cfg.json and the weights do not belong together.")
    sae.load_state_dict({k: state[k].to(t.dtype) for k, t in expected.items()})
    return sae


def load_sae(path: str | Path, device: str = "cpu") -> SAE:
    """Load an SAE directory written by ``save_sae`` or by SAELens (``save_model``)."""
    layout = SAELayout(path)
    if not layout.is_sae():
        raise SAECheckpointError(f"{layout.root} is not an SAE directory: it needs {CFG} and {WEIGHTS} (SAELens "
                                 "format).")
    try:
        cfg_dict = json.loads(layout.cfg.read_text())
        state = load_file(str(layout.weights))
    except (json.JSONDecodeError, SafetensorError, OSError) as err:
        raise SAECheckpointError(f"Cannot read the SAE in {layout.root} ({err}); the files are corrupt or "
                                 "incomplete.") from err
    cfg = config_from_saelens(cfg_dict)
    cfg.device = device
    return _load_state(build_sae(cfg), state, str(layout.weights))


def to_saelens(sae: SAE):
    """A ``sae_lens.SAE`` computing the same function (for SAELens' tools, e.g. ``HookedSAETransformer``)."""
    from sae_lens import SAE as SAELensSAE

    if saelens_architecture(sae.cfg) is None:
        raise SAEConfigError(f"SAELens has no inference class for a {sae.cfg.architecture} transcoder; use "
                             "relu, jumprelu, batchtopk or matryoshka transcoders to share them with SAELens.")
    theirs = SAELensSAE.from_dict(_saelens_cfg(sae))
    theirs.load_state_dict(_saelens_state(sae))
    return theirs.to(sae.W_enc.device)


def from_saelens(theirs) -> SAE:
    """Our SAE from a ``sae_lens.SAE`` object."""
    cfg = config_from_saelens(theirs.cfg.to_dict())
    return _load_state(build_sae(cfg), {k: v.detach().cpu() for k, v in theirs.state_dict().items()}, "the SAELens SAE")


def load_released(release: str, sae_id: str, device: str = "cpu") -> SAE:
    """A released SAE by SAELens release name and id (e.g. ``"gpt2-small-res-jb", "blocks.8.hook_resid_pre"``).

    Needs the internet (Hugging Face). Offline, download it elsewhere and use ``load_sae(path)``."""
    from sae_lens import SAE as SAELensSAE

    try:
        theirs = SAELensSAE.from_pretrained(release, sae_id, device=device)
    except (OSError, ConnectionError) as err:
        raise SAECheckpointError(
            f"Could not fetch the released SAE {release!r}/{sae_id!r} ({type(err).__name__}): this machine seems to "
            "be offline. On a machine with internet run `sae_lens.SAE.from_pretrained(release, sae_id)` and "
            "`.save_model(dir)`, copy the directory here, then `saes.load_sae(dir)`.") from err
    return from_saelens(theirs).to(device)

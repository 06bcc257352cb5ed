"""Cross-layer transcoders on disk: the workbench's own format (``save_clt`` / ``load_clt``) and circuit-tracer's
(``export_circuit_tracer`` / ``load_circuit_tracer``).

The workbench format, one directory (each file written atomically, weights first, so a directory with the config
holds complete weights; ``torch.load`` is never needed):

    clt_config.json          {"format": "workbench_clt", "format_version": 1, "config": CLTConfig.to_dict()}
                             (metadata: model_hash, model_run, git_commit, training steps and rows)
    clt_weights.safetensors  per layer l (SAELens' orientation, as the workbench's SAEs):
                               W_enc.{l} [d_model, d_sae_l]   b_enc.{l} [d_sae_l]
                               W_dec.{l} [d_sae_l, n_layers - l, d_model]  (W_dec.{l}[:, j] writes to layer l + j)
                               threshold.{l}  jumprelu: [d_sae_l]; batchtopk: [] (one inference threshold)
                             b_dec [n_layers, d_model]

circuit-tracer's layout (read from its ``circuit_tracer/transcoder/cross_layer_transcoder.py``: ``to_safetensors``,
``load_clt``, ``_load_state_dict``; and ``utils/caching.py`` for ``config.yaml``), one directory:

    W_enc_{i}.safetensors    W_enc_{i} [d_transcoder, d_model] (features = x @ W_enc_i.T + b_enc_i), b_enc_{i}
                             [d_transcoder], b_dec_{i} [d_model], threshold_{i} [d_transcoder] (present: JumpReLU
                             ``f * (f > threshold)``; absent: ReLU)
    W_dec_{i}.safetensors    W_dec_{i} [d_transcoder, n_layers - i, d_model]
    config.yaml              model_kind: cross_layer_transcoder, feature_input_hook / feature_output_hook (relative
                             to ``blocks.{i}``), model_name

It has one width for every layer, ReLU or JumpReLU only (a BatchTopK CLT exports with its threshold; a TopK one
cannot, having no threshold), and spans every layer of the model.

>>> save_clt(clt, "runs/clt/tiny");  clt = load_clt("runs/clt/tiny")
>>> export_circuit_tracer(clt, "runs/clt/tiny-ct", model_name="gpt2")   # then circuit_tracer's load_clt(path, ...)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.errors import InputError
from interp.io import atomic_dir, atomic_save_safetensors, atomic_write_json, read_json
from saes.clt import CLTConfig, CrossLayerTranscoder
from saes.errors import SAECheckpointError, SAEConfigError
from saes.layout import CLTLayout
from saes.registry import architecture_class

FORMAT, FORMAT_VERSION = "workbench_clt", 1
_CT_FILE = re.compile(r"W_(enc|dec)_\d+\.safetensors|config\.yaml")  # the files of a circuit-tracer export


def clt_state(clt: CrossLayerTranscoder) -> dict[str, torch.Tensor]:
    """The tensors of the workbench format (names above), on the CPU."""
    state = {"b_dec": clt.b_dec}
    for layer in range(clt.n_layers):
        enc = clt.encoder(layer)
        state |= {f"W_enc.{layer}": enc.W_enc, f"b_enc.{layer}": enc.b_enc, f"W_dec.{layer}": clt.W_dec(layer)}
        if hasattr(enc, "threshold"):
            state[f"threshold.{layer}"] = enc.threshold
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def load_clt_state(clt: CrossLayerTranscoder, state: dict[str, torch.Tensor], where: str) -> CrossLayerTranscoder:
    """Copy ``state`` (workbench names) into ``clt``, every tensor's presence and shape checked."""
    expected = clt_state(clt)
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise SAECheckpointError(f"{where} does not match its config: missing {missing}, unexpected {extra}; the "
                                 "weights and clt_config.json do not belong together.")
    for name, t in expected.items():
        if state[name].shape != t.shape:
            raise SAECheckpointError(f"Tensor {name!r} in {where} has shape {tuple(state[name].shape)}, the config "
                                     f"says {tuple(t.shape)}: the weights and clt_config.json do not belong together.")
    with torch.no_grad():
        clt.b_dec.copy_(state["b_dec"])
        for layer in range(clt.n_layers):
            enc = clt.encoder(layer)
            enc.W_enc.copy_(state[f"W_enc.{layer}"])
            enc.b_enc.copy_(state[f"b_enc.{layer}"])
            clt.W_dec(layer).copy_(state[f"W_dec.{layer}"])
            if hasattr(enc, "threshold"):
                enc.threshold.copy_(state[f"threshold.{layer}"])
    return clt


def save_clt(clt: CrossLayerTranscoder, out_dir: str | Path, extra_metadata: dict[str, Any] | None = None) -> Path:
    """Write ``clt`` to ``out_dir`` in the workbench format (weights, then config; each atomically)."""
    out = CLTLayout(out_dir)
    if extra_metadata:
        clt.cfg.metadata.update(extra_metadata)
    atomic_save_safetensors(out.weights, clt_state(clt))
    atomic_write_json(out.config, {"format": FORMAT, "format_version": FORMAT_VERSION, "config": clt.cfg.to_dict()})
    return out.root


def load_clt(path: str | Path, device: str = "cpu") -> CrossLayerTranscoder:
    """A CLT written by ``save_clt``."""
    layout = CLTLayout(path)
    if not layout.is_clt():
        hint = " (it holds an SAE: use saes.load_sae)" if (layout.root / "cfg.json").exists() else ""
        raise SAECheckpointError(f"{layout.root} is not a CLT directory: it needs {CLTLayout.CONFIG} and "
                                 f"{CLTLayout.WEIGHTS}{hint}.")
    try:
        doc = read_json(layout.config)
        state = load_file(str(layout.weights))
    except (InputError, SafetensorError, OSError) as err:
        raise SAECheckpointError(f"Cannot read the CLT in {layout.root} ({err}); the files are corrupt or "
                                 "incomplete.") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "config" not in doc:
        raise SAECheckpointError(f"{layout.config} is not a workbench CLT config (no \"format\": \"{FORMAT}\").")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise SAECheckpointError(f"{layout.config} has format_version {doc['format_version']}; this workbench reads "
                                 f"up to {FORMAT_VERSION}: update it.")
    cfg = CLTConfig.from_dict(doc["config"])
    cfg.device = device
    return load_clt_state(CrossLayerTranscoder(cfg), state, str(layout.weights))


# -- circuit-tracer ------------------------------------------------------------------------------------------------
def _relative_hook(template: str, what: str) -> str:
    prefix = "blocks.{layer}."
    if not template.startswith(prefix):
        raise SAEConfigError(f"{what}={template!r}: circuit-tracer names hooks inside blocks.{{i}}, so the CLT's hooks "
                             f"must start with {prefix!r}.")
    return template[len(prefix):]


def check_export_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as a ``Path`` if a circuit-tracer export may be written there: new, empty, or an earlier export
    (``SAEConfigError`` otherwise). circuit-tracer counts the ``W_enc_*.safetensors`` files, so the directory
    holds the export only: written whole and swapped in (an earlier export with more layers leaves nothing
    behind); anything else there is refused."""
    out = Path(out_dir)
    foreign = [p.name for p in out.iterdir() if not _CT_FILE.fullmatch(p.name)] if out.is_dir() else []
    if foreign or (out.exists() and not out.is_dir()):
        raise SAEConfigError(f"{out} holds other files ({sorted(foreign)[:5]}); export a circuit-tracer CLT into an "
                             "empty or new directory.")
    return out


def export_circuit_tracer(clt: CrossLayerTranscoder, out_dir: str | Path, model_name: str = "") -> Path:
    """Write ``clt`` in circuit-tracer's layout (above); circuit-tracer's ``load_clt(out_dir,
    feature_input_hook=..., feature_output_hook=...)`` then computes the same latents and reconstructions.

    Refused (``SAEConfigError``): a TopK CLT (circuit-tracer has only ReLU and JumpReLU CLTs), layers of different
    widths, hooks not inside ``blocks.{layer}``. The CLT must span all of the model's layers."""
    cfg = clt.cfg
    arch = architecture_class(cfg.activation)
    if arch.needs_k and not arch.scalar_threshold:  # per-row TopK: no threshold circuit-tracer could use
        raise SAEConfigError("circuit-tracer's CLT has ReLU and JumpReLU activations only; a per-row TopK has no "
                             "threshold to export. Train the CLT with activation='batchtopk' or 'jumprelu'.")
    if len(set(cfg.widths)) != 1:
        raise SAEConfigError(f"circuit-tracer's CLT has one width for every layer; this one has {cfg.widths}.")
    hook_in, hook_out = _relative_hook(cfg.hook_in, "hook_in"), _relative_hook(cfg.hook_out, "hook_out")
    out = check_export_dir(out_dir)
    state = clt_state(clt)
    lines = {"model_kind": "cross_layer_transcoder", "feature_input_hook": hook_in, "feature_output_hook": hook_out}
    if model_name:  # the model ReplacementModel.from_pretrained loads (a Hugging Face name)
        lines["model_name"] = model_name
    with atomic_dir(out) as tmp:
        for i in range(clt.n_layers):
            enc = {f"W_enc_{i}": state[f"W_enc.{i}"].T, f"b_enc_{i}": state[f"b_enc.{i}"],
                   f"b_dec_{i}": state["b_dec"][i]}
            if f"threshold.{i}" in state:  # a BatchTopK threshold is one number, the same for every latent
                enc[f"threshold_{i}"] = state[f"threshold.{i}"].expand(cfg.widths[i]).clamp(min=0)
            save_file({k: v.contiguous().clone() for k, v in enc.items()}, str(tmp / f"W_enc_{i}.safetensors"))
            save_file({f"W_dec_{i}": state[f"W_dec.{i}"]}, str(tmp / f"W_dec_{i}.safetensors"))
        # JSON strings are YAML scalars: no YAML writer needed.
        (tmp / "config.yaml").write_text("".join(f"{k}: {json.dumps(str(v))}\n" for k, v in lines.items()))
    return out


def load_circuit_tracer(path: str | Path, feature_input_hook: str = "ln2.hook_normalized",
                        feature_output_hook: str = "hook_mlp_out", device: str = "cpu") -> CrossLayerTranscoder:
    """A CLT from circuit-tracer's layout (files ``W_enc_{i}`` / ``W_dec_{i}``): ``jumprelu`` when it has
    thresholds, else ``standard`` (ReLU). The hooks are circuit-tracer's, relative to ``blocks.{i}``."""
    root = Path(path)
    n = 0
    while (root / f"W_enc_{n}.safetensors").exists():
        n += 1
    if n == 0:
        raise SAECheckpointError(f"{root} holds no W_enc_0.safetensors: it is not a circuit-tracer CLT directory.")
    try:
        enc = [load_file(str(root / f"W_enc_{i}.safetensors")) for i in range(n)]
        dec = [load_file(str(root / f"W_dec_{i}.safetensors")) for i in range(n)]
    except (SafetensorError, OSError) as err:
        raise SAECheckpointError(f"Cannot read the circuit-tracer CLT in {root} ({err}).") from err
    d_sae, d_model = enc[0]["W_enc_0"].shape
    jump = "threshold_0" in enc[0]
    cfg = CLTConfig(n_layers=n, d_model=d_model, d_sae=d_sae, activation="jumprelu" if jump else "standard",
                    hook_in="blocks.{layer}." + feature_input_hook, hook_out="blocks.{layer}." + feature_output_hook,
                    device=device, metadata={"imported_from": str(root)})
    state = {"b_dec": torch.stack([e[f"b_dec_{i}"] for i, e in enumerate(enc)])}
    for i in range(n):
        state |= {f"W_enc.{i}": enc[i][f"W_enc_{i}"].T, f"b_enc.{i}": enc[i][f"b_enc_{i}"],
                  f"W_dec.{i}": dec[i][f"W_dec_{i}"]}
        if jump:
            state[f"threshold.{i}"] = enc[i][f"threshold_{i}"]
    return load_clt_state(CrossLayerTranscoder(cfg), {k: v.float() for k, v in state.items()}, str(root))


__all__ = ["CLTLayout", "check_export_dir", "clt_state", "export_circuit_tracer", "load_circuit_tracer", "load_clt",
           "save_clt"]

"""``interp train-clt``: a cross-layer transcoder trained on a run's MLP inputs and outputs (registered through the
``interp.commands`` entry points). Its options are ``CLTTrainCommandConfig``'s fields: the CLT's shape
(``saes.clt.CLTShape``, its sizes from the model), how it is trained (``saes.clt_train.CLTTrainConfig``), and the
model, tokens and device; each option's help is the field's docstring.

    interp train-clt runs/quickstart/model --out-dir runs/clt --activation batchtopk --k 16 --expansion 8
    interp train-clt runs/quickstart/model --out-dir runs/clt --activation batchtopk --k 16 --expansion 8 --resume
    interp train-clt runs/quickstart/model --out-dir runs/clt --activation jumprelu --export-circuit-tracer runs/clt-ct
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, fields
from pathlib import Path

from interp.app.args import add_dataclass_args, dataclass_from_args, field_help
from interp.app.messages import command, print_done
from saes.clt import CLTConfig, CLTShape
from saes.clt_train import CLTTrainConfig
from saes.errors import SAEConfigError
from saes.registry import architecture_class

# CLTShape fields a CLT trained here keeps at their defaults: no skip connection, transcoders never subtract
# b_dec from the input, no Matryoshka prefixes, float32 parameters.
_FIXED = ("skip", "apply_b_dec_to_input", "matryoshka_widths", "dtype")


@dataclass(kw_only=True)
class CLTTrainCommandConfig(CLTShape, CLTTrainConfig):
    """Every option of ``interp train-clt``: the CLT's shape (``CLTShape``), how it is trained
    (``CLTTrainConfig``), and the model, tokens and device."""

    run_dir: str = "runs/quickstart/model"
    """The model: a workbench run directory (written by interp train or interp quickstart)."""
    data: str = ""
    """Token shards to train on (a directory written by interp corpus); "": the run's training data."""
    out_dir: str = "runs/clt"
    """Where the CLT (clt_config.json, clt_weights.safetensors), train_config.json and checkpoints/ are written; a
    new or empty directory unless --resume or --overwrite."""
    k: int | None = 32
    """Active latents per row and layer for topk and batchtopk (1..the narrowest layer's width); ignored by jumprelu
    and standard."""
    d_sae: int | list[int] = 0
    """Latents per layer: one width for every layer (e.g. 1024), or one per layer (1024,512 or a JSON list [1024,
    512]); 0: expansion * d_model."""
    expansion: int = 8
    """Latents per layer = expansion * d_model when d_sae is 0 (>= 1)."""
    device: str = "auto"
    """Device to train on: auto (cuda when available, else cpu), cpu, cuda, cuda:1, ..."""
    export_circuit_tracer: str = ""
    """Also write the CLT in circuit-tracer's layout to this directory (new, empty or an earlier export; batchtopk,
    jumprelu or standard CLTs, one width for every layer); "": no export."""

    def __post_init__(self) -> None:
        CLTTrainConfig.__post_init__(self)
        self.check_shape()
        if not self.out_dir:
            raise SAEConfigError("train-clt needs --out-dir (where the CLT and its checkpoints go).")
        widths = self.d_sae if isinstance(self.d_sae, list) else [self.d_sae]
        if self.expansion < 1 or not widths or any(w < 0 for w in widths) or (len(widths) > 1 and 0 in widths):
            raise SAEConfigError(f"expansion={self.expansion} must be >= 1 and d_sae={self.d_sae} one width >= 0 (0: "
                                 "expansion * d_model) or a list of positive widths, one per layer.")
        arch = architecture_class(self.activation)
        if self.export_circuit_tracer and arch.needs_k and not arch.scalar_threshold:
            raise SAEConfigError("--export-circuit-tracer: circuit-tracer's CLT has ReLU and JumpReLU activations "
                                 "only, and a per-row topk has no threshold to export; use --activation batchtopk or "
                                 "jumprelu.")

    def clt_config(self, n_layers: int, d_model: int) -> CLTConfig:
        """The ``CLTConfig`` of this CLT for a model with ``n_layers`` layers of width ``d_model``."""
        shape = {f.name: getattr(self, f.name) for f in fields(CLTShape)}
        return CLTConfig(**shape, n_layers=n_layers, d_model=d_model, d_sae=self.d_sae or self.expansion * d_model)

    def train_config(self) -> CLTTrainConfig:
        return CLTTrainConfig(**self.train_dict())


def _widths(text: str) -> int | list[int]:
    """``--d-sae``: ``1024``, ``1024,512`` or ``[1024, 512]``."""
    try:
        value = json.loads(text) if text.strip().startswith("[") else [int(t) for t in text.split(",")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a width or comma-separated widths, got {text!r}") from err
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise argparse.ArgumentTypeError(f"expected a list of integer widths, got {text!r}")
    return value[0] if len(value) == 1 and not text.strip().startswith("[") else value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-clt", help="train a cross-layer transcoder on a model's MLP inputs and outputs",
        description="Train a cross-layer transcoder (one encoder per layer reading its MLP input, decoders to every "
                    "later MLP output) on RUN_DIR's activations, from one forward pass per model batch. Checkpoints "
                    "every --ckpt-interval steps; --resume continues a killed run to the same weights.")
    add_dataclass_args(p, CLTTrainCommandConfig, positional=("run_dir",), flags={"data": "--data-dir"},
                       skip=(*_FIXED, "d_sae"))
    p.add_argument("--d-sae", dest="d_sae", type=_widths, default=None, metavar="D_SAE",
                   help=field_help(CLTTrainCommandConfig, "d_sae"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import interp
    from interp.data.shards import TokenShards
    from interp.layout import RunLayout
    from interp.models.loading import run_data
    from saes.clt_format import check_export_dir, export_circuit_tracer
    from saes.clt_train import train_clt
    from saes.layout import CLTLayout
    from saes.run_dir import check_clt_out_dir

    cfg = dataclass_from_args(CLTTrainCommandConfig, args)
    check_clt_out_dir(cfg.out_dir, cfg.resume, cfg.overwrite)  # a clash is refused before the model loads
    if cfg.export_circuit_tracer:
        check_export_dir(cfg.export_circuit_tracer)
    if not RunLayout(cfg.run_dir).is_run():
        raise SAEConfigError(f"{cfg.run_dir} is not a run directory (no model_config.json or train_config.json); give "
                             "the directory interp train or interp quickstart wrote.")
    t0 = time.perf_counter()
    model = interp.load(cfg.run_dir, device=cfg.device)
    data = TokenShards(cfg.data) if cfg.data else run_data(cfg.run_dir)
    result = train_clt(model, data, cfg.clt_config(model.cfg.n_layers, model.cfg.d_model), cfg.train_config(),
                       model_run=cfg.run_dir)
    final = result.final
    for layer in range(result.clt.n_layers):
        if final:
            print(f"layer {layer}: fvu {final['fvu'][layer]:.3f}, L0 {final['l0'][layer]:.1f}, "
                  f"dead {final['dead'][layer]:.1%}")
    print(f"{result.steps} steps, {result.rows:,} rows in {time.perf_counter() - t0:.0f}s")
    layout = CLTLayout(cfg.out_dir)
    wrote: dict[str, str | Path] = {"CLT": layout.root, "train config": layout.train_config,
                                    "checkpoints": layout.checkpoints}
    if cfg.export_circuit_tracer:
        wrote["circuit-tracer export"] = export_circuit_tracer(result.clt, cfg.export_circuit_tracer)
    print_done(wrote, [command("interp graph", cfg.run_dir, "--transcoders", layout.root, "--prompt",
                               "When Mary and John went to the park, John gave a ball to") + "   # attribution graph",
                       f"python: saes.clt_format.load_clt({str(layout.root)!r})"])
    return 0


__all__ = ["CLTTrainCommandConfig", "register", "run"]

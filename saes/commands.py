"""The SAE subcommands of ``interp`` (registered through the ``interp.app.commands`` entry points):

    interp train-sae --run-dir runs/quickstart/model --hook blocks.1.hook_resid_pre --k 32 --out-dir runs/saes
    interp train-sae --config saes.json                  # several SAEs from one pass (see SAETrainConfig)
    interp eval-sae runs/saes/topk-blocks.1.hook_resid_pre --run-dir runs/quickstart/model
    interp dashboard runs/saes/topk-blocks.1.hook_resid_pre --run-dir runs/quickstart/model --features 0,5,17
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.app.args import add_dataclass_args, dataclass_from_args


def register_train(sub: argparse._SubParsersAction) -> None:
    from saes.train_config import SAETrainConfig

    p = sub.add_parser("train-sae", help="train SAEs / transcoders on a model's activations",
                       description="Train one SAE from the flags, or several (one activation pass) from --config.")
    add_dataclass_args(p, SAETrainConfig)
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    result = train_saes(dataclass_from_args(SAETrainConfig, args))
    for name, path in result.sae_dirs.items():
        m = result.final[name]
        print(f"{name}: fvu {m['fvu']:.3f}, L0 {m['l0']:.1f}, dead {m['dead']:.1%} -> {path}")
    print(f"{result.steps} steps, {result.rows:,} activations in {result.seconds:.0f}s. "
          f"Next: interp eval-sae {next(iter(result.sae_dirs.values()))} --run-dir RUN_DIR")
    return 0


def _tokens(run_dir: str, data: str | None, n_seqs: int, ctx: int):
    from interp.data.shards import TokenShards
    from interp.models.loading import run_data

    return (TokenShards(data) if data else run_data(run_dir, "val")).first_windows(n_seqs, ctx)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("sae_dir", help="an SAE directory (workbench or SAELens format)")
    p.add_argument("--run-dir", required=True, help="the model the SAE belongs to")
    p.add_argument("--data", default=None, help="token shards (default: the run's validation data)")
    p.add_argument("--n-seqs", type=int, default=128)
    p.add_argument("--device", default=None)


def register_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-sae", help="L0, FVU, CE loss recovered, KL, dead/dense features of an SAE",
                       description="Evaluate an SAE or transcoder spliced into its model; writes eval.json and "
                                   "density.html into the SAE directory.")
    _common(p)
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    import interp
    from interp.io import atomic_path, atomic_write_json
    from saes.evaluate import density_histogram, evaluate_sae
    from saes.format import load_sae

    model = interp.load(args.run_dir, device=args.device)
    sae = load_sae(args.sae_dir, device=model.cfg.device)
    metrics = evaluate_sae(model, sae, _tokens(args.run_dir, args.data, args.n_seqs, model.cfg.n_ctx), progress=True)
    density = metrics.pop("density")
    atomic_write_json(Path(args.sae_dir) / "eval.json", metrics)
    with atomic_path(Path(args.sae_dir) / "density.html") as tmp:
        density_histogram(density).write_html(tmp, include_plotlyjs=True)
    print(" ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    return 0


def register_dashboard(sub: argparse._SubParsersAction) -> None:
    from saes.dashboard_data import SORT_COLUMNS

    p = sub.add_parser(
        "dashboard", help="offline HTML pages for SAE features, with a sortable index",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write one HTML page per SAE feature (top-activating examples and examples across its\n"
                    "activation range, each token's activation shown; activation histogram; promoted and\n"
                    "suppressed logits) and a sortable index linking them. The directory shares one\n"
                    "plotly.min.js, so it opens offline wherever it is copied.\n\n"
                    "example:\n  interp dashboard runs/saes/topk-blocks.1.hook_resid_pre --run-dir "
                    "runs/quickstart/model \\\n      --n-features 50 --sort-by mean_act")
    _common(p)
    p.add_argument("--features", default=None, help="comma-separated feature ids (default: the most frequent)")
    p.add_argument("--n-features", type=int, default=20)
    p.add_argument("--out", default=None, help="output directory (default SAE_DIR/dashboard)")
    p.add_argument("--sort-by", choices=SORT_COLUMNS, default="max_act",
                   help="order of the index and of the next/previous links: max_act, mean_act (mean where it "
                        "fires) or density, descending; feature (the id), ascending (default: max_act)")
    p.set_defaults(func=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    import interp
    from saes.dashboard import write_dashboards
    from saes.format import load_sae

    model = interp.load(args.run_dir, device=args.device)
    sae = load_sae(args.sae_dir, device=model.cfg.device)
    feats = [int(f) for f in args.features.split(",")] if args.features else None
    index = write_dashboards(model, sae, _tokens(args.run_dir, args.data, args.n_seqs, model.cfg.n_ctx),
                             args.out or Path(args.sae_dir) / "dashboard", features=feats, n_features=args.n_features,
                             sort_by=args.sort_by)
    print(f"wrote {index}")
    return 0

"""The SAE subcommands of ``interp`` (registered through the ``interp.app.commands`` entry points):

    interp train-sae runs/quickstart/model --hook blocks.1.hook_resid_pre --k 32 --out-dir runs/saes
    interp train-sae --config saes.json                  # several SAEs from one pass (see SAETrainConfig)
    interp eval-sae runs/saes/topk-blocks.1.hook_resid_pre --run-dir runs/quickstart/model
    interp dashboard runs/saes/topk-blocks.1.hook_resid_pre --run-dir runs/quickstart/model --features 0,5,17
"""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.app.args import add_dataclass_args, add_n_tokens_option, add_renamed_option, dataclass_from_args
from interp.app.messages import command, format_table, print_done


def register_train(sub: argparse._SubParsersAction) -> None:
    from saes.train_config import SAETrainConfig

    p = sub.add_parser("train-sae", help="train SAEs / transcoders on a model's activations",
                       description="Train one SAE on RUN_DIR's activations from the flags, or several (one "
                                   "activation pass) from --config.")
    add_dataclass_args(p, SAETrainConfig, positional=("run_dir",), flags={"data": "--data-dir"})
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    cfg = dataclass_from_args(SAETrainConfig, args)
    result = train_saes(cfg)
    for name in result.sae_dirs:
        m = result.final[name]
        print(f"{name}: fvu {m['fvu']:.3f}, L0 {m['l0']:.1f}, dead {m['dead']:.1%}")
    print(f"{result.steps} steps, {result.rows:,} activations in {result.seconds:.0f}s")
    first = next(iter(result.sae_dirs.values()))
    print_done({f"SAE {name}": path for name, path in result.sae_dirs.items()},
               [command("interp eval-sae", first, "--run-dir", cfg.run_dir) + "   # L0, FVU, CE loss recovered, KL",
                command("interp dashboard", first, "--run-dir", cfg.run_dir) + "   # feature pages",
                f"python: saes.load_sae({str(first)!r})"])
    return 0


def _tokens(args: argparse.Namespace, ctx: int):
    from interp.app.args import n_windows
    from interp.data.shards import TokenShards
    from interp.models.loading import run_data

    data = TokenShards(args.data_dir) if args.data_dir else run_data(args.run_dir, "val")
    return data.first_windows(n_windows(args, ctx), ctx)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("sae_dir", metavar="SAE_DIR", help="an SAE directory (workbench or SAELens format)")
    p.add_argument("--run-dir", required=True, help="the run directory of the model the SAE belongs to")
    add_renamed_option(p, "--data-dir", "--data", default=None,
                       help="token-shard directory (default: the run's validation shards)")
    add_n_tokens_option(p, 16_384, "tokens to run through the model")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--allow-other-model", action="store_true",
                   help="use the SAE with a model other than the one it was trained on (its metadata.model_hash)")


def _model_and_sae(args: argparse.Namespace):
    """The run's model and the SAE, checked to belong together (hooks, and the model it was trained on)."""
    import interp
    from saes.format import load_sae
    from saes.hooked import check_sae_fits

    model = interp.load(args.run_dir, device=args.device)
    sae = load_sae(args.sae_dir, device=model.cfg.device)
    check_sae_fits(model, sae, allow_other_model=args.allow_other_model)
    return model, sae


def register_eval(sub: argparse._SubParsersAction) -> None:
    from saes.ground_truth.commands import add_ground_truth_options

    p = sub.add_parser("eval-sae", help="L0, FVU, CE loss recovered, KL, dead/dense features of an SAE",
                       description="Evaluate an SAE or transcoder spliced into its model; writes eval.json and "
                                   "density.html into the SAE directory.")
    _common(p)
    p.add_argument("--ground-truth", action="store_true",
                   help="also score the SAE against ground truth (IOI supervised dictionaries, corpus attribute F1, "
                        "sparse probing, absorption): ground_truth.json and ground_truth.html (minutes)")
    add_ground_truth_options(p)
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from interp.io import atomic_path, atomic_write_json
    from saes.evaluate import density_histogram, evaluate_sae
    from saes.layout import SAELayout

    model, sae = _model_and_sae(args)
    metrics = evaluate_sae(model, sae, _tokens(args, model.cfg.n_ctx), progress=True)
    density = metrics.pop("density")
    layout = SAELayout(args.sae_dir)
    atomic_write_json(layout.eval, metrics)
    with atomic_path(layout.density) as tmp:
        density_histogram(density).write_html(tmp, include_plotlyjs=True)
    print(format_table(metrics, ("metric", "value")))
    written = {"metrics": layout.eval, "feature density histogram": layout.density}
    if args.ground_truth:
        from saes.ground_truth.commands import ground_truth_for

        result = ground_truth_for(model, sae, args, layout)
        print(format_table(result.scores, ("ground-truth score", "value")))
        written.update({"ground truth": layout.ground_truth, "ground-truth page": layout.ground_truth_page})
    print_done(written,
               [command("interp dashboard", layout.root, "--run-dir", args.run_dir) + "   # feature pages"])
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
    p.add_argument("--n-features", type=int, default=20, help="features to draw without --features (default 20)")
    add_renamed_option(p, "--out-dir", "--out", default=None, help="output directory (default SAE_DIR/dashboard)")
    p.add_argument("--sort-by", choices=SORT_COLUMNS, default="max_act",
                   help="order of the index and of the next/previous links: max_act, mean_act (mean where it "
                        "fires) or density, descending; feature (the id), ascending (default: max_act)")
    p.set_defaults(func=run_dashboard)


def run_dashboard(args: argparse.Namespace) -> int:
    from saes.dashboard import write_dashboards

    model, sae = _model_and_sae(args)
    feats = [int(f) for f in args.features.split(",")] if args.features else None
    index = write_dashboards(model, sae, _tokens(args, model.cfg.n_ctx), args.out_dir or Path(args.sae_dir) / "dashboard",
                             features=feats, n_features=args.n_features, sort_by=args.sort_by)
    print_done({"dashboard index": index}, [f"open {index} in a browser"])
    return 0

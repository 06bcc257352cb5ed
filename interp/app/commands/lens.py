"""``interp lens RUN_DIR``: train a tuned lens on the run's training tokens, save it, and compare its KL to the
final distribution with the logit lens's at every layer on held-out tokens (``lens.json`` + ``lens.html``,
default in RUN_DIR/tuned_lens)."""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.app.args import add_n_tokens_option, add_renamed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lens", help="train a tuned lens and compare it with the logit lens", description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (written by `interp train` or `interp import`)")
    add_renamed_option(p, "--out-dir", "--out", default=None, help="output directory (default RUN_DIR/tuned_lens)")
    p.add_argument("--steps", type=int, default=300, help="tuned-lens training steps (default 300)")
    add_n_tokens_option(p, 32_768, "training tokens from the run's training data (and up to 64 held-out windows "
                        "from its validation data)")
    p.add_argument("--cache-dir", default=None, help="train from an `interp cache` directory holding the lens hooks "
                   "(blocks.*.hook_resid_pre and the last hook_resid_post) instead of running the model")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import interp
    from interp.analysis.lens import lens_kl, plot_lens_kl
    from interp.analysis.tuned_lens import TunedLens
    from interp.app.args import n_windows
    from interp.app.messages import print_done
    from interp.io import atomic_path, atomic_write_json
    from interp.layout import RunLayout
    from interp.models.loading import run_data

    model = interp.load(args.run_dir, device=args.device)

    if args.cache_dir:
        from interp.analysis.activations import ActivationStore
        from interp.analysis.tuned_lens import lens_hooks

        store = ActivationStore.from_cache(args.cache_dir, lens_hooks(model), batch_size=2048, model=model)
        lens = TunedLens.fit_from_store(model, store, n_steps=args.steps)
    else:
        windows = run_data(args.run_dir).first_windows(n_windows(args, model.cfg.n_ctx), model.cfg.n_ctx)
        lens = TunedLens.fit(model, windows, n_steps=args.steps)
    out = Path(args.out_dir) if args.out_dir else RunLayout(args.run_dir).tuned_lens
    lens.save(out)
    held_out = run_data(args.run_dir, "val").first_windows(64, model.cfg.n_ctx).to(model.cfg.device)
    curves = {"logit lens": lens_kl(model, held_out), "tuned lens": lens_kl(model, held_out, lens)}
    atomic_write_json(out / "lens.json", {k.replace(" ", "_") + "_kl": v.tolist() for k, v in curves.items()})
    with atomic_path(out / "lens.html") as tmp:
        plot_lens_kl(curves, "KL(final || lens) on held-out tokens, by layer").write_html(tmp, include_plotlyjs=True)  # offline
    print("KL(final || lens) by layer:")
    for name, kl in curves.items():
        print(f"  {name:>10}: " + " ".join(f"{float(v):.3f}" for v in kl))
    print_done({"tuned lens": out, "comparison plot": out / "lens.html", "KL by layer": out / "lens.json"},
               [f"open {out / 'lens.html'} in a browser",
                f"python: interp.analysis.tuned_lens.TunedLens.load({str(out)!r}, model)"])
    return 0

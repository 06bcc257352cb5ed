"""``interp eval-sae --ground-truth`` (its options and what it writes) and ``interp compare-saes``:

    interp eval-sae runs/saes/topk-blocks.1.hook_resid_pre --run-dir runs/quickstart/model --ground-truth
    interp compare-saes runs/saes/* --run-dir runs/quickstart/model --out runs/sae-compare
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interp.app.messages import command, print_done


def add_ground_truth_options(p: argparse.ArgumentParser) -> None:
    """The options of the ground-truth evaluation, shared by ``eval-sae --ground-truth`` and ``compare-saes``."""
    p.add_argument("--n-stories", type=int, default=400,
                   help="held-out corpus stories for the attribute metrics (F1, probing, absorption; default 400, "
                        "about 60k tokens; fewer leaves rare values out, each value needs 20-40 examples)")
    p.add_argument("--n-ioi-prompts", type=int, default=512,
                   help="IOI prompts for the supervised dictionary and the three axes (default 512: half fit the "
                        "dictionary, half score it; each of the 8 names needs >= 8 prompts per half, so >= 128)")


def settings_for(args: argparse.Namespace, model) -> dict:
    """What a saved ground-truth result was made with; ``compare-saes`` reuses one only when all of it matches."""
    from interp.io import hash_state_dict
    from saes.ground_truth.evaluate import VERSION

    return {"n_stories": args.n_stories, "n_ioi_prompts": args.n_ioi_prompts, "version": VERSION,
            "model_hash": hash_state_dict(model.state_dict())}


def ground_truth_for(model, sae, args: argparse.Namespace, layout, settings: dict | None = None):
    """Evaluate, write ``ground_truth.json`` and ``ground_truth.html`` into the SAE directory, return the result.
    ``settings``: ``settings_for(args, model)`` if already computed."""
    from interp.io import atomic_write_json, git_commit
    from saes.ground_truth.evaluate import evaluate_ground_truth
    from saes.ground_truth.report import write_ground_truth_page

    result = evaluate_ground_truth(model, sae, n_stories=args.n_stories, n_ioi=args.n_ioi_prompts,
                                   allow_other_model=args.allow_other_model, progress=True)
    settings = {**(settings or settings_for(args, model)), "git_commit": git_commit()}
    atomic_write_json(layout.ground_truth, {"settings": settings, **result.to_json()})
    write_ground_truth_page(result, layout.ground_truth_page, title=Path(layout.root).name)
    return result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare-saes", help="compare SAEs on every ground-truth axis (architecture x width x L0), with plots",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score each SAE against ground truth (IOI supervised dictionaries: approximation, sparse "
                    "control, F1; corpus attributes: F1, sparse probing, absorption) and the usual metrics (L0, "
                    "FVU, CE recovered), reusing each SAE's ground_truth.json and eval.json when they were made "
                    "with the same settings on the same model. Writes comparison.json, comparison.csv and "
                    "report.html into --out.\n\nexample:\n  interp compare-saes runs/saes/* --run-dir "
                    "runs/quickstart/model --out runs/sae-compare")
    p.add_argument("sae_dirs", nargs="+", metavar="SAE_DIR", help="SAE directories (workbench or SAELens format)")
    p.add_argument("--run-dir", required=True, help="the run directory of the model the SAEs belong to")
    p.add_argument("--out", required=True, help="output directory for the comparison")
    p.add_argument("--recompute", action="store_true", help="evaluate again even where saved results match")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.add_argument("--allow-other-model", action="store_true",
                   help="use SAEs with a model other than the one they were trained on (their metadata.model_hash)")
    add_ground_truth_options(p)
    p.set_defaults(func=run_compare)


def _saved(path: Path, settings: dict) -> dict | None:
    """A saved ground-truth result, if it was made with these settings on this model."""
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    same = all(saved.get("settings", {}).get(k) == v for k, v in settings.items())
    return saved if same else None


def run_compare(args: argparse.Namespace) -> int:
    import interp
    from interp.io import atomic_dir
    from saes.evaluate import evaluate_sae
    from saes.format import load_sae
    from saes.ground_truth.evaluate import ground_truth_frame
    from saes.ground_truth.report import with_mean_f1, write_comparison
    from saes.hooked import check_sae_fits
    from saes.layout import SAELayout

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / "comparison.json").exists():
        from interp.errors import RunDirError

        raise RunDirError(f"--out {out} exists and holds something other than an SAE comparison; choose a new "
                          "directory (a previous comparison there would be replaced, nothing else is).")
    model = interp.load(args.run_dir, device=args.device)
    settings = settings_for(args, model)
    results, extra = {}, {}
    for d in args.sae_dirs:
        layout = SAELayout(d)
        sae = load_sae(d, device=model.cfg.device)
        check_sae_fits(model, sae, allow_other_model=args.allow_other_model)
        name = Path(d).name
        saved = None if args.recompute else _saved(layout.ground_truth, settings)
        results[name] = saved or ground_truth_for(model, sae, args, layout, settings).to_json()
        basic = json.loads(layout.eval.read_text()) if layout.eval.exists() and not args.recompute else None
        if basic is None:
            from interp.models.loading import run_data

            tokens = run_data(args.run_dir, "val").first_windows(128, model.cfg.n_ctx)
            basic = {k: v for k, v in evaluate_sae(model, sae, tokens).items() if k != "density"}
        extra[name] = {"architecture": sae.cfg.architecture, "d_sae": sae.cfg.d_sae, "hook": sae.cfg.hook_name,
                       "kind": "transcoder" if sae.cfg.is_transcoder else "sae",
                       **{k: basic.get(k) for k in ("l0", "fvu", "ce_recovered")}}
    frame = with_mean_f1(ground_truth_frame(results, extra))
    with atomic_dir(args.out) as tmp:
        tmp = Path(tmp)
        (tmp / "comparison.json").write_text(json.dumps({"settings": settings, "saes": results}, indent=1))
        frame.to_csv(tmp / "comparison.csv")
        write_comparison(frame, tmp / "report.html")
    cols = [c for c in ("architecture", "d_sae", "l0", "fvu", "ioi_sufficiency", "ioi_control_swap", "f1_mean",
                        "probe_k1", "absorption_rate") if c in frame]
    print(frame[cols].round(3).to_string())
    print_done({"comparison": out / "comparison.json", "table (CSV)": out / "comparison.csv",
                "report": out / "report.html"},
               [command("interp dashboard", args.sae_dirs[0], "--run-dir", args.run_dir) + "   # feature pages"])
    return 0

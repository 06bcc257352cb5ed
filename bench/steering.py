"""Steering on the quickstart model: removal (the detox case, concept "rude") and addition (concept "sea"), every
method including SAE features, strengths chosen on dev prompts and reported on test prompts; and the time of the
harness at the issue's size (3 methods x 5 strengths x 64 prompts x 32 new tokens; strength 0 is run too).

Without --sae-dir a TopK SAE is trained at the steering hook first (not timed). Last line:
``removal_reduction=R removal_fluency_cost=C addition_rate=A addition_fluency_cost=F sae_vs_diffmean=S
harness_seconds=T``: R is the best test-split cut of the concept rate among methods whose fluency cost is <= 0.1
nats (C its cost), A the best test-split concept rate among methods with cost <= 0.3 (F its cost), S the SAE
method's harmonic mean over DiffMean's (mean of the two goals; > 1: SAE features win).

    python bench/steering.py --run-dir runs/quickstart/model
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from interp.steering.config import SteerConfig  # noqa: E402


def train_sae(run_dir: str, hook: str, out: Path, n_tokens: int) -> Path:
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig(run_dir=run_dir, out_dir=str(out), n_tokens=n_tokens, batch_size=1024, lr=2e-3,
                         buffer_size=65_536, progress=False,
                         saes=[{"name": "topk", "hook": hook, "architecture": "topk", "k": 32, "expansion": 16}])
    return Path(train_saes(cfg).sae_dirs["topk"])


def best(test: pd.DataFrame, score: str, max_cost: float) -> pd.Series | None:
    ok = test[test.fluency_cost <= max_cost]
    return ok.sort_values(score, ascending=False).iloc[0] if len(ok) else None


def main() -> None:
    from interp.models.loading import load
    from interp.steering.harness import default_hook, run_steering

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/quickstart/model", help="a model trained on the concept corpus")
    p.add_argument("--sae-dir", default="", help="an SAE at the steering hook; '': train a TopK SAE first")
    p.add_argument("--sae-tokens", type=int, default=2_000_000, help="tokens to train that SAE on")
    p.add_argument("--n-prompts", type=int, default=64, help="prompts per split")
    p.add_argument("--strengths", default=SteerConfig.strengths,
                   help="strengths (units of the DiffMean length; default: interp steer's)")
    p.add_argument("--out-dir", default="", help="where results go; '': a temporary directory")
    args = p.parse_args()

    out = Path(args.out_dir or tempfile.mkdtemp(prefix="bench-steering-"))
    hook = default_hook(load(args.run_dir, device="cpu"))
    sae_dir = args.sae_dir or str(train_sae(args.run_dir, hook, out / "sae", args.sae_tokens))
    common = dict(run_dir=args.run_dir, hook=hook, sae_dir=sae_dir, n_prompts=args.n_prompts,
                  strengths=args.strengths, progress=False, overwrite=True)

    t0 = time.time()
    timed = run_steering(SteerConfig(**common, concept="sea", goal="add", methods="diffmean,probe,sae",
                                     out_dir=str(out / "timed")))
    harness_seconds = time.time() - t0
    runs = {"remove": run_steering(SteerConfig(**common, concept="rude", goal="remove", out_dir=str(out / "rude"))),
            "add": run_steering(SteerConfig(**common, concept="sea", goal="add", out_dir=str(out / "sea")))}
    for goal, result in runs.items():
        print(f"\n{goal} ({result.results['concept']}), test split, {result.results['seconds']:.0f} s:")
        print(result.test.round(3).to_string(index=False))

    removal = runs["remove"].test.assign(reduction=lambda f: 1 - f.concept_rate / f.base_rate.clip(lower=1e-9))
    r = best(removal, "reduction", 0.1)
    a = best(runs["add"].test, "concept_rate", 0.3)
    ratios = []
    for result in runs.values():
        h = result.test.set_index("method").harmonic
        if h.get("diffmean", 0) > 0:
            ratios.append(h["sae"] / h["diffmean"])
    print(f"\nmachine: {machine()}; SAE {sae_dir}; results in {out}; timed harness {timed.out}")
    print(f"removal_reduction={r.reduction if r is not None else 0:.3f} "
          f"removal_fluency_cost={r.fluency_cost if r is not None else float('nan'):.3f} "
          f"addition_rate={a.concept_rate if a is not None else 0:.3f} "
          f"addition_fluency_cost={a.fluency_cost if a is not None else float('nan'):.3f} "
          f"sae_vs_diffmean={sum(ratios) / len(ratios) if ratios else float('nan'):.3f} "
          f"harness_seconds={harness_seconds:.0f}")


if __name__ == "__main__":
    main()

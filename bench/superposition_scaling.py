"""Loss against width in the toy model of Liu, Liu & Gore 2025 (``saes/superposition.py``), both regimes: weight
growth (wd < 0, strong superposition; the paper: loss ∝ 1/m, exponent ≈ 1 whatever alpha) and weight decay (wd > 0,
weak superposition; the paper: the unrepresented frequency tail, ``(4/3) sum_{i>m} p_i ~ m^-(alpha-1)``).

The reference, computed in the same run: exponent 1 for the strong regime, and for the weak regime the exponent of
that tail prediction at the same n_features and widths (finite n makes it steeper than alpha - 1 = 0.2).

Prints the sweep as a table; the last line is ``strong_exponent=A strong_lo=L strong_hi=H weak_exponent=...
weak_lo=... weak_hi=... n_features=N weak_tail_exponent=T strong_vs_paper=A/1 weak_vs_tail=W/T seconds=S``
(intervals: 95% t-intervals of the log-log slope). Writes a plotly figure to --out (``runs/`` is git-ignored).

    python bench/superposition_scaling.py                      # about 5 minutes on 1 CPU thread (quiet machine)
    python bench/superposition_scaling.py --n-features 1024 --steps 1000 --widths 8,16,32,64
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from saes.superposition import (  # noqa: E402
    SuperpositionConfig,
    fit_power_law,
    scaling_figure,
    scaling_sweep,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-features", type=int, default=4096)
    p.add_argument("--widths", default="8,16,32,64,128,256", help="comma-separated widths m (each < n_features)")
    p.add_argument("--strong-wd", type=float, default=-1.0, help="weight decay of the strong regime (< 0)")
    p.add_argument("--weak-wd", type=float, default=1.0, help="weight decay of the weak regime (> 0)")
    p.add_argument("--alpha", type=float, default=1.2)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--bias-init", default="zero", choices=["zero", "randn"], help="randn: the paper's")
    p.add_argument("--lr", type=float, default=SuperpositionConfig.lr, help="W's peak lr at width 8")
    p.add_argument("--eval-batch", type=int, default=32768)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/bench/superposition.html", help="the plotly figure (HTML)")
    args = p.parse_args()
    if args.strong_wd >= 0 or args.weak_wd <= 0:
        p.error("--strong-wd must be < 0 and --weak-wd > 0 (the sign picks the regime)")

    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    base = SuperpositionConfig(n_features=args.n_features, alpha=args.alpha, steps=args.steps, batch=args.batch,
                               lr=args.lr, eval_batch=args.eval_batch, seed=args.seed,
                               bias_init=args.bias_init)
    print(f"# {machine()}, {args.threads} thread(s); n_features={args.n_features} alpha={args.alpha} "
          f"steps={args.steps} batch={args.batch} lr={args.lr}", flush=True)
    start = time.perf_counter()
    df = scaling_sweep(widths, [args.strong_wd, args.weak_wd], base)
    seconds = time.perf_counter() - start

    fits = {name: fit_power_law(part.width, part.loss) for name, part in df.groupby("regime")}
    tail = df.drop_duplicates("width")
    tail_exp = fit_power_law(tail.width, tail.weak_tail_loss)[0]
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for name, (a, (lo, hi)) in sorted(fits.items()):
        print(f"# {name}: loss ∝ m^-{a:.3f}, 95% t-interval [{lo:.3f}, {hi:.3f}]")
    print(f"# weak tail prediction (4/3) sum_(i>m) p_i: m^-{tail_exp:.3f}; paper's strong exponent: 1")
    weak = df[df.regime == "weak"]
    print("# weak loss / (4/3) sum of the unrepresented features' p_i: "
          + " ".join(f"m={m}:{v:.2f}" for m, v in zip(weak.width, weak.loss / weak.unrepresented_loss, strict=True)))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scaling_figure(df, title=f"Toy model (Liu, Liu & Gore 2025), n={args.n_features}, alpha={args.alpha}").write_html(
        out, include_plotlyjs=True)  # offline
    print(f"# figure: {out}")
    (sa, (sl, sh)), (wa, (wl, wh)) = fits["strong"], fits["weak"]
    print(f"strong_exponent={sa:.3f} strong_lo={sl:.3f} strong_hi={sh:.3f} weak_exponent={wa:.3f} weak_lo={wl:.3f} "
          f"weak_hi={wh:.3f} n_features={args.n_features} weak_tail_exponent={tail_exp:.3f} "
          f"strong_vs_paper={sa:.3f} weak_vs_tail={wa / tail_exp:.3f} seconds={seconds:.0f}")


if __name__ == "__main__":
    main()

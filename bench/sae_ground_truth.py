"""Issue 20's study: every SAE architecture at two widths (and a transcoder) on the quickstart model, scored against
ground truth, with the supervised dictionary as the reference.

1. Train 6 architectures x 2 widths on ``--hook`` (one activation pass) and a TopK transcoder of the layer's MLP
   (into ``--out``/saes; an existing set is reused, so a rerun only evaluates).
2. ``interp compare-saes`` over all of them (``--out``/compare: comparison.json, comparison.csv, report.html).
3. Print the table, the best architecture per axis, the supervised dictionary's IOI sufficiency and necessity
   and the seconds of one full ground-truth evaluation.

Last line: ``supervised_sufficiency=... supervised_necessity=... supervised_edit_accuracy=... no_edit_accuracy=...
best_sae_sufficiency=... best_sae_edit_accuracy_swap=... best_sae_edit_accuracy_greedy=... eval_seconds_max=...``
(edit accuracies: mean over the attributes whose counterfactual changes the answer at this hook).

    python bench/sae_ground_truth.py --run-dir runs/quickstart/model --out runs/sae-ground-truth
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

# Width multipliers of d_model and each architecture's sparsity setting (L0 near 16-32 on the quickstart model).
EXPANSIONS = (4, 16)
ARCHITECTURES = {
    "standard": {"l1_coefficient": 3.0},
    "topk": {"k": 16},
    "batchtopk": {"k": 16},
    "jumprelu": {"l0_coefficient": 1.0, "jumprelu_init_threshold": 0.2},
    "gated": {"l1_coefficient": 5.0},
    "matryoshka_batchtopk": {"k": 16},
}


def specs(hook: str, mlp_layer: int) -> list[dict]:
    out = [{"name": f"{arch}-x{e}", "hook": hook, "architecture": arch, "expansion": e, **kw}
           for arch, kw in ARCHITECTURES.items() for e in EXPANSIONS]
    out.append({"name": "transcoder-topk-x8", "hook": f"blocks.{mlp_layer}.ln2.hook_normalized",
                "hook_out": f"blocks.{mlp_layer}.hook_mlp_out", "architecture": "topk", "k": 16, "expansion": 8})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--out", default="runs/sae-ground-truth")
    p.add_argument("--hook", default="blocks.1.hook_resid_pre")
    p.add_argument("--n-tokens", type=int, default=600_000, help="SAE training tokens (default 600,000)")
    p.add_argument("--n-stories", type=int, default=400)
    p.add_argument("--n-ioi-prompts", type=int, default=512)
    args = p.parse_args()
    torch.manual_seed(0)
    import interp
    from interp.app.cli import main as cli
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    out = Path(args.out)
    model = interp.load(args.run_dir, device="cpu")
    spec = specs(args.hook, model.cfg.n_layers - 1)
    sae_root = out / "saes"
    dirs = [sae_root / s["name"] for s in spec]
    if not all((d / "cfg.json").exists() for d in dirs):
        cfg = SAETrainConfig(run_dir=args.run_dir, out_dir=str(sae_root), n_tokens=args.n_tokens, batch_size=1024,
                             lr=2e-3, buffer_size=16384, dead_tokens=200_000, saes=spec, overwrite=True)
        train_saes(cfg, model=model)
    compare = out / "compare"
    code = cli(["compare-saes", *map(str, dirs), "--run-dir", args.run_dir, "--out", str(compare),
                "--n-stories", str(args.n_stories), "--n-ioi-prompts", str(args.n_ioi_prompts)])
    if code:
        raise SystemExit(code)
    import pandas as pd

    from saes.ground_truth.report import winners

    frame = pd.read_csv(compare / "comparison.csv", index_col=0)
    print(winners(frame).to_string(index=False))
    first = json.loads((compare / "comparison.json").read_text())["saes"][dirs[0].name]["scores"]
    saes = frame[frame.architecture.notna() & ~frame.index.str.startswith("transcoder")]
    keys = dict(supervised_sufficiency=first.get("supervised_sufficiency"),
                supervised_necessity=first.get("supervised_necessity"),
                supervised_edit_accuracy=first.get("supervised_edit_accuracy"),
                no_edit_accuracy=first.get("ioi_edit_accuracy_no_edit"),
                best_sae_sufficiency=saes.ioi_sufficiency.max(),
                best_sae_edit_accuracy_swap=saes.ioi_edit_accuracy_swap.max(),
                best_sae_edit_accuracy_greedy=saes.ioi_edit_accuracy_greedy.max(), eval_seconds_max=frame.seconds.max())
    print(f"machine: {machine()}")
    print(" ".join(f"{k}={v:.3f}" for k, v in keys.items()))


if __name__ == "__main__":
    main()

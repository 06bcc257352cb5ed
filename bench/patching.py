"""Activation patching vs attribution patching on IOI: every head x position, one run.

Clean prompts are held-out IOI prompts; corrupted prompts replace the three name slots by other names (the
"ABC" distribution), which keeps token lengths. The metric is the mean IO - S logit difference. Prints the Pearson
correlation of the two methods at head level (effects summed over positions) and the speed-up of attribution
patching. Last line: ``attribution_vs_activation_corr=C speedup=S``.

    python bench/patching.py --run-dir runs/quickstart/model
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402


def ioi_pairs(model, n: int, seed: int):
    from interp.data.corpus import lexicon as lx
    from interp.tasks.ioi import ioi_prompts

    data = ioi_prompts(n, seed)
    rng = random.Random(seed + 1)
    clean, corrupt, io_ids, s_ids = [], [], [], []
    single = [x for x in lx.NAMES if len(model.to_tokens(" " + x, prepend_bos=False)[0]) == 1]
    for prompt, io, s in zip(data.prompts, data.io, data.s, strict=True):
        a, b = rng.sample([x for x in single if x not in (io.strip(), s.strip())], 2)
        bad = prompt.replace(io.strip(), "\0").replace(s.strip(), b).replace("\0", a)
        toks, bad_toks = model.to_tokens(prompt)[0], model.to_tokens(bad)[0]
        if len(toks) != len(bad_toks) or io.strip() not in single or s.strip() not in single:
            continue
        clean.append(toks)
        corrupt.append(bad_toks)
        io_ids.append(model.to_single_token(io))
        s_ids.append(model.to_single_token(s))
    width = {len(t) for t in clean}
    length = max(width, key=lambda w: sum(len(t) == w for t in clean))  # the most common length: no padding
    keep = [i for i, t in enumerate(clean) if len(t) == length]
    pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
    return (torch.stack(pick(clean)), torch.stack(pick(corrupt)), torch.tensor(pick(io_ids)),
            torch.tensor(pick(s_ids)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="runs/quickstart/model")
    parser.add_argument("--n-prompts", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import interp
    from interp.analysis.patching import activation_patch, attribution_patch, logit_diff

    if not Path(args.run_dir).exists():
        sys.exit(f"{args.run_dir} does not exist: run `interp quickstart` first, or pass --run-dir.")
    model = interp.load(args.run_dir, device="cuda" if torch.cuda.is_available() else "cpu")
    clean, corrupt, io, s = ioi_pairs(model, args.n_prompts, args.seed)
    metric = logit_diff(io, s)
    print(f"{len(clean)} IOI prompt pairs of {clean.shape[1]} tokens; model {args.run_dir}")
    t0 = time.perf_counter()
    act = activation_patch(model, clean, corrupt, metric, kind="head_pos")
    t_act = time.perf_counter() - t0
    t0 = time.perf_counter()
    attr = attribution_patch(model, clean, corrupt, metric, kind="head_pos")
    t_attr = time.perf_counter() - t0
    a, b = act.effect.sum(-1).flatten(), attr.effect.sum(-1).flatten()
    corr = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    print(f"clean logit diff {act.base_value:.3f}, corrupted {act.source_value:.3f}")
    print(f"activation patching {t_act:.2f}s ({act.effect.numel()} patches), attribution patching {t_attr:.3f}s")
    print(f"machine: {machine()}")
    print(f"attribution_vs_activation_corr={corr:.3f} speedup={t_act / t_attr:.1f}")


if __name__ == "__main__":
    main()

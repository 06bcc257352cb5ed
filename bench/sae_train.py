"""SAE training speed: this workbench against SAELens' trainer, in one run, on the same cached activations.

1. Standard (ReLU + L1) and TopK SAEs, same activations, width, k, batch, lr and number of steps, trained by
   ``saes.train`` (from an ``interp cache`` directory) and by ``sae_lens.SAETrainer`` (fed the same rows).
2. Four TopK SAEs (k = 8, 16, 32, 64) on one hook from one pass of the model against four separate runs (each
   computing its own activations on the fly, as without a cache).
3. MFU of our standard SAE step: the dense formulation's matmul FLOPs per second over the measured fp32 matmul
   rate (above 1 when the sparse kernels skip inactive features).

Last line: ``standard_vs_saelens=R1 topk_vs_saelens=R2 four_in_one_pass=R3 mfu=U``.

    python bench/sae_train.py --run-dir runs/quickstart/model
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, matmul_gflops  # noqa: E402


def _ours(run_dir: str, cache: str | None, model, saes: list[dict], rows: int, batch: int, out: Path) -> float:
    from saes.train import SAETrainer
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig(run_dir=run_dir, cache_dir=cache or "", out_dir=str(out), saes=saes, n_tokens=rows,
                         batch_size=batch, lr=4e-4, progress=False, ckpt_interval=10**9, buffer_size=4 * batch,
                         overwrite=True, warmup_steps=0, decay_start=1.0, sparsity_warmup_steps=0)  # as SAELens
    t0 = time.perf_counter()
    SAETrainer(cfg, model=model).run()
    return time.perf_counter() - t0


def _saelens(acts: torch.Tensor, arch: str, d_sae: int, k: int, batch: int) -> float:
    from sae_lens import SAETrainer as SLTrainer
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

    d_in = acts.shape[1]
    if arch == "topk":
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k))
    else:
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(d_in=d_in, d_sae=d_sae, l1_coefficient=5.0))
    cfg = SAETrainerConfig(total_training_samples=len(acts), train_batch_size_samples=batch, lr=4e-4, lr_end=4e-4,
                           n_batches_for_norm_estimate=4)
    provider = (acts[i : i + batch] for i in range(0, len(acts), batch))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SLTrainer(cfg, sae, iter(_cycle(provider, acts, batch))).fit()
    return time.perf_counter() - t0


def _cycle(first, acts, batch):
    yield from first
    while True:  # norm estimation consumes a few batches first; keep serving
        yield from (acts[i : i + batch] for i in range(0, len(acts), batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="runs/quickstart/model")
    parser.add_argument("--hook", default="blocks.1.hook_resid_pre")
    parser.add_argument("--rows", type=int, default=262_144)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--expansion", type=int, default=16)
    parser.add_argument("--k", type=int, default=32)
    args = parser.parse_args()
    import interp
    from interp.models.loading import run_data

    if not Path(args.run_dir).exists():
        from interp.app.examples import example_run

        args.run_dir = str(example_run("tiny"))
        print(f"no quickstart run found: using the tiny example model {args.run_dir}")
    torch.manual_seed(0)
    model = interp.load(args.run_dir, device="cpu")
    data = run_data(args.run_dir)
    with tempfile.TemporaryDirectory(prefix="bench-sae-") as tmp:  # cached activations: hundreds of MB
        _run(args, model, data, Path(tmp))


def _run(args: argparse.Namespace, model, data, work: Path) -> None:
    from interp.analysis.activations import cache_activations
    from interp.analysis.activations.cache import read_shard

    cache = work / "cache"
    cache_activations(model, data, args.hook, args.rows + args.rows // 8, str(cache), progress=False)
    acts = torch.cat([read_shard(p, [args.hook])[args.hook] for p in sorted(cache.glob("shard_*"))])[: args.rows]
    d_in = acts.shape[1]
    d_sae = args.expansion * d_in
    print(f"{len(acts):,} activations of {args.hook} (d_in={d_in}), d_sae={d_sae}, k={args.k}, batch={args.batch}; "
          f"model {args.run_dir}")

    times = {}
    for arch in ("standard", "topk"):
        spec = [{"name": arch, "hook": args.hook, "architecture": arch, "k": args.k, "expansion": args.expansion}]
        times[f"ours_{arch}"] = _ours(args.run_dir, str(cache), model, spec, args.rows, args.batch, work / arch)
        times[f"saelens_{arch}"] = _saelens(acts, arch, d_sae, args.k, args.batch)
        print(f"{arch}: ours {times[f'ours_{arch}']:.2f}s, SAELens {times[f'saelens_{arch}']:.2f}s")

    ks = (8, 16, 32, 64)
    many = [{"name": f"k{k}", "hook": args.hook, "architecture": "topk", "k": k, "expansion": args.expansion}
            for k in ks]
    rows = args.rows // 4
    t_one = _ours(args.run_dir, None, model, many, rows, args.batch, work / "four")
    t_sep = sum(_ours(args.run_dir, None, model, [s], rows, args.batch, work / s["name"]) for s in many)
    print(f"four TopK SAEs on {rows:,} on-the-fly activations: one pass {t_one:.2f}s, four runs {t_sep:.2f}s")

    # MFU of the standard SAE step, counting the FLOPs of the dense formulation (encoder and decoder matmuls,
    # forward and backward: 12 * batch * d_in * d_sae). Ours skips inactive features once training has made them
    # sparse, so its dense-equivalent rate can pass the machine's matmul rate (U > 1); SAELens' cannot.
    steps = args.rows // args.batch
    flops = 12 * args.batch * d_in * d_sae * steps
    peak = matmul_gflops(m=args.batch, k=d_in, n=d_sae)
    mfu = flops / times["ours_standard"] / 1e9 / peak
    print(f"standard SAE, dense-equivalent rate: ours {flops / times['ours_standard'] / 1e9:.1f} GFLOP/s, SAELens "
          f"{flops / times['saelens_standard'] / 1e9:.1f} GFLOP/s; measured fp32 matmul rate {peak:.1f} GFLOP/s")
    print(f"machine: {machine()}")
    print(f"standard_vs_saelens={times['saelens_standard'] / times['ours_standard']:.2f} "
          f"topk_vs_saelens={times['saelens_topk'] / times['ours_topk']:.2f} four_in_one_pass={t_sep / t_one:.2f} "
          f"mfu={mfu:.2f}")


if __name__ == "__main__":
    main()

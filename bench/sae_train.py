"""SAE training speed: this workbench against SAELens' trainer, in one run, on the same cached activations.

1. Standard (ReLU + L1) and TopK SAEs, same activations, width, k, batch, lr and number of steps, trained by
   ``saes.train`` (from an ``interp cache`` directory) and by ``sae_lens.SAETrainer`` (fed the same rows).
2. Four TopK SAEs (k = 8, 16, 32, 64) on one hook from one pass of the model against four separate runs (each
   computing its own activations on the fly, as without a cache).
3. MFU of our standard SAE step: the dense formulation's matmul FLOPs per second over the measured fp32 matmul
   rate (above 1 when the sparse kernels skip inactive features).
4. sparsify (EleutherAI, PyPI ``eai-sparsify``): a TopK SAE on ``--hook`` and a TopK transcoder
   (``blocks.L.ln2.hook_normalized`` -> ``blocks.L.hook_mlp_out``, L = ``--transcoder-layer``), ours against
   sparsify's ``SparseCoder`` driven step by step as its ``Trainer`` drives it (its fused TopK encoder, sparse
   decoder, FVU loss, decoder-norm handling, dead-latent bookkeeping and optimizer). Its ``Trainer`` only takes
   a Hugging Face model and hooks it, so the loop is rebuilt here around the same batches our trainer reads (the
   same store, seed and shuffle: identical rows, in the same order). Both sides: same width, k, batch and steps;
   Adam at ``--lr``, no warm-up, linear decay to 0 (sparsify's Adam schedule; ours with ``decay_start=0``), or
   with ``--sparsify-optimizer signum`` sparsify's default (schedule-free signSGD at its own lr). Timed: the
   training loop only (ours from its cache, with its construction and final save; sparsify from batches held in
   memory). FVU: 1 - explained variance of the hook's (or MLP output's) raw activations on ``--heldout`` rows
   served after the training rows (never trained on), computed by this script the same way for both.

Last line: ``standard_vs_saelens=R1 topk_vs_saelens=R2 four_in_one_pass=R3 mfu=U topk_vs_sparsify=R4
topk_fvu_ours=.. topk_fvu_sparsify=.. transcoder_vs_sparsify=R5 transcoder_fvu_ours=.. transcoder_fvu_sparsify=..``
(R = the peer's seconds / ours); ``--only saelens`` (1-3) or ``--only sparsify`` (4) prints only its own keys.

    python bench/sae_train.py --run-dir runs/quickstart/model
    python bench/sae_train.py --only sparsify --rows 8192 --batch 1024     # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, matmul_gflops  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _ours(run_dir: str, cache: str | None, model, saes: list[dict], rows: int, batch: int, out: Path,
          lr: float = 4e-4, decay_start: float = 1.0, device: str = "cpu", init_from_data: bool = True) -> float:
    from saes.train import SAETrainer
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig(run_dir=run_dir, cache_dir=cache or "", out_dir=str(out), saes=saes, n_tokens=rows,
                         batch_size=batch, lr=lr, progress=False, ckpt_interval=10**9, buffer_size=4 * batch,
                         overwrite=True, warmup_steps=0, decay_start=decay_start, device=device,
                         init_from_data=init_from_data,
                         sparsity_warmup_steps=0)  # decay_start=1: constant lr, as SAELens
    t0 = time.perf_counter()
    SAETrainer(cfg, model=model).run()
    _sync(device)
    return time.perf_counter() - t0


def _saelens(acts: torch.Tensor, arch: str, d_sae: int, k: int, batch: int, device: str = "cpu") -> float:
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
                           n_batches_for_norm_estimate=4, device=device)
    sae.to(device)
    acts = acts.to(device)
    provider = (acts[i : i + batch] for i in range(0, len(acts), batch))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        SLTrainer(cfg, sae, iter(_cycle(provider, acts, batch))).fit()
    _sync(device)
    return time.perf_counter() - t0


def _cycle(first, acts, batch):
    yield from first
    while True:  # norm estimation consumes a few batches first; keep serving
        yield from (acts[i : i + batch] for i in range(0, len(acts), batch))


def _store_batches(cache: Path, model, hooks: list[str], batch: int, steps: int, heldout: int
                   ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """The ``steps`` batches our trainer reads from ``cache`` (its store, seed, buffer and BOS exclusion: the same
    rows in the same order), and the next ``heldout`` rows (served after them: never trained on)."""
    from interp.analysis.activations.store import ActivationStore

    store = ActivationStore.from_cache(cache, sorted(hooks), batch_size=batch, buffer_size=4 * batch, seed=0,
                                       model=model, exclude_bos=True)  # as saes.train.SAETrainer._store
    train = [next(store) for _ in range(steps)]
    rest: list[dict[str, torch.Tensor]] = []
    while sum(len(b[hooks[0]]) for b in rest) < heldout:
        rest.append(next(store))
    held = {h: torch.cat([b[h] for b in rest])[:heldout] for h in hooks}
    return train, held


def _fvu(predict, x: torch.Tensor, y: torch.Tensor, chunk: int = 8192, device: str = "cpu") -> float:
    """1 - explained variance of ``y`` by ``predict(x)`` over all rows (one number for the whole held-out set)."""
    with torch.no_grad():
        err = sum(float((predict(x[i : i + chunk].to(device)).cpu() - y[i : i + chunk]).pow(2).sum())
                  for i in range(0, len(x), chunk))
    return err / float((y - y.mean(0)).pow(2).sum())


def _sparsify(batches: list[dict[str, torch.Tensor]], hook_in: str, hook_out: str | None, expansion: int, k: int,
              lr: float, optimizer: str, device: str = "cpu") -> tuple[float, object]:
    """sparsify's ``SparseCoder`` trained on ``batches`` the way its ``Trainer.fit`` trains it (loss_fn="fvu",
    grad_acc_steps = micro_acc_steps = 1, auxk_alpha 0, no k decay: its defaults), fed batches instead of a hooked
    HF model. Returns (seconds, the coder ready for inference)."""
    from sparsify import SparseCoder, SparseCoderConfig
    from sparsify.sign_sgd import SignSGD
    from transformers import get_linear_schedule_with_warmup

    transcode = hook_out is not None
    prev_precision = torch.get_float32_matmul_precision()
    t0 = time.perf_counter()
    torch.set_float32_matmul_precision("high")  # as Trainer.fit
    torch.manual_seed(0)  # its init_seeds=[0]
    d_in = batches[0][hook_in].shape[1]
    coder = SparseCoder(d_in, SparseCoderConfig(expansion_factor=expansion, k=k, transcode=transcode),
                        device, dtype=torch.float32)
    schedulers = []
    if optimizer == "adam":  # torch Adam (bitsandbytes absent), its linear schedule, warm-up set to ours (0)
        opt = torch.optim.Adam([dict(params=coder.parameters(), lr=lr)])
        schedulers = [get_linear_schedule_with_warmup(opt, 0, len(batches))]
    else:  # its default: schedule-free signSGD at its width-scaled lr
        from schedulefree import ScheduleFreeWrapper

        opt = ScheduleFreeWrapper(SignSGD([dict(params=coder.parameters(),
                                                lr=5e-3 / (coder.num_latents / 2**14) ** 0.5)]), momentum=0.95)
        opt.train()
    since_fired = torch.zeros(coder.num_latents, dtype=torch.long, device=device)
    did_fire = torch.zeros(coder.num_latents, dtype=torch.bool, device=device)
    for step, batch in enumerate(batches):
        x = batch[hook_in].to(device, non_blocking=True)
        y = batch[hook_out].to(device, non_blocking=True) if transcode else x
        if step == 0:  # centre the pre-activations at initialisation, as its forward hook does
            if transcode:
                coder.encoder.bias.data = -x.mean(0) @ coder.encoder.weight.data.T
            coder.b_dec.data = y.mean(0)
        if coder.cfg.normalize_decoder and not transcode:
            coder.set_decoder_norm_to_unit_norm()
        total_variance = (y - y.mean(0)).pow(2).sum()
        out = coder(x=x, y=y, dead_mask=None, total_variance=total_variance)
        did_fire[out.latent_indices.flatten()] = True
        float(out.fvu.detach())  # its running average of the FVU (a host sync per step)
        (out.fvu + 0.0 * out.auxk_loss + out.multi_topk_fvu / 8).backward()
        if coder.cfg.normalize_decoder and not transcode:
            coder.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad()
        for scheduler in schedulers:
            scheduler.step()
        with torch.no_grad():
            since_fired += len(x)
            since_fired[did_fire] = 0
            did_fire.zero_()
    _sync(device)
    seconds = time.perf_counter() - t0
    torch.set_float32_matmul_precision(prev_precision)
    if optimizer != "adam":
        opt.eval()  # schedule-free: the averaged weights are the ones to use (its save does the same)
    if coder.cfg.normalize_decoder and not transcode:
        coder.set_decoder_norm_to_unit_norm()  # its next step would apply this before any forward
    return seconds, coder


def _vs_sparsify(args: argparse.Namespace, model, cache: Path, work: Path) -> dict[str, float]:
    from saes.format import load_sae

    steps = args.rows // args.batch
    tc_in, tc_out = f"blocks.{args.transcoder_layer}.ln2.hook_normalized", f"blocks.{args.transcoder_layer}.hook_mlp_out"
    res: dict[str, float] = {}
    for kind, hook_in, hook_out in (("topk", args.hook, None), ("transcoder", tc_in, tc_out)):
        hooks = [hook_in] + ([hook_out] if hook_out else [])
        batches, held = _store_batches(cache, model, hooks, args.batch, steps, args.heldout)
        spec = {"name": kind, "hook": hook_in, "hook_out": hook_out, "architecture": "topk", "k": args.k,
                "expansion": args.expansion}
        t_ours = t_theirs = float("inf")
        for _ in range(args.repeats):  # alternating, the best of each side (the machine is shared and noisy)
            t_ours = min(t_ours, _ours(args.run_dir, str(cache), model, [spec], args.rows, args.batch,
                                       work / f"sp-{kind}", lr=args.lr, decay_start=0.0, device=args.device))
            t, coder = _sparsify(batches, hook_in, hook_out, args.expansion, args.k, args.lr, args.sparsify_optimizer,
                                 args.device)
            t_theirs = min(t_theirs, t)
        ours = load_sae(work / f"sp-{kind}" / kind)  # the saved SAE: raw-activation units (scaling folded in)
        target = held[hook_out] if hook_out else held[hook_in]
        fvu_ours = _fvu(ours, held[hook_in], target)
        fvu_theirs = _fvu(lambda x, c=coder: c.decode(*c.encode(x)[:2]), held[hook_in], target, device=args.device)
        print(f"{kind} vs sparsify ({hook_in}{' -> ' + hook_out if hook_out else ''}, {steps} steps, "
              f"{args.sparsify_optimizer}): ours {t_ours:.2f}s FVU {fvu_ours:.4f}, sparsify {t_theirs:.2f}s FVU "
              f"{fvu_theirs:.4f} ({len(target):,} held-out rows)")
        res.update({f"{kind}_vs_sparsify": t_theirs / t_ours, f"{kind}_fvu_ours": fvu_ours,
                    f"{kind}_fvu_sparsify": fvu_theirs})
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="runs/quickstart/model")
    parser.add_argument("--hook", default="blocks.1.hook_resid_pre")
    parser.add_argument("--rows", type=int, default=262_144)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--expansion", type=int, default=16)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--only", choices=["all", "saelens", "sparsify"], default="all",
                        help="saelens: parts 1-3 only; sparsify: part 4 only")
    parser.add_argument("--transcoder-layer", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda: every side (model, ours, SAELens, sparsify) "
                        "runs there; the mfu key is measured on the CPU only")
    parser.add_argument("--lr", type=float, default=4e-4, help="Adam lr of both sides against sparsify")
    parser.add_argument("--sparsify-optimizer", choices=["adam", "signum"], default="adam",
                        help="adam: ours' optimizer and lr on both sides; signum: sparsify's default recipe")
    parser.add_argument("--heldout", type=int, default=32_768, help="held-out rows for the FVU against sparsify")
    parser.add_argument("--repeats", type=int, default=1, help="against sparsify: best time of this many runs a side")
    args = parser.parse_args()
    if args.only != "saelens" and importlib.util.find_spec("sparsify") is None:
        sys.exit("sparsify is not installed: .venv/bin/pip install eai-sparsify==1.3.3 (or run --only saelens)")
    import interp
    from interp.models.loading import run_data

    if not Path(args.run_dir).exists():
        from interp.app.examples import example_run

        args.run_dir = str(example_run("tiny"))
        print(f"no quickstart run found: using the tiny example model {args.run_dir}")
    torch.manual_seed(0)
    model = interp.load(args.run_dir, device=args.device)
    data = run_data(args.run_dir)
    with tempfile.TemporaryDirectory(prefix="bench-sae-") as tmp:  # cached activations: hundreds of MB
        _run(args, model, data, Path(tmp))


def _run(args: argparse.Namespace, model, data, work: Path) -> None:
    from interp.analysis.activations import cache_activations
    from interp.analysis.activations.cache import read_shard

    cache = work / "cache"
    hooks, n_cache = [args.hook], args.rows + args.rows // 8
    if args.only != "saelens":  # the transcoder's pair too; rows for the BOS exclusion, the buffer and held-out rows
        layer = args.transcoder_layer
        hooks += [f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"]
        ctx = model.cfg.n_ctx
        n_cache = max(n_cache, -(-(args.rows + 4 * args.batch + args.heldout) * ctx // (ctx - 1)) + 2 * ctx)
    cache_activations(model, data, hooks, n_cache, str(cache), progress=False)
    if args.only == "sparsify":
        _finish(args, {}, _vs_sparsify(args, model, cache, work))
        return
    acts = torch.cat([read_shard(p, [args.hook])[args.hook] for p in sorted(cache.glob("shard_*"))])[: args.rows]
    d_in = acts.shape[1]
    d_sae = args.expansion * d_in
    print(f"{len(acts):,} activations of {args.hook} (d_in={d_in}), d_sae={d_sae}, k={args.k}, batch={args.batch}; "
          f"model {args.run_dir}")

    times = {}
    for arch in ("standard", "topk"):
        spec = [{"name": arch, "hook": args.hook, "architecture": arch, "k": args.k, "expansion": args.expansion}]
        times[f"ours_{arch}"] = _ours(args.run_dir, str(cache), model, spec, args.rows, args.batch, work / arch,
                                      device=args.device, init_from_data=False)  # SAELens' start: zero biases
        times[f"saelens_{arch}"] = _saelens(acts, arch, d_sae, args.k, args.batch, args.device)
        print(f"{arch}: ours {times[f'ours_{arch}']:.2f}s, SAELens {times[f'saelens_{arch}']:.2f}s")

    ks = (8, 16, 32, 64)
    many = [{"name": f"k{k}", "hook": args.hook, "architecture": "topk", "k": k, "expansion": args.expansion}
            for k in ks]
    rows = args.rows // 4
    t_one = _ours(args.run_dir, None, model, many, rows, args.batch, work / "four", device=args.device)
    t_sep = sum(_ours(args.run_dir, None, model, [s], rows, args.batch, work / s["name"], device=args.device)
                for s in many)
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
    keys = {"standard_vs_saelens": times["saelens_standard"] / times["ours_standard"],
            "topk_vs_saelens": times["saelens_topk"] / times["ours_topk"], "four_in_one_pass": t_sep / t_one}
    if args.device == "cpu":  # the peak is a CPU matmul's (bench/sae_scaling.py measures a GPU's)
        keys["mfu"] = mfu
    _finish(args, keys, _vs_sparsify(args, model, cache, work) if args.only == "all" else {})


def _finish(args: argparse.Namespace, keys: dict[str, float], vs_sparsify: dict[str, float]) -> None:
    print(f"machine: {machine()}, {torch.get_num_threads()} threads")
    line = [f"{k}={v:.2f}" for k, v in keys.items()]
    line += [f"{k}={v:.4f}" if "_fvu_" in k else f"{k}={v:.2f}" for k, v in vs_sparsify.items()]
    print(" ".join(line))


if __name__ == "__main__":
    main()

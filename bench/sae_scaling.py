"""SAE training throughput over several processes (``torchrun``, issue 22), and on a GPU against its matmul peak.

CPU (gloo), on one cached hook of the model (``interp cache``; reused from ``--cache-root`` when a large enough one
is there), TopK SAEs of ``--expansion`` x d_in features, batch ``--batch``:

1. one SAE, one process with ``--procs`` threads (all the cores the multi-process runs use), and with 1 thread;
2. the same SAE data-parallel: ``--procs`` processes of 1 thread each (``--distribute data``);
3. four SAEs (k = 8, 64, 16, 32 on the hook: one activation pass) in one process with ``--procs`` threads, against
   ``--distribute modules`` over ``--procs`` processes of 1 thread (each rank trains whole SAEs; the k are ordered
   so that both ranks of 2 get a small and a large one).

GPU (when ``torch.cuda.is_available()``; ``--only gpu`` for that part alone): one TopK SAE in one process on
``cuda`` at ``--gpu-expansion`` and ``--gpu-batch``; the FLOP/s of its step (the time within ``train_step``,
synchronised: the batch's copy to the GPU, forward, backward, Adam; not the store's CPU time) against the fp32
matmul rate measured on the same GPU (the trainer runs in fp32 without TF32, so the fp32 rate is its ceiling).
FLOPs: the dense-equivalent 12 * d_in * d_sae a row (bench/sae_train.py's ``mfu`` convention: encoder and decoder
matmuls, forward and backward); ``gpu_mfu`` over the rate of a large square product, ``gpu_mfu_shape`` over that
of a dense product of the encoder's shape (batch x d_in x d_sae), the best a dense step of this size could reach.
Both can exceed 1: the TopK kernels skip most of the work the dense count includes (only the encoder's forward
product is dense). With 2 GPUs or more, also the same SAE data-parallel over 2 GPUs (nccl). ``--device cpu`` runs
this part on the CPU: the plumbing check of ``bench/gpu_check.py --smoke``.

Every run is ``train_saes`` from a config, as ``torchrun -m interp.app.cli train-sae --config C --cache-dir D
--distribute data|modules`` runs it, started by this script as its own ``--worker`` (under
``python -m torch.distributed.run --standalone`` for several processes) so that it can time the steps: tokens/s
(rows of activations a second; with four SAEs, each row trains all four) is measured on every rank between the
end of step ``--skip-steps`` and the end of the last step, the slowest rank's counting, so process start-up,
model loading, the first fill of the shuffle buffer, warm-up and the final save are left out. Printed beside it:
the rate within ``train_step`` alone (without the store's time) and the whole loop's (``train_saes``'s timer).

Last line: ``tokens_per_s_1proc=.. tokens_per_s_1proc_1thread=.. tokens_per_s_2proc_data=.. data_speedup=..
four_saes_1proc=.. four_saes_2proc_modules=.. modules_speedup=..`` (speedups against one process with as many
threads; ``2`` is ``--procs``), then on a GPU ``gpu_tokens_per_s=.. gpu_step_tokens_per_s=.. gpu_tflops=..
gpu_peak_tflops=.. gpu_mfu=.. gpu_mfu_shape=..`` (and ``gpu_2_data_speedup=..`` with two GPUs).

    python bench/sae_scaling.py --repeats 2          # the full CPU measurement: ~4 minutes on 2 quiet cores
    python bench/sae_scaling.py --rows 65536 --skip-steps 3          # a quick look (~1 minute)
    python bench/sae_scaling.py --only gpu --run-dir /tmp/gpu-check/quickstart/model     # on a GPU (gpu_check.py)

A multi-threaded run on cores that another process also uses slows down many times over (each parallel op waits
for a descheduled thread): measure on a quiet machine; the script warns when other processes keep cores busy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _common import machine  # noqa: E402

FOUR_KS = (8, 64, 16, 32)  # --distribute modules over 2 ranks: {8, 64} and {16, 32}


# -- the worker: one training run, its step times ---------------------------------------------------------------
def _worker(config: Path, threads: int, skip: int) -> None:
    """``train_saes`` from ``config`` (as ``interp train-sae --config``), timing each step; each rank writes its
    figures beside ``config`` (CONFIG.rankR.json)."""
    torch.set_num_threads(threads)
    from interp.training.distributed import DistInfo, teardown_distributed
    from saes.train import SAETrainer, train_saes
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig.from_dict(json.loads(config.read_text()))
    starts: list[float] = []
    ends: list[float] = []
    step = SAETrainer.train_step
    dev = torch.device(cfg.device if cfg.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu")

    def timed(self, batch):
        starts.append(time.perf_counter())
        logs = step(self, batch)
        if dev.type == "cuda":
            torch.cuda.synchronize(self.device)  # the optimizer step is queued after the metrics' host sync
        ends.append(time.perf_counter())
        return logs

    SAETrainer.train_step = timed
    result = train_saes(cfg)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        teardown_distributed(DistInfo(rank, world, int(os.environ.get("LOCAL_RANK", "0"))))
    skip = min(skip, len(ends) - 2)
    if skip < 0:
        raise SystemExit(f"only {len(ends)} steps ran: train on more rows to time them")
    timed_rows = (len(ends) - 1 - skip) * cfg.batch_size
    in_steps = sum(e - s for s, e in zip(starts[skip + 1 :], ends[skip + 1 :], strict=True))
    figures = {"rank": rank, "tokens_per_s": timed_rows / (ends[-1] - ends[skip]),
               "step_tokens_per_s": timed_rows / in_steps, "steps": result.steps, "rows": result.rows,
               "loop_s": result.seconds, "loop_tokens_per_s": result.rows / result.seconds,
               "fvu": {k: v["fvu"] for k, v in result.final.items()}}
    config.with_name(f"{config.stem}.rank{rank}.json").write_text(json.dumps(figures))


def _train(args: argparse.Namespace, work: Path, name: str, saes: list[dict], *, procs: int, threads: int,
           device: str, distribute: str = "data", rows: int, batch: int, cache: Path, run_dir: str) -> dict:
    """One training run in fresh processes (``procs`` of ``threads`` threads each): the worker's JSON."""
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig(run_dir=run_dir, cache_dir=str(cache), out_dir=str(work / name), saes=saes, n_tokens=rows,
                         batch_size=batch, progress=False, ckpt_interval=10**9, buffer_size=4 * batch,
                         overwrite=True, device=device, distribute=distribute)
    path = work / f"{name}.json"
    path.write_text(json.dumps(cfg.to_dict()))
    me = [str(Path(__file__).resolve()), "--worker", str(path), "--threads", str(threads),
          "--skip-steps", str(args.skip_steps)]
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), *me]
           if procs > 1 else [sys.executable, *me])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode:
        raise RuntimeError(f"{name} failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    ranks = [json.loads(f.read_text()) for f in sorted(work.glob(f"{name}.rank*.json"))]
    if len(ranks) != procs:
        raise RuntimeError(f"{name}: {len(ranks)} of {procs} ranks reported:\n{proc.stdout[-2000:]}")
    # the slowest rank's rate (module-parallel ranks only meet every log_interval steps; data-parallel ones every step)
    res = min(ranks, key=lambda r: r["tokens_per_s"])
    res["fvu"] = next(r for r in ranks if r["rank"] == 0)["fvu"]
    fvu = " ".join(f"{k} {v:.3f}" for k, v in res["fvu"].items())
    print(f"  {name:<30} {res['tokens_per_s']:>9,.0f} tokens/s  (in train_step {res['step_tokens_per_s']:,.0f}, "
          f"whole loop {res['loop_tokens_per_s']:,.0f}; {res['steps']} steps, {res['loop_s']:.1f} s; fvu {fvu})",
          flush=True)
    return res


# -- the activation cache --------------------------------------------------------------------------------------
def _cache(args: argparse.Namespace, run_dir: str, hooks: list[str], rows: int, batch: int, device: str) -> Path:
    """A complete ``interp cache`` of ``hooks`` with at least the rows a run of ``rows`` reads (BOS rows excluded,
    the shuffle buffer's first fill): an existing one under ``--cache-root`` if large enough, else a new one."""
    from interp.analysis.activations.manifest import read_meta
    from interp.models.loading import run_data

    ctx = json.loads((Path(run_dir) / "model_config.json").read_text())["n_ctx"]
    windows = -(-(rows + 5 * batch) // (ctx - 1)) + 2  # whole context windows; their BOS rows are not served
    n_tokens = windows * ctx
    where = hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{Path(run_dir).resolve().parent.name}-{where}-{'-'.join(hooks)}").strip("-")
    root = Path(args.cache_root)
    for old in sorted(root.glob(f"{slug}-*"), key=lambda p: int(p.name.rsplit("-", 1)[1])):
        meta = read_meta(old) or {}
        if meta.get("complete") and meta.get("n_rows", 0) >= n_tokens and set(hooks) <= set(meta.get("hooks", [])):
            print(f"activations: {old} (reused, {meta['n_rows']:,} rows)")
            return old
    out = root / f"{slug}-{n_tokens}"
    data = run_data(run_dir).path  # the training split: the validation split of small runs is too short
    cmd = [sys.executable, "-m", "interp.app.cli", "cache", run_dir, "--hooks", ",".join(hooks), "--n-tokens",
           str(n_tokens), "--out-dir", str(out), "--data-dir", str(data), "--device", device, "--batch-size", "64"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"interp cache failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    meta = read_meta(out) or {}
    if meta.get("n_rows", 0) < n_tokens:
        raise RuntimeError(f"{data} holds only {meta.get('n_rows', 0):,} tokens; {n_tokens:,} are needed for "
                           f"--rows {rows}: train on fewer rows or give a run with more data.")
    print(f"activations: {out} ({meta['n_rows']:,} rows of {', '.join(hooks)}, {time.perf_counter() - t0:.0f} s)")
    return out


# -- the two parts ---------------------------------------------------------------------------------------------
def _busy_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes over ``seconds`` (from /proc/stat; the load average where there is none)."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except OSError:
        return os.getloadavg()[0]
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))


def _cpu(args: argparse.Namespace, run_dir: str, work: Path) -> dict[str, float]:
    cache = _cache(args, run_dir, [args.hook], args.rows, args.batch, "cpu")
    n = args.procs
    one = [{"name": "sae", "hook": args.hook, "architecture": "topk", "k": args.k, "expansion": args.expansion}]
    four = [{"name": f"k{k}", "hook": args.hook, "architecture": "topk", "k": k, "expansion": args.expansion}
            for k in FOUR_KS]
    kw = dict(device="cpu", rows=args.rows, batch=args.batch, cache=cache, run_dir=run_dir)
    four_kw = {**kw, "rows": args.four_rows or args.rows}
    runs = {  # key: (saes, processes, threads each, mode, options)
        "tokens_per_s_1proc": (one, 1, n, "data", kw),
        "tokens_per_s_1proc_1thread": (one, 1, 1, "data", kw),
        f"tokens_per_s_{n}proc_data": (one, n, 1, "data", kw),
        "four_saes_1proc": (four, 1, n, "data", four_kw),
        f"four_saes_{n}proc_modules": (four, n, 1, "modules", four_kw),
    }
    print(f"CPU: {args.rows:,} rows of {args.hook}, TopK k={args.k}, d_sae={args.expansion} x d_in, batch "
          f"{args.batch}; {n} processes x 1 thread against 1 process x {n} threads; best of {args.repeats}")
    busy = _busy_cores()
    if busy > 0.3:  # another process on the cores: every run of several threads or processes waits for it
        print(f"warning: {busy:.1f} cores busy before the runs: other processes share the cores, and runs of "
              f"{n} threads or processes slow down far more than single-threaded ones; measure on a quiet machine")
    best: dict[str, float] = {}
    for r in range(args.repeats):  # alternating, the best of each (the machine is shared and noisy)
        for key, (saes, procs, threads, mode, opts) in runs.items():
            res = _train(args, work, f"{key}-{r}", saes, procs=procs, threads=threads, distribute=mode, **opts)
            best[key] = max(best.get(key, 0.0), res["tokens_per_s"])
    best["data_speedup"] = best[f"tokens_per_s_{n}proc_data"] / best["tokens_per_s_1proc"]
    best["modules_speedup"] = best[f"four_saes_{n}proc_modules"] / best["four_saes_1proc"]
    return best


def _matmul_tflops(device: str, m: int, k: int, n: int, seconds: float = 1.0) -> float:
    """fp32 matmul rate (TFLOP/s) of an (m x k) @ (k x n) product on ``device``, at the current precision."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            a @ b
        sync()
        count += 10
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e12


def _gpu(args: argparse.Namespace, run_dir: str, work: Path) -> dict[str, float]:
    from interp.analysis.activations.manifest import read_meta

    device, batch, rows = args.device, args.gpu_batch, args.gpu_rows
    cache = _cache(args, run_dir, [args.hook], rows, batch, device)
    d_in = read_meta(cache)["widths"][args.hook]
    d_sae = args.gpu_expansion * d_in
    one = [{"name": "sae", "hook": args.hook, "architecture": "topk", "k": args.k, "expansion": args.gpu_expansion}]
    kw = dict(rows=rows, batch=batch, cache=cache, run_dir=run_dir, threads=args.gpu_threads, device=device)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    print(f"{device} ({name}): {rows:,} rows, TopK k={args.k}, d_in={d_in}, d_sae={d_sae}, batch {batch}")
    res = _train(args, work, "gpu-1", one, procs=1, **kw)
    flops = 12 * d_in * d_sae  # a row's dense-equivalent FLOPs a step (bench/sae_train.py's mfu convention)
    tflops = flops * res["step_tokens_per_s"] / 1e12  # within train_step: the SAE step without the store's time
    big = 8192 if device.startswith("cuda") else 1024
    peak = _matmul_tflops(device, big, big, big)
    shape = _matmul_tflops(device, batch, d_in, d_sae)
    print(f"  the SAE step: {tflops:.2f} TFLOP/s dense-equivalent ({flops * res['tokens_per_s'] / 1e12:.2f} with the "
          f"store's time); fp32 matmul {peak:.2f} TFLOP/s ({big}^3), {shape:.2f} TFLOP/s ({batch} x {d_in} x {d_sae}); "
          f"float32 matmul precision {torch.get_float32_matmul_precision()!r}")
    out = {"gpu_tokens_per_s": res["tokens_per_s"], "gpu_step_tokens_per_s": res["step_tokens_per_s"],
           "gpu_tflops": tflops, "gpu_peak_tflops": peak, "gpu_mfu": tflops / peak, "gpu_mfu_shape": tflops / shape}
    if device.startswith("cuda") and torch.cuda.device_count() >= 2:
        two = _train(args, work, "gpu-2-data", one, procs=2, distribute="data", **kw)
        out["gpu_2_data_speedup"] = two["tokens_per_s"] / res["tokens_per_s"]
    elif device.startswith("cuda"):
        print("  one GPU: no data-parallel run over 2 GPUs")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/quickstart/model",
                   help="the model (the tiny example model, trained on first use, when this does not exist)")
    p.add_argument("--hook", default="blocks.1.hook_resid_pre", help="the hook every SAE reads")
    p.add_argument("--only", choices=["all", "cpu", "gpu"], default="all",
                   help="all: the CPU runs, then the GPU part when CUDA is available; cpu or gpu: that part alone")
    p.add_argument("--procs", type=int, default=2, help="processes of the multi-process runs (1 thread each)")
    p.add_argument("--rows", type=int, default=262_144, help="activations each CPU run of one SAE trains on")
    p.add_argument("--four-rows", type=int, default=0,
                   help="activations of the four-SAE CPU runs (0: --rows; fewer keeps them as long as one SAE's)")
    p.add_argument("--batch", type=int, default=4096, help="activations per step (a multiple of --procs)")
    p.add_argument("--expansion", type=int, default=16, help="d_sae / d_in of the CPU runs")
    p.add_argument("--k", type=int, default=32, help="active features of the single SAE")
    p.add_argument("--skip-steps", type=int, default=5,
                   help="steps left out of the timing at the start of each run (allocation, warm-up)")
    p.add_argument("--repeats", type=int, default=1, help="CPU: runs of each setting, alternating; the best counts")
    p.add_argument("--device", default="cuda",
                   help="device of the GPU part (cpu runs its code path on the CPU: a plumbing check)")
    p.add_argument("--gpu-rows", type=int, default=524_288, help="activations of the GPU run")
    p.add_argument("--gpu-batch", type=int, default=8192, help="activations per step of the GPU run")
    p.add_argument("--gpu-expansion", type=int, default=32, help="d_sae / d_in of the GPU run")
    p.add_argument("--gpu-threads", type=int, default=4, help="CPU threads of the GPU run's process")
    p.add_argument("--cache-root", default="runs/bench/sae_scaling",
                   help="where activation caches are written and looked for (a large enough one is reused)")
    p.add_argument("--timeout", type=float, default=900, help="seconds a training run may take before it fails")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        _worker(args.worker, args.threads, args.skip_steps)
        return
    if args.batch % args.procs:
        p.error(f"--batch {args.batch} must be a multiple of --procs {args.procs} (data-parallel ranks split it)")
    cuda = torch.cuda.is_available()
    if args.only == "gpu" and args.device.startswith("cuda") and not cuda:
        sys.exit("--only gpu: no CUDA device is visible (--device cpu runs this part's code path on the CPU)")
    run_dir = args.run_dir
    if not Path(run_dir).exists():
        from interp.app.examples import example_run

        run_dir = str(example_run("tiny"))
        print(f"no model at {args.run_dir}: using the tiny example model {run_dir}")
    keys: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sae-scaling-") as tmp:
        if args.only in ("all", "cpu"):
            keys.update(_cpu(args, run_dir, Path(tmp)))
        if args.only == "gpu" or (args.only == "all" and cuda):
            keys.update(_gpu(args, run_dir, Path(tmp)))
    print(f"machine: {machine()}")
    print(" ".join(f"{k}={v:.0f}" if k.endswith(("tokens_per_s", "_1proc", "_modules", "_data", "_1thread"))
                   else f"{k}={v:.3g}" for k, v in keys.items()))


if __name__ == "__main__":
    main()

"""The one prepared GPU check (issue 16): everything the GPU paths need measured, in one call of <= 10 minutes.

Stages, each in its own process with its own time limit, so one that fails or runs long still leaves the others'
figures:

1. ``throughput``: ``bench/train_throughput.py --device cuda`` (this trainer against a TransformerLens training
   loop and a plain SDPA reference, bf16 autocast for all three).
2. ``quickstart``: ``interp quickstart --device cuda`` (the ``gpu`` preset: 6 layers, d_model 384, 4,000 steps of
   64 x 256 tokens) with its evaluation: minutes, tokens/s and every task's in-distribution and held-out-family score.
3. ``sae_train``: ``bench/sae_train.py --device cuda`` (our SAE trainer against SAELens and sparsify, every side
   on the GPU, on the quickstart's model): its key=value line.
4. ``sae_scaling``: ``bench/sae_scaling.py --only gpu``: one TopK SAE's training tokens/s on the GPU and its
   step's FLOP/s against the measured fp32 matmul peak.
5. ``sae_dist`` (two GPUs or more; skipped with a message on one): SAE training under ``torchrun`` on 2 GPUs
   (nccl), ``interp train-sae --distribute data`` and ``--distribute modules``, against one GPU on the same cached
   activations: the largest weight difference (tests/test_sae_distributed.py's check on CPU: 1e-4), with a
   second one-GPU run as the GPU's own run-to-run difference.
6. ``studies``: the ``studies`` preset's first minutes (``interp train --preset studies`` on the quickstart's corpus):
   tokens/s, so that the full ``interp studies`` run's GPU time can be stated.
7. ``compile``: the same ``studies`` steps with ``--compile`` (``torch.compile``), tokens/s against stage 6.

The whole check keeps to ``--budget`` seconds (570: the device call's 10 minutes less ``gpu.sh``'s installs):
each stage's limit is cut to what is left after the shortest useful time of the stages still to come, and a stage
left less than its own is skipped (recorded as such). A stage's process group is killed at its limit (torchrun's
ranks too). The SAE stages use the quickstart's model, or the tiny example model when it has none.

Results go to ``OUT/gpu_results.json`` (``OUT`` from the environment, as the device tool sets it, else
``bench/gpu-out``), with each stage's log beside it. Run it through ``bench/gpu.sh`` on the device machine, which
installs the wheels that machine lacks first. ``--smoke`` runs every stage on the CPU with a tiny budget: the
plumbing check to run here before spending GPU time (``sae_dist`` then runs two CPU processes over gloo).

    python bench/gpu_check.py --smoke        # here, ~7 minutes: every stage runs and the JSON is written
    bash bench/gpu.sh                        # on a lent GPU
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "interp.app.cli"]
STAGES = ("throughput", "quickstart", "sae_train", "sae_scaling", "sae_dist", "studies", "compile")


def _stage(name: str, cmd: list[str], limit_s: float, out: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd`` with a wall-clock limit (its whole process group killed there: torchrun's ranks too); its output
    goes to ``out/NAME.log``."""
    start = time.time()
    log = out / f"{name}.log"
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        try:
            rc = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            rc = "timeout"
    seconds = round(time.time() - start, 1)
    print(f"[{name}] rc={rc} in {seconds} s", flush=True)
    return {"cmd": " ".join(cmd), "rc": rc, "seconds": seconds, "limit_s": round(limit_s, 1),
            "log_tail": log.read_text()[-1500:]}


def _descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc): torchrun starts its ranks in sessions of their own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_tree(proc: subprocess.Popen) -> None:
    """End a stage at its limit: SIGTERM to its process group (torchrun stops its ranks), then SIGKILL to whatever
    of the group and of its descendants is left."""
    below = _descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class _Budget:
    """The check's deadline: a stage's limit is cut to what is left after the shortest useful time (``floor``)
    of each stage still to come."""

    def __init__(self, seconds: float | None, floors: dict[str, float]) -> None:
        self.end = time.time() + seconds if seconds else None
        self.floors = dict(floors)  # the stages still to come, in order

    def limit(self, name: str, nominal: float) -> float | None:
        """The stage's limit, or None when less than its floor is left (it is skipped)."""
        floor = self.floors.pop(name, 0.0)
        if self.end is None:
            return nominal
        left = self.end - time.time() - sum(self.floors.values())
        return min(nominal, left) if left >= floor else None


def _key_values(text: str) -> dict[str, float | str]:
    """The ``key=value`` pairs of a benchmark's last such line, numbers as floats."""
    pairs = dict(p.split("=", 1) for p in _last_line(text).split() if "=" in p)
    out: dict[str, float | str] = {}
    for k, v in pairs.items():
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def _sae_dist(run_dir: str, device: str, work: Path, result: Path) -> int:
    """``interp train-sae`` on 2 ranks under torchrun (data- and module-parallel) against one process on ``device``:
    the largest weight differences, written to ``result`` (JSON). The settings of tests/test_sae_distributed.py."""
    import shutil

    from saes.format import load_sae

    hooks = ["blocks.1.hook_resid_pre", "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"]
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cache = work / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    res: dict = {"device": device, "run_dir": run_dir, "tolerance_cpu_test": 1e-4}

    def call(name: str, cmd: list[str]) -> None:
        t0 = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        print(f"{name}: rc={proc.returncode} in {time.time() - t0:.1f} s: {' '.join(cmd)}", flush=True)
        if proc.returncode:
            raise RuntimeError(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")

    call("cache", [*CLI, "cache", run_dir, "--hooks", ",".join(hooks), "--n-tokens", "8192", "--out-dir", str(cache),
                   "--device", device])
    base = dict(run_dir=run_dir, cache_dir=str(cache), n_tokens=6144, batch_size=256, lr=2e-3, progress=False,
                buffer_size=2048, ckpt_interval=8, log_interval=4, dead_tokens=1000, device=device,
                saes=[{"name": "sae", "hook": hooks[0], "architecture": "topk", "k": 8, "expansion": 4},
                      {"name": "tc", "hook": hooks[1], "hook_out": hooks[2], "architecture": "topk", "k": 8,
                       "expansion": 4}])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                "interp.app.cli"]
    runs = {"one": [*CLI], "one_again": [*CLI], "data": torchrun, "modules": torchrun}
    for name, launcher in runs.items():
        cfg = work / f"{name}.json"
        cfg.write_text(json.dumps({**base, "out_dir": str(work / name)}))
        mode = ["--distribute", name] if name in ("data", "modules") else []
        call(name, [*launcher, "train-sae", "--config", str(cfg), *mode])

    def worst(a: str, b: str) -> float:
        diffs = []
        for sae in ("sae", "tc"):
            one, two = load_sae(work / a / sae).state_dict(), load_sae(work / b / sae).state_dict()
            diffs += [float((one[k] - two[k]).abs().max()) for k in one]
        return max(diffs)

    res["max_diff_one_rerun"] = worst("one", "one_again")
    for mode in ("data", "modules"):
        res[f"max_diff_{mode}"] = worst("one", mode)
        lines = (work / mode / "metrics.jsonl").read_text().splitlines()
        res[f"{mode}_metrics_rows"] = len(lines)
        res[f"{mode}_metrics_saes"] = sorted(json.loads(lines[-1])["saes"])
    tol = max(1e-4, 10 * res["max_diff_one_rerun"])
    res["tolerance"] = tol
    res["ok"] = (res["max_diff_data"] <= tol and res["max_diff_modules"] <= tol
                 and res["data_metrics_rows"] == 24 // 4 and res["modules_metrics_saes"] == ["sae", "tc"])
    result.write_text(json.dumps(res, indent=2))
    print(" ".join(f"{k}={v:.3g}" for k, v in res.items() if k.startswith("max_diff")) + f" ok={res['ok']}")
    return 0 if res["ok"] else 1


def _tokens_per_s(run_dir: Path, skip_steps: int) -> float | None:
    """Median training tokens/s in ``metrics.jsonl`` after the first ``skip_steps`` (compilation, warm-up)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    tps = sorted(r["tokens_per_s"] for r in rows if "tokens_per_s" in r and r.get("step", 0) > skip_steps)
    return tps[len(tps) // 2] if tps else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if "=" in line]
    return lines[-1] if lines else ""


def _sae_model(qs: Path, out: Path, results: dict, budget: _Budget) -> str:
    """The run the SAE stages train on: the quickstart's model, or the tiny example model (trained in a stage of its
    own) when the quickstart left none."""
    from interp.training.checkpoint import latest_checkpoint

    if latest_checkpoint(qs / "model") is not None:
        return str(qs / "model")
    limit = budget.limit("tiny_model", 120) or 30
    results["tiny_model"] = _stage("tiny_model", [sys.executable, "-c", "from interp.app.examples import example_run; "
                                                  "print(example_run('tiny'))"], limit, out)
    lines = results["tiny_model"]["log_tail"].strip().splitlines()
    return lines[-1] if lines else str(qs / "model")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="run every stage on the CPU with a tiny budget (plumbing)")
    ap.add_argument("--work", default="/tmp/gpu-check", help="scratch folder for the runs (not copied back)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds the whole check may take (default 570 on a GPU, none with --smoke)")
    ap.add_argument("--stages", default=",".join(STAGES),
                    help=f"comma list of the stages to run (default all: {','.join(STAGES)}); a stage that needs the "
                         "quickstart's output falls back as when it failed")
    ap.add_argument("--sae-dist", action="store_true",
                    help="(the sae_dist stage's own process) compare 2-rank torchrun SAE training with one process")
    ap.add_argument("--device", default="cuda", help="with --sae-dist: cuda (nccl) or cpu (gloo)")
    ap.add_argument("--run-dir", default="", help="with --sae-dist: the model")
    ap.add_argument("--result", default="", help="with --sae-dist: the JSON file to write")
    args = ap.parse_args()
    if args.sae_dist:
        return _sae_dist(args.run_dir, args.device, Path(args.work), Path(args.result))
    out = Path(os.environ.get("OUT") or ROOT / "bench" / "gpu-out")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    device = "cpu" if args.smoke else "cuda"
    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA device is visible; run with --smoke for the CPU plumbing check", file=sys.stderr)
        return 2
    small = args.smoke
    n_gpus = torch.cuda.device_count() if device == "cuda" else 0
    dist_runs = small or n_gpus >= 2
    results: dict = {
        "machine": {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                    "gpus": n_gpus, "cpu_count": os.cpu_count(), "smoke": small},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = out / "gpu_results.json"
    # the shortest useful time of each stage, in their order (a stage left less is skipped)
    budget = _Budget(args.budget if args.budget is not None else None if small else 570,
                     {"throughput": 40, "quickstart": 150, "sae_train": 40, "sae_scaling": 30,
                      "sae_dist": 60 if dist_runs else 0, "studies": 30, "compile": 45})

    def save() -> None:
        path.write_text(json.dumps(results, indent=2))

    chosen = set(args.stages.split(","))
    if chosen - set(STAGES):
        ap.error(f"--stages: unknown {sorted(chosen - set(STAGES))}; the stages are {', '.join(STAGES)}")
    for name in set(STAGES) - chosen:
        budget.floors.pop(name, None)

    def stage(name: str, cmd: list[str], nominal: float, env: dict[str, str] | None = None) -> dict:
        limit = budget.limit(name, nominal)
        if name not in chosen:
            results[name] = {"rc": "not chosen (--stages)"}
        elif limit is None:
            print(f"[{name}] skipped: too little of the budget left", flush=True)
            results[name] = {"rc": "skipped (budget)", "cmd": " ".join(cmd)}
        else:
            results[name] = _stage(name, cmd, limit, out, env)
        save()
        return results[name]

    tp = ["--steps", "3", "--warmup", "1", "--rounds", "1"] if small else ["--steps", "40", "--warmup", "10",
                                                                             "--rounds", "2"]
    stage("throughput", [sys.executable, "bench/train_throughput.py", "--device", device, *tp], 400 if small else 80)
    results["throughput"]["ratios"] = _last_line(results["throughput"].get("log_tail", ""))

    qs = work / "quickstart"
    qs_args = (["--preset", "tiny", "--max-steps", "40", "--n-tokens", "200000", "--n-prompts", "20"] if small
               else ["--preset", "gpu"])
    stage("quickstart", [*CLI, "quickstart", "--out-dir", str(qs), "--device", device, "--overwrite", "--no-progress",
                         *qs_args], 300)
    eval_path = qs / "model" / "eval.json"
    results["quickstart"]["tokens_per_s"] = _tokens_per_s(qs / "model", 20) if "quickstart" in chosen else None
    if eval_path.exists() and "quickstart" in chosen:
        results["quickstart"]["eval"] = {k: v for k, v in json.loads(eval_path.read_text()).items() if k != "meta"}
    save()

    # -- SAE training (issue 22) ---------------------------------------------------------------------------------
    sae_run = _sae_model(qs, out, results, budget) if chosen & {"sae_train", "sae_scaling", "sae_dist"} else ""
    results["sae_model"] = sae_run
    probe = (subprocess.run([sys.executable, "-c", "import sparsify"], capture_output=True, text=True, timeout=120)
             if "sae_train" in chosen else subprocess.CompletedProcess([], 0, "", ""))
    sparsify = probe.returncode == 0  # the wheels of gpu_wheels.sh installed and importable
    if not sparsify:
        results["sparsify_import"] = probe.stderr[-1000:]
        print(f"sparsify does not import (bench/sae_train.py --only saelens): {probe.stderr.strip()[-300:]}")
    st_args = ["--run-dir", sae_run, *(["--only", "all"] if sparsify else ["--only", "saelens"])]
    st_args += (["--rows", "8192", "--batch", "1024", "--heldout", "4096"] if small
                else ["--rows", "131072", "--batch", "4096"])
    st_args += ["--device", device]  # every side on the same device
    stage("sae_train", [sys.executable, "bench/sae_train.py", *st_args], 400 if small else 80, None)
    results["sae_train"].update(device=device, sparsify=sparsify,
                                keys=_key_values(results["sae_train"].get("log_tail", "")))

    sc_args = (["--device", "cpu", "--gpu-rows", "8192", "--gpu-batch", "1024", "--gpu-expansion", "4",
                "--skip-steps", "2", "--gpu-threads", "1"] if small else ["--device", "cuda"])
    stage("sae_scaling", [sys.executable, "bench/sae_scaling.py", "--only", "gpu", "--run-dir", sae_run,
                          "--cache-root", str(work / "sae_scaling"), *sc_args], 300 if small else 60)
    results["sae_scaling"]["keys"] = _key_values(results["sae_scaling"].get("log_tail", ""))

    if dist_runs or "sae_dist" not in chosen:
        dist_json = out / "sae_dist.json"
        dist_json.unlink(missing_ok=True)
        stage("sae_dist", [sys.executable, "bench/gpu_check.py", "--sae-dist", "--device", device, "--run-dir", sae_run,
                           "--work", str(work / "sae_dist"), "--result", str(dist_json)], 300 if small else 120)
        if dist_json.exists():
            results["sae_dist"]["result"] = json.loads(dist_json.read_text())
    else:
        print(f"[sae_dist] skipped: {n_gpus} GPU (the 2-rank torchrun check needs two)", flush=True)
        results["sae_dist"] = {"rc": f"skipped ({n_gpus} GPU: the 2-rank check needs two)"}
    save()

    steps = "30" if small else "600"
    preset = ["--preset", "tiny"] if small else ["--preset", "studies"]
    for name, extra in (("studies", []), ("compile", ["--compile"])):
        run = work / name
        stage(name, [*CLI, "train", *preset, "--data-dir", str(qs / "data"), "--out-dir", str(run), "--device", device,
                     "--max-steps", steps, "--batch-size", "32", "--val-interval", "100000", "--ckpt-interval",
                     "100000", "--overwrite", "--no-progress", *extra], 400 if small else 80)
        results[name]["tokens_per_s"] = _tokens_per_s(run, 50 if not small else 5) if name in chosen else None
        save()
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    save()
    print(f"wrote {path}")
    summary = {k: results[k].get("tokens_per_s") for k in ("quickstart", "studies", "compile")}
    sae = {**results["sae_scaling"]["keys"], **results["sae_train"]["keys"]}
    dist = results["sae_dist"].get("result", {})
    print(" ".join(f"{k}_tokens_per_s={v:.0f}" if v else f"{k}_tokens_per_s=nan" for k, v in summary.items())
          + f" {results['throughput']['ratios']} "
          + " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sae.items())
          + (f" sae_dist_ok={dist['ok']}" if dist else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

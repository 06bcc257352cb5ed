"""The one prepared GPU check (issue 16): everything the GPU paths need measured, in one call of <= 10 minutes.

Stages, each in its own process with its own time limit, so one that fails or runs long still leaves the others'
figures:

1. ``throughput``: ``bench/train_throughput.py --device cuda`` (this trainer against a TransformerLens training
   loop and a plain SDPA reference, bf16 autocast for all three).
2. ``quickstart``: ``interp quickstart --device cuda`` (the ``gpu`` preset: 6 layers, d_model 384, 4,000 steps of
   64 x 256 tokens) with its evaluation: minutes, tokens/s and every task's in-distribution and held-out-family score.
3. ``studies``: the ``studies`` preset's first minutes (``interp train --preset studies`` on the quickstart's corpus):
   tokens/s, so that the full ``interp studies`` run's GPU time can be stated.
4. ``compile``: the same ``studies`` steps with ``--compile`` (``torch.compile``), tokens/s against stage 3.

Results go to ``OUT/gpu_results.json`` (``OUT`` from the environment, as the device tool sets it, else
``bench/gpu-out``), with each stage's log beside it. Run it through ``bench/gpu.sh`` on the device machine, which
installs the wheels that machine lacks first. ``--smoke`` runs every stage on the CPU with a tiny budget: the
plumbing check to run here before spending GPU time.

    python bench/gpu_check.py --smoke        # here, ~5 minutes: every stage runs and the JSON is written
    bash bench/gpu.sh                        # on a lent GPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "interp.app.cli"]


def _stage(name: str, cmd: list[str], limit_s: float, out: Path) -> dict:
    """Run ``cmd`` with a wall-clock limit; its output goes to ``out/NAME.log``."""
    start = time.time()
    log = out / f"{name}.log"
    with log.open("w") as f:
        try:
            rc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=limit_s,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    seconds = round(time.time() - start, 1)
    print(f"[{name}] rc={rc} in {seconds} s", flush=True)
    return {"cmd": " ".join(cmd), "rc": rc, "seconds": seconds, "limit_s": limit_s,
            "log_tail": log.read_text()[-1500:]}


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="run every stage on the CPU with a tiny budget (plumbing)")
    ap.add_argument("--work", default="/tmp/gpu-check", help="scratch folder for the runs (not copied back)")
    args = ap.parse_args()
    out = Path(os.environ.get("OUT") or ROOT / "bench" / "gpu-out")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    device = "cpu" if args.smoke else "cuda"
    if not args.smoke and not torch.cuda.is_available():
        print("error: no CUDA device is visible; run with --smoke for the CPU plumbing check", file=sys.stderr)
        return 2
    small = args.smoke
    results: dict = {
        "machine": {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                    "cpu_count": os.cpu_count(), "smoke": small},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = out / "gpu_results.json"

    def save() -> None:
        path.write_text(json.dumps(results, indent=2))

    tp = ["--steps", "3", "--warmup", "1", "--rounds", "1"] if small else ["--steps", "40", "--warmup", "10",
                                                                             "--rounds", "2"]
    results["throughput"] = _stage("throughput", [sys.executable, "bench/train_throughput.py", "--device", device,
                                                  *tp], 400 if small else 80, out)
    results["throughput"]["ratios"] = _last_line(results["throughput"]["log_tail"])
    save()

    qs = work / "quickstart"
    qs_args = (["--preset", "tiny", "--max-steps", "40", "--n-tokens", "200000", "--n-prompts", "20"] if small
               else ["--preset", "gpu"])
    results["quickstart"] = _stage("quickstart", [*CLI, "quickstart", "--out-dir", str(qs), "--device", device,
                                                  "--overwrite", "--no-progress", *qs_args], 300, out)
    eval_path = qs / "model" / "eval.json"
    results["quickstart"]["tokens_per_s"] = _tokens_per_s(qs / "model", 20)
    if eval_path.exists():
        results["quickstart"]["eval"] = {k: v for k, v in json.loads(eval_path.read_text()).items() if k != "meta"}
    save()

    steps = "30" if small else "600"
    preset = ["--preset", "tiny"] if small else ["--preset", "studies"]
    for name, extra in (("studies", []), ("compile", ["--compile"])):
        run = work / name
        results[name] = _stage(name, [*CLI, "train", *preset, "--data-dir", str(qs / "data"), "--out-dir", str(run),
                                      "--device", device, "--max-steps", steps, "--batch-size", "32",
                                      "--val-interval", "100000", "--ckpt-interval", "100000", "--overwrite",
                                      "--no-progress", *extra], 400 if small else 80, out)
        results[name]["tokens_per_s"] = _tokens_per_s(run, 50 if not small else 5)
        save()
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    save()
    print(f"wrote {path}")
    summary = {k: results[k].get("tokens_per_s") for k in ("quickstart", "studies", "compile")}
    print(" ".join(f"{k}_tokens_per_s={v:.0f}" if v else f"{k}_tokens_per_s=nan" for k, v in summary.items())
          + f" {results['throughput']['ratios']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared benchmark helpers: the machine's fp32 matmul rate, subprocess runs, peak RSS, and the RESULTS line."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch


def matmul_gflops(m: int = 4096, k: int = 256, n: int = 1024, seconds: float = 3.0) -> float:
    """Measured fp32 matmul rate (GFLOP/s) at a shape typical of these models, on the current threads."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def run_json_subprocess(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> dict:
    """Run ``python args...`` in a fresh process; its last stdout line is JSON."""
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parent.parent,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return f"{platform.node()} {os.cpu_count()} cores, torch {torch.__version__}, {dev}"

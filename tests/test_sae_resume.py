"""The train-sae out dir: resume compares settings, a finished run resumes cleanly, --overwrite keeps other SAEs,
divergence stops without saving, failed runs leave nothing behind, and a killed run's metrics stay unique."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.errors import HookNameError, RunDirError
from interp.training.checkpoint import latest_checkpoint
from saes.errors import SAEDivergenceError
from saes.format import load_sae
from saes.layout import SAERunLayout
from saes.train import SAETrainer, train_saes
from saes.train_config import SAETrainConfig

ROOT = Path(__file__).resolve().parents[1]
HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def tiny_model(tiny_run_dir):
    import interp

    return interp.load(tiny_run_dir, device="cpu")


def _sae(name: str = "a", **kw) -> dict:
    return {"name": name, "hook": HOOK, "architecture": "topk", "k": 8, "expansion": 2, **kw}


def _cfg(run_dir, out, saes=None, **kw) -> SAETrainConfig:
    """8 steps of one small TopK SAE, a checkpoint every 4."""
    base = dict(run_dir=str(run_dir), out_dir=str(out), n_tokens=4096, batch_size=512, lr=2e-3, progress=False,
                buffer_size=2048, ckpt_interval=4, log_interval=2, dead_tokens=5_000, saes=saes or [_sae()])
    return SAETrainConfig(**{**base, **kw})


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in SAERunLayout(out).metrics.read_text().splitlines()]


def test_resume_refuses_changed_settings_and_finishes_a_finished_run(tiny_run_dir, tiny_model, tmp_path) -> None:
    out = tmp_path / "run"
    train_saes(_cfg(tiny_run_dir, out), model=tiny_model)
    sae = SAERunLayout(out).sae("a")
    weights = sae.weights.read_bytes()
    with pytest.raises(RunDirError, match=r"saes\[a\]\.k: 8 -> 4; saes\[a\]\.lr: 0\.002 -> 0\.01.*another --out-dir"):
        SAETrainer(_cfg(tiny_run_dir, out, saes=[_sae(k=4)], lr=1e-2, resume=True), model=tiny_model)
    assert json.loads(sae.cfg.read_text())["k"] == 8  # the old code rewrote cfg.json to k 4 over k-8 weights
    # Harmless changes are fine, and a finished run reports itself complete instead of raising KeyError.
    again = train_saes(_cfg(tiny_run_dir, out, resume=True, log_interval=1, ckpt_interval=3), model=tiny_model)
    assert again.steps == 8 and sae.weights.read_bytes() == weights
    assert again.final["a"]["fvu"] == json.loads(SAERunLayout(out).metrics.read_text().splitlines()[-1])["saes"]["a"]["fvu"]
    from interp.app.cli import main

    (tmp_path / "cfg.json").write_text(json.dumps(_cfg(tiny_run_dir, out).to_dict()))
    assert main(["train-sae", "--config", str(tmp_path / "cfg.json"), "--resume"]) == 0
    assert _steps(out) == [2, 4, 6, 8]


def test_overwrite_keeps_other_saes_in_a_shared_out_dir(tiny_run_dir, tiny_model, tmp_path) -> None:
    out = tmp_path / "shared"
    train_saes(_cfg(tiny_run_dir, out), model=tiny_model)
    sibling = SAERunLayout(out).sae("a")
    weights = sibling.weights.read_bytes()
    with pytest.raises(RunDirError, match="already holds an SAE run.*--overwrite.*other SAEs in .* are kept"):
        SAETrainer(_cfg(tiny_run_dir, out, saes=[_sae("b")]), model=tiny_model)
    result = train_saes(_cfg(tiny_run_dir, out, saes=[_sae("b")], overwrite=True), model=tiny_model)
    assert sibling.weights.read_bytes() == weights and load_sae(sibling.root).cfg.k == 8
    assert set(result.sae_dirs) == {"b"} and SAERunLayout(out).sae("b").is_sae()
    # An SAE directory this run would replace is refused without --overwrite, even with no run files beside it.
    SAERunLayout(out).train_config.unlink()
    with pytest.raises(RunDirError, match=r"already has SAE directories \['a'\]"):
        SAETrainer(_cfg(tiny_run_dir, out, saes=[_sae("a")]), model=tiny_model)


def test_divergence_stops_without_saving_and_failed_runs_leave_no_out_dir(tiny_run_dir, tiny_model, tmp_path) -> None:
    out = tmp_path / "diverged"
    with pytest.raises(SAEDivergenceError, match=r"diverged at step 1: FVU .*no SAE was saved.*Lower the lr"):
        train_saes(_cfg(tiny_run_dir, out, lr=1e6, warmup_steps=1, ckpt_interval=100), model=tiny_model)
    assert not out.exists()  # no SAE, no half run blocking a retry, no empty directory
    with pytest.raises(HookNameError):
        SAETrainer(_cfg(tiny_run_dir, out, saes=[_sae(hook="blocks.1.hook_resid_pr")]), model=tiny_model)
    assert not out.exists()


def test_metrics_rows_stay_unique_after_a_kill_and_resume(tiny_run_dir, tiny_model, tmp_path) -> None:
    out = tmp_path / "killed"
    cfg = _cfg(tiny_run_dir, out, n_tokens=512 * 60, ckpt_interval=10, log_interval=2)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg.to_dict()))
    proc = subprocess.Popen([sys.executable, "-m", "interp.app.cli", "train-sae", "--config", str(tmp_path / "cfg.json"),
                             "--device", "cpu"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    deadline, logged_past = time.time() + 240, False
    while time.time() < deadline and proc.poll() is None:
        ckpt = latest_checkpoint(out)
        if ckpt is not None and SAERunLayout(out).metrics.exists():
            logged_past = max(_steps(out), default=0) > int(ckpt.name.split("_")[1])
            if logged_past:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed: {proc.stderr.read()[-2000:]}"
    at_kill = int(latest_checkpoint(out).name.split("_")[1])
    assert max(_steps(out)) > at_kill  # rows past the checkpoint: the old code logged them twice
    resumed = SAETrainer(_cfg(tiny_run_dir, out, n_tokens=512 * 60, ckpt_interval=10, log_interval=2, resume=True,
                              device="cpu"), model=tiny_model)
    assert resumed.step == at_kill
    resumed.run()
    assert _steps(out) == list(range(2, 61, 2))
    reference = train_saes(_cfg(tiny_run_dir, tmp_path / "ref", n_tokens=512 * 60, ckpt_interval=10, log_interval=2,
                                device="cpu"), model=tiny_model)
    ref, got = load_sae(reference.sae_dirs["a"]).state_dict(), load_sae(out / "a").state_dict()
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)  # bit for bit

"""Bad input of every kind reaches the user as one line naming the problem and the fix (a ``WorkbenchError``), not
a traceback: the reproductions of issue 15's list, run through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from interp.app.cli import main
from interp.layout import RunLayout


@pytest.fixture(scope="module")
def tiny_sae(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("saes")
    assert main(["train-sae", str(tiny_run_dir), "--hook", "blocks.1.hook_resid_post", "--k", "8", "--expansion", "4",
                 "--n-tokens", "4096", "--batch-size", "512", "--out-dir", str(out), "--no-progress"]) == 0
    return out / "topk-blocks.1.hook_resid_post"


def _one_line_error(argv: list[str], capsys, *needles: str) -> str:
    code = main(argv)
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]  # progress bars aside
    assert code == 2, (argv, code, stderr[-2000:])  # 2: a named WorkbenchError; 1 would be an unexpected exception
    assert len(errors) == 1 and "unexpected" not in errors[0] and "Traceback" not in stderr, stderr[-2000:]
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def test_sae_of_another_model_is_refused(tiny_sae: Path, tiny_data_dir: Path, tmp_path: Path, capsys) -> None:
    from interp.training.trainer import train
    from tests.fixtures.runs import tiny_train_config

    other = tmp_path / "other"  # same shape, another seed: the SAE's recorded model_hash does not match
    train(tiny_train_config(tiny_data_dir, other, max_steps=5, seed=7))
    for cmd in (["eval-sae", str(tiny_sae), "--run-dir", str(other), "--n-tokens", "512"],
                ["dashboard", str(tiny_sae), "--run-dir", str(other), "--n-features", "2", "--n-tokens", "512"]):
        _one_line_error(cmd, capsys, "was trained on", "--allow-other-model")
    assert main(["eval-sae", str(tiny_sae), "--run-dir", str(other), "--n-tokens", "512", "--allow-other-model"]) == 0


def test_sae_hook_the_model_lacks(tiny_sae: Path, tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    sae = tmp_path / "sae"
    shutil.copytree(tiny_sae, sae)
    cfg = json.loads((sae / "cfg.json").read_text())
    cfg["metadata"]["hook_name"] = cfg["metadata"]["workbench"]["hook_name"] = "blocks.7.hook_resid_post"
    (sae / "cfg.json").write_text(json.dumps(cfg))
    _one_line_error(["eval-sae", str(sae), "--run-dir", str(tiny_run_dir), "--n-tokens", "512"], capsys,
                    "blocks.7.hook_resid_post")


def test_prompt_counts_must_be_positive(tiny_run_dir: Path, capsys) -> None:
    _one_line_error(["eval", str(tiny_run_dir), "--n-prompts", "0"], capsys, "--n-prompts")
    _one_line_error(["analyze", str(tiny_run_dir), "--task", "ioi", "--n-prompts", "0"], capsys, "--n-prompts")


def test_cuda_without_cuda(tiny_data_dir: Path, tmp_path: Path, capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _one_line_error(["train", "--preset", "tiny", "--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path / "r"),
                     "--device", "cuda", "--max-steps", "2"], capsys, "CUDA", "--device")
    assert not (tmp_path / "r").exists()


def test_context_longer_than_the_data(tmp_path: Path, capsys) -> None:
    from interp.data.prepare import DataConfig, prepare_data

    data = tmp_path / "data"  # 3,000 training tokens, a 4,096-token context
    prepare_data(DataConfig(out_dir=str(data), n_tokens=3_000, val_tokens=1_000, vocab_size=300,
                            bpe_train_chars=50_000))
    _one_line_error(["train", "--preset", "tiny", "--data-dir", str(data), "--out-dir", str(tmp_path / "r"),
                     "--model-overrides", '{"n_ctx": 4096}', "--max-steps", "2"], capsys, "n_ctx", "tokens")


def test_non_utf8_text_source(tmp_path: Path, capsys) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    _one_line_error(["corpus", "--source", str(texts), "--out-dir", str(tmp_path / "d"), "--n-tokens", "100"],
                    capsys, "UTF-8", "texts.jsonl")


def test_damaged_sae_trainer_state(tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "saes"
    args = ["train-sae", str(tiny_run_dir), "--hook", "blocks.1.hook_resid_post", "--k", "8", "--expansion", "4",
            "--batch-size", "512", "--ckpt-interval", "2", "--out-dir", str(out), "--no-progress"]
    assert main([*args, "--n-tokens", "4096"]) == 0
    blob = next(RunLayout(out).checkpoints.glob("step_*/trainer.pt"))
    blob.write_bytes(blob.read_bytes()[:200])
    _one_line_error([*args, "--n-tokens", "4096", "--resume"], capsys, "trainer.pt")


def test_bad_config_files_and_presets(tmp_path: Path, capsys) -> None:
    for name, text, needle in (("list.json", "[1, 2]", "must hold a JSON object"),
                               ("typed.json", '{"max_steps": "ten"}', "TrainConfig.max_steps"),
                               ("unknown.json", '{"max_stepz": 10}', "max_stepz")):
        (tmp_path / name).write_text(text)
        _one_line_error(["train", "--config", str(tmp_path / name)], capsys, needle)
    _one_line_error(["train", "--config", str(tmp_path / "missing.json")], capsys, "no such file")
    _one_line_error(["quickstart", "--preset", "nope", "--out-dir", str(tmp_path / "qs")], capsys, "nope")
    assert not (tmp_path / "qs").exists()  # refused before the 16M-token corpus is built

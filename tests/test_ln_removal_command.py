"""``interp remove-ln`` / ``remove_ln`` end to end on the tiny run: the LN-free output loads, evaluates and exports
with the fine-tuned model's exact function, a killed removal resumes to the same weights, a Hugging Face parent
is fine-tuned on a text source, and bad input is refused before any work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from interp.errors import ConfigError, RunDirError, TokenizerError
from interp.layout import LNRemovalLayout, RunLayout
from interp.ln_removal import LNRemovalConfig, plan_removal, remove_ln
from interp.models.loading import load
from interp.training.checkpoint import load_model

STEPS = 60  # the fast schedule's last freeze is at step 44 for 2 layers


def _cfg(run: Path, out: Path, **kw) -> LNRemovalConfig:
    return LNRemovalConfig(**{"run_dir": str(run), "out_dir": str(out), "max_steps": STEPS, "n_prompts": 4,
                              "progress": False, **kw})


def _tokens() -> torch.Tensor:
    return torch.randint(0, 500, (2, 10), generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def removal(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> LNRemovalLayout:
    out = tmp_path_factory.mktemp("noln") / "tiny-noLN"
    remove_ln(_cfg(tiny_run_dir, out, aux_weight=0.1))
    return LNRemovalLayout(out)


def test_removal_output_is_an_ln_free_run_with_the_fine_tuned_function(removal: LNRemovalLayout) -> None:
    hooked = load(removal.root)
    assert hooked.cfg.normalization_type is None
    fine_tuned = load_model(removal.removal.root)  # removable norms, every scale frozen
    tokens = _tokens()
    with torch.no_grad():
        assert (hooked(tokens) - fine_tuned(tokens)).abs().max() <= 1e-4
    summary = json.loads(removal.summary.read_text())
    assert summary["finished"] and summary["removal_steps"] == STEPS and summary["step_fraction"] == 1.0
    assert set(summary["scores"]) == {"parent", "ln_free", "baseline_ln_kept"}
    assert summary["dla"]["ln_free"]["error"] <= 1e-4  # exact without any scale
    assert json.loads(removal.eval.read_text())["val_loss"] == pytest.approx(summary["scores"]["ln_free"]["val_loss"])
    baseline = load(removal.baseline.root)
    assert baseline.cfg.normalization_type == "LN"  # the comparison fine-tune kept LayerNorm
    html = removal.report.read_text()
    assert "Direct logit attribution check" in html and "blocks.1.ln1 v" in html


def test_removal_exports_to_hugging_face_with_the_same_logits(removal: LNRemovalLayout, tmp_path: Path) -> None:
    from transformers import GPT2LMHeadModel

    from interp.models.convert import export_hf

    gpt = load_model(removal.root)
    out = export_hf(gpt, tmp_path / "hf")
    hf = GPT2LMHeadModel.from_pretrained(out).eval()
    tokens = _tokens()
    with torch.no_grad():
        assert (hf(tokens).logits - gpt(tokens)).abs().max() <= 1e-4


def test_killed_removal_resumes_to_the_same_final_weights(removal: LNRemovalLayout, tiny_run_dir: Path,
                                                         tmp_path: Path) -> None:
    killed = LNRemovalLayout(tmp_path / "killed")
    shutil.copytree(removal.root, killed.root)
    for path in (killed.summary, killed.report, killed.eval, killed.root / "baseline_ln_kept"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    ckpts = killed.removal.checkpoints  # killed before its last checkpoint (mid-schedule kills: test_ln_removal)
    shutil.rmtree(ckpts / f"step_{STEPS:06d}")
    (ckpts / "latest").write_text(sorted(p.name for p in ckpts.glob("step_*"))[-1])
    assert int((ckpts / "latest").read_text()[5:]) < STEPS
    remove_ln(_cfg(tiny_run_dir, killed.root, aux_weight=0.1, resume=True, baseline=False))
    for (name, a), (_, b) in zip(load_model(removal.root).state_dict().items(),
                                 load_model(killed.root).state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    again = remove_ln(_cfg(tiny_run_dir, killed.root, resume=True))  # a finished removal: nothing redone
    assert again.summary == json.loads(killed.summary.read_text())


def test_removal_of_a_hugging_face_parent_on_a_text_source(tiny_data_dir: Path, tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.data.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(Path(tiny_data_dir) / "tokenizer")
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=4))
    hf.save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    text = tmp_path / "text.txt"
    text.write_text("Once upon a time, Mary and John went to the park. John gave a ball to Mary.\n" * 3000)
    with pytest.raises(ConfigError, match="--text-source"):
        plan_removal(_cfg(tmp_path / "gpt2", tmp_path / "none"))
    out = LNRemovalLayout(tmp_path / "gpt2-noLN")
    result = remove_ln(_cfg(tmp_path / "gpt2", out.root, text_source=str(text), text_tokens=20_000,
                            baseline=False))
    assert load(result.out).cfg.normalization_type is None
    assert out.parent.model_config.exists() and (out.data.train / "index.json").exists()
    assert result.table().loc["val_loss", "LN-free"] < result.table().loc["val_loss", "parent"]  # it fine-tuned


def test_bad_input_is_refused_before_any_work(removal: LNRemovalLayout, tiny_run_dir: Path, tiny_data_dir: Path,
                                              tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no LayerNorm left"):
        plan_removal(_cfg(removal.root, tmp_path / "a"))
    odd = tmp_path / "rms"
    shutil.copytree(tiny_run_dir, odd)
    cfg = json.loads(RunLayout(odd).model_config.read_text())
    RunLayout(odd).model_config.write_text(json.dumps({**cfg, "norm": "rmsnorm"}))
    with pytest.raises(ConfigError, match="knows only LayerNorm"):
        plan_removal(_cfg(odd, tmp_path / "b"))
    with pytest.raises(ConfigError, match="last freeze is at step 44"):
        plan_removal(_cfg(tiny_run_dir, tmp_path / "c", max_steps=40))
    with pytest.raises(ConfigError, match="Unknown schedule"):
        plan_removal(_cfg(tiny_run_dir, tmp_path / "c", schedule="slow"))
    other = tmp_path / "other-data"
    from interp.data.prepare import DataConfig, prepare_data

    prepare_data(DataConfig(out_dir=str(other), n_tokens=30_000, val_tokens=5_000, vocab_size=600,
                            bpe_train_chars=100_000, seed=1))
    with pytest.raises(TokenizerError, match="another tokenizer"):
        plan_removal(_cfg(tiny_run_dir, tmp_path / "d", data_dir=str(other)))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="--overwrite"):
        remove_ln(_cfg(tiny_run_dir, occupied))
    assert (occupied / "notes.txt").read_text() == "mine" and len(list(occupied.iterdir())) == 1
    assert not any((tmp_path / x).exists() for x in "abcd")  # nothing was written for a refused removal


def test_remove_ln_command_line(tiny_run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from interp.app.cli import main

    out = tmp_path / "cli-noLN"
    assert main(["remove-ln", str(tiny_run_dir), "--out", str(out), "--max-steps", "50", "--n-prompts", "4",
                 "--no-baseline", "--no-progress", "--schedule", "fast"]) == 0
    printed = capsys.readouterr().out
    assert "LN-free" in printed and str(out / "report.html") in printed
    assert json.loads((out / "ln_removal.json").read_text())["config"]["baseline"] is False

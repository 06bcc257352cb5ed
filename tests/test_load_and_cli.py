"""interp.load, the command line, export/import round trips, and the quickstart pipeline at a tiny size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import interp
from interp.app.cli import build_parser, main
from interp.errors import CheckpointError, ConfigError, RunDirError
from interp.training.checkpoint import load_model


def test_load_matches_training_model(tiny_run_dir: Path) -> None:
    hooked = interp.load(tiny_run_dir, device="cpu")
    gpt = load_model(tiny_run_dir)
    tokens = hooked.to_tokens("When Mary and John went to the park, John gave a ball to")
    with torch.no_grad():
        assert (hooked(tokens) - gpt(tokens)).abs().max().item() <= 1e-4
    assert tokens[0, 0].item() == hooked.tokenizer.bos_token_id
    _, cache = hooked.run_with_cache(tokens, names_filter=lambda n: n.endswith("ln2.hook_normalized"))
    assert cache["blocks.1.ln2.hook_normalized"].shape == (1, tokens.shape[1], 64)


def test_load_missing_run(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        interp.load(tmp_path / "nope")


def test_every_subcommand_has_help(capsys) -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("quickstart", "train", "corpus", "eval", "export", "import", "cache", "analyze", "lens"):
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: interp " + name in capsys.readouterr().out
    assert set(choices) >= {"quickstart", "train", "corpus", "eval", "export", "import"}


def test_cli_errors_are_clean(tmp_path: Path, capsys) -> None:
    assert main(["train", "--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "r")]) == 2
    assert "no index.json" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_preset_via_cli(tiny_data_dir: Path, tmp_path: Path, capsys) -> None:
    code = main(["train", "--preset", "huge", "--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path / "r")])
    assert code == 2 and "Unknown preset 'huge'" in capsys.readouterr().err


def test_export_import_round_trip(tiny_run_dir: Path, tmp_path: Path) -> None:
    from transformers import GPT2LMHeadModel

    assert main(["export", str(tiny_run_dir), "--out-dir", str(tmp_path / "hf")]) == 0
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    gpt = load_model(tiny_run_dir)
    tokens = torch.randint(0, gpt.cfg.d_vocab, (2, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (hf(tokens).logits - gpt(tokens)).abs().max().item() <= 1e-4
    assert main(["import", "--hf", str(tmp_path / "hf"), "--out-dir", str(tmp_path / "imported")]) == 0
    back = interp.load(tmp_path / "imported", device="cpu")
    with torch.no_grad():
        assert (back(tokens) - gpt(tokens)).abs().max().item() <= 1e-4
    assert back.tokenizer is not None and back.to_tokens("Mary").shape[1] >= 2


def test_quickstart_pipeline_tiny(tmp_path: Path) -> None:
    from interp.app.quickstart import QuickstartConfig, run_quickstart

    results = run_quickstart(QuickstartConfig(out_dir=str(tmp_path / "qs"), preset="tiny", max_steps=30,
                                              batch_size=8, n_tokens=150_000, n_prompts=8, progress=False))
    from interp.tasks.suite import TASKS

    assert set(TASKS) <= set(results) and "ioi_heldout_family" in TASKS
    saved = json.loads((tmp_path / "qs" / "model" / "eval.json").read_text())
    assert saved["ioi"] == results["ioi"] and saved["val_loss"] < 7
    train_cfg = json.loads((tmp_path / "qs" / "model" / "train_config.json").read_text())
    drills = (train_cfg["copy_drill_frac"], train_cfg["copy_drill_start"], train_cfg["copy_drill_stop"])
    assert drills == (0.4, 15, 24)  # drills in steps [1/2, 13/16) of 30
    html = (tmp_path / "qs" / "report.html").read_text()
    assert "<ul id='headline'>" in html and "accuracy on held-out phrasing families" in html
    assert "Probe tasks" in html and "When Lily and Tom went to the park" in html and "plotly" in html


def test_fine_tunes_follow_the_main_training(tmp_path: Path, monkeypatch) -> None:
    """A preset with stages: the main run goes to stages/base (evaluated), each stage starts from the one before
    with its own drills only, the last writes model/, and the report and quickstart.json show the stages."""
    import interp.app.quickstart as qs
    from interp.app.stages import Stage

    stages = (Stage("look", "lookback drills", {"max_steps": 6, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 2,
                                                "lookback_drill_frac": 1.0}),
              Stage("tasks", "task drills", {"max_steps": 6, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 2,
                                             "task_drill_frac": 0.5, "task_drill_weight": 2.0}))
    monkeypatch.setitem(qs.STAGES, "tiny", stages)
    out = tmp_path / "qs"
    results = qs.run_quickstart(qs.QuickstartConfig(out_dir=str(out), preset="tiny", max_steps=20, batch_size=8,
                                                    n_tokens=150_000, n_prompts=8, progress=False))
    base, look, final = out / "stages" / "base", out / "stages" / "look", out / "model"
    assert (base / "eval.json").exists() and not (out / "stages" / "tasks").exists()
    cfgs = {d.name: json.loads((d / "train_config.json").read_text()) for d in (base, look, final)}
    assert cfgs["base"]["copy_drill_frac"] == 0.4 and cfgs["base"]["max_steps"] == 20
    assert (cfgs["look"]["init_from"], cfgs["look"]["lookback_drill_frac"], cfgs["look"]["copy_drill_frac"]) == (
        str(base), 1.0, 0.0)  # the main run's copy drills are not inherited
    assert (cfgs["model"]["init_from"], cfgs["model"]["task_drill_frac"], cfgs["model"]["lookback_drill_frac"],
            cfgs["model"]["max_steps"]) == (str(look), 0.5, 0.0, 6)
    assert all(c["data_dir"] == cfgs["base"]["data_dir"] and c["preset"] == "tiny" for c in cfgs.values())
    summary = json.loads((out / "quickstart.json").read_text())
    assert summary["stages"] == ["look", "tasks"] and summary["eval"]["ioi"] == results["ioi"]
    assert summary["eval_before_fine_tunes"] == json.loads((base / "eval.json").read_text())
    html = (out / "report.html").read_text()
    assert "Fine-tunes after the main training" in html and "lookback drills" in html
    # killed during the last stage: --resume trains that stage again and leaves the finished ones as they were
    kept = {d.name: (d / "metrics.jsonl").read_text() for d in (base, look)}
    shutil.rmtree(final)
    again = qs.run_quickstart(qs.QuickstartConfig(out_dir=str(out), preset="tiny", max_steps=20, batch_size=8,
                                                  n_tokens=150_000, n_prompts=8, progress=False, resume=True))
    assert {d.name: (d / "metrics.jsonl").read_text() for d in (base, look)} == kept
    assert json.loads((final / "train_config.json").read_text())["init_from"] == str(look)
    assert again["ioi"] == results["ioi"]  # the same seeds and steps give the same model
    # a copied run resumes where it lies: its data is reused (not regenerated), and nothing trains again
    copied = tmp_path / "copied"
    shutil.copytree(out, copied)
    data_config = (copied / "data" / "data_config.json").read_text()
    moved = qs.run_quickstart(qs.QuickstartConfig(out_dir=str(copied), preset="tiny", max_steps=20, batch_size=8,
                                                  n_tokens=150_000, n_prompts=8, progress=False, resume=True))
    assert (copied / "data" / "data_config.json").read_text() == data_config and moved["ioi"] == results["ioi"]
    assert (copied / "model" / "metrics.jsonl").read_text() == (final / "metrics.jsonl").read_text()
    # a stage added at the end: the old last stage's model/ is not taken for the new one, finished
    longer = (*stages, Stage("more", "more task drills", {**stages[1].settings, "max_steps": 4}))
    monkeypatch.setitem(qs.STAGES, "tiny", longer)
    resume = qs.QuickstartConfig(out_dir=str(copied), preset="tiny", max_steps=20, batch_size=8, n_tokens=150_000,
                                 n_prompts=8, progress=False, resume=True)
    with pytest.raises(RunDirError, match="stages changed"):
        qs.run_quickstart(resume)
    assert not (copied / "stages" / "tasks").exists()  # refused before any stage trained
    (copied / "model").rename(copied / "stages" / "tasks")
    qs.run_quickstart(resume)
    tuned = json.loads((copied / "model" / "train_config.json").read_text())
    assert (tuned["init_from"], tuned["max_steps"]) == (str(copied / "stages" / "tasks"), 4)
    # --no-fine-tunes: the main training alone, in model/
    plain = tmp_path / "plain"
    qs.run_quickstart(qs.QuickstartConfig(out_dir=str(plain), preset="tiny", max_steps=6, batch_size=8,
                                          n_tokens=150_000, n_prompts=4, progress=False, fine_tunes=False))
    assert not (plain / "stages").exists() and "init_from" in json.loads((plain / "model" / "train_config.json")
                                                                         .read_text())
    assert json.loads((plain / "model" / "train_config.json").read_text())["init_from"] == ""


def test_studies_command_uses_its_preset_and_recipe(tmp_path: Path, capsys) -> None:
    from interp.app.args import dataclass_from_args
    from interp.app.cli import build_parser
    from interp.app.quickstart import RECIPES, StudiesConfig, _resolved, run_quickstart
    from interp.app.stages import STAGES

    args = build_parser().parse_args(["studies", "--out-dir", str(tmp_path / "s"), "--seed", "1"])
    cfg = dataclass_from_args(args.config_class, args)
    assert isinstance(cfg, StudiesConfig) and cfg.preset == "studies" and cfg.seed == 1
    got = _resolved(cfg)
    studies = RECIPES["studies"]
    assert (got["max_steps"], got["batch_size"], got["n_tokens"]) == (studies.max_steps, studies.batch_size,
                                                                     studies.n_tokens)
    assert (got["copy_drill_start"], got["copy_drill_stop"]) == (1875, 2437)  # 5/8 and 13/16 of 3000
    assert (got["lr"], got["min_lr"]) == (studies.lr, 1.5e-4) and studies.lr == 1.5e-3  # the recipe's, a tenth
    assert cfg.fine_tunes and [s.name for s in STAGES["studies"]] == ["lookback", "tasks", "settle", "settle-again"]
    assert got["lookback_drill_frac"] == got["task_drill_frac"] == 0  # off unless asked for
    # the quickstart's own recipe, and an explicit option over the recipe
    q_args = build_parser().parse_args(["quickstart", "--device", "cpu"])
    quick = _resolved(dataclass_from_args(q_args.config_class, q_args))
    assert (quick["preset"], quick["max_steps"], quick["n_tokens"]) == ("cpu", 4000, 16_000_000)
    assert (quick["lr"], quick["min_lr"]) == (3e-3, 3e-4)  # exactly: the quickstart's runs stay bit for bit
    assert (_resolved(StudiesConfig(lr=1.5e-3))["min_lr"], _resolved(StudiesConfig(min_lr=0))["min_lr"]) == (1.5e-4, 0)
    # only -1 means "a tenth": another negative is refused, not replaced, and before the corpus is generated
    for bad, match in (({"min_lr": -2}, "min_lr"), ({"resume": True, "overwrite": True}, "Choose one of --resume")):
        with pytest.raises(ConfigError, match=match):
            run_quickstart(StudiesConfig(out_dir=str(tmp_path / "bad"), **bad))
        assert not (tmp_path / "bad").exists()
    assert quick["lookback_drill_frac"] == quick["task_drill_frac"] == 0
    assert _resolved(StudiesConfig(max_steps=100))["max_steps"] == 100
    on = _resolved(StudiesConfig(lookback_drill_frac=1, lookback_drill_stop=750, task_drill_frac=0.3,
                                 task_drill_start=750, task_drill_weight=2))
    assert {k: on[k] for k in on if k.startswith(("lookback", "task"))} == {
        "lookback_drill_frac": 1, "lookback_drill_start": 0, "lookback_drill_stop": 750, "task_drill_frac": 0.3,
        "task_drill_start": 750, "task_drill_stop": 0, "task_drill_weight": 2}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["studies", "--help"])
    assert "runs/studies" in capsys.readouterr().out


def test_cache_command(tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    from interp.analysis.activations import ActivationStore

    assert main(["cache", str(tiny_run_dir), "--hooks", "blocks.*.hook_resid_post", "--n-tokens", "2048",
                 "--out-dir", str(tmp_path / "c")]) == 0
    said = capsys.readouterr().out
    assert f"activations  {tmp_path / 'c'}" in said and f"--cache-dir {tmp_path / 'c'}" in said
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["hooks"] == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    rows = sum(len(b["blocks.1.hook_resid_post"]) for b in ActivationStore.from_cache(tmp_path / "c", batch_size=256,
                                                                                        buffer_size=1024))
    assert rows == 2048


def test_loaded_model_checks_its_input(tiny_run_dir) -> None:
    import pytest
    import torch

    import interp
    from interp.errors import InputError

    model = interp.load(tiny_run_dir, device="cpu")
    n_ctx, d_vocab = model.cfg.n_ctx, model.cfg.d_vocab
    with pytest.raises(InputError, match=rf"tokens long but the model's context is {n_ctx}"):
        model("Once upon a time " * n_ctx)  # TransformerLens alone truncates this silently
    with pytest.raises(InputError, match=r"lie in \[0,"):
        model(torch.tensor([[1, -3, 2]]))  # would wrap around the embedding
    with pytest.raises(InputError, match=r"lie in \[0,"):
        model.run_with_cache(torch.tensor([[1, d_vocab]]))
    with pytest.raises(InputError, match=f"{n_ctx + 1} tokens long"):
        model(torch.zeros(1, n_ctx + 1, dtype=torch.long))
    with pytest.raises(InputError, match="integer tensor"):
        model(torch.zeros(1, 4))
    logits = model("Once upon a time")  # a valid prompt still runs, with the same logits as the unchecked model
    assert logits.shape[-1] == d_vocab and torch.isfinite(logits).all()
    resid = model(torch.tensor([[1, 2, 3]]), stop_at_layer=1)
    assert torch.equal(model(resid, start_at_layer=1), model(torch.tensor([[1, 2, 3]])))


def test_cli_turns_any_error_into_one_line(tmp_path, capsys) -> None:
    import pytest

    from interp.app.cli import main
    from interp.errors import WorkbenchError

    cfg = tmp_path / "bad.json"
    cfg.write_text("{not json")
    assert main(["train", "--config", str(cfg), "--out-dir", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "bad.json" in err[0] and "Traceback" not in err[0]
    with pytest.raises(WorkbenchError, match="bad.json is not valid JSON"):  # --debug lets the exception through
        main(["train", "--config", str(cfg), "--out-dir", str(tmp_path / "r"), "--debug"])

"""Command-line help from field docstrings, consistent option names with deprecated aliases, closing messages."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from interp.app.args import add_dataclass_args, dataclass_from_args, dataclass_from_dict, field_docs
from interp.app.cli import build_parser, main
from interp.app.quickstart import QuickstartConfig
from interp.data.prepare import DataConfig
from interp.models.config import ModelConfig
from interp.training.config import TrainConfig
from saes.train_config import SAETrainConfig
from tests.fixtures.runs import TINY_STEPS


@dataclass
class _Toy:
    """A small config in the convention the CLI configs (and the SAE configs) follow."""

    mode: Literal["fast", "slow"] = "fast"
    """How to run; fast skips the checks."""
    rows: int = 0
    """Rows per step;
    0: all of them."""
    share: float = 0.5
    """Share of rows kept (50% by default)."""
    undocumented: int = 1


@dataclass
class _ToyChild(_Toy):
    extra: str = ""
    """An added option; empty: none."""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    return build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]


def test_field_docstrings_become_help() -> None:
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, _ToyChild)
    text = _flat(parser.format_help())  # a lone % in a docstring would make argparse raise here
    assert "How to run; fast skips the checks. Choices: fast, slow. (default: 'fast')" in text
    assert "Rows per step; 0: all of them. (default: 0)" in text  # docstrings over several lines are joined
    assert "Share of rows kept (50% by default). (default: 0.5)" in text
    assert "An added option; empty: none. (default: '')" in text  # inherited fields and the subclass's own
    assert set(field_docs(_ToyChild)) == {"mode", "rows", "share", "extra"}
    assert dataclass_from_args(_ToyChild, parser.parse_args(["--mode", "slow", "--rows", "3"])) == _ToyChild("slow", 3)
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "medium"])  # a Literal field accepts its values only


@pytest.mark.parametrize("cls", [QuickstartConfig, DataConfig, TrainConfig, ModelConfig, SAETrainConfig])
def test_every_cli_config_field_is_documented(cls) -> None:
    docs = field_docs(cls)
    if cls is SAETrainConfig and not docs:
        pytest.skip("SAETrainConfig's field docstrings arrive with the SAE-config change")
    missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name, "").strip()]
    assert not missing, f"{cls.__name__} fields without a docstring (a string literal right after the field): {missing}"


def test_model_overrides_help_names_every_model_field() -> None:
    text = field_docs(TrainConfig)["model_overrides"]
    assert [f.name for f in dataclasses.fields(ModelConfig) if f.name not in text] == []


def test_every_option_of_every_command_has_help() -> None:
    for name, sub in _subparsers().items():
        if name == "train-sae" and not field_docs(SAETrainConfig):
            continue  # see test_every_cli_config_field_is_documented
        for action in sub._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            words = (action.help or "").split("(default")[0].strip()
            assert words, f"interp {name} {action.option_strings or action.dest} has no help text"


def test_train_help_shows_docstrings(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = _flat(capsys.readouterr().out)
    for field in ("val_interval", "copy_drill_stop", "grad_clip"):
        assert _flat(field_docs(TrainConfig)[field]) in text
    assert "--eval-interval" not in text  # deprecated spellings are hidden


def test_renamed_trainer_options_still_work(capsys) -> None:
    args = build_parser().parse_args(["train", "--eval-interval", "7", "--val-tokens", "900"])
    assert "--eval-interval is deprecated" in capsys.readouterr().err
    cfg = dataclass_from_args(TrainConfig, args)
    assert (cfg.val_interval, cfg.val_tokens) == (7, 900)
    old = dataclass_from_dict(TrainConfig, {"eval_interval": 5, "eval_tokens": 600})  # an old train_config.json
    assert (old.val_interval, old.val_tokens) == (5, 600)
    with pytest.warns(FutureWarning, match="val_interval"):
        assert TrainConfig(eval_interval=3).val_interval == 3


def test_old_run_with_eval_keys_resumes(tiny_run_dir: Path, tmp_path: Path) -> None:
    """A run written before the rename (eval_* keys in train_config.json) resumes with the new names."""
    from interp.layout import RunLayout
    from interp.training.trainer import train

    run = RunLayout(tmp_path / "old")
    shutil.copytree(tiny_run_dir, run.root)
    saved = json.loads(run.train_config.read_text())
    saved["eval_interval"], saved["eval_tokens"] = saved.pop("val_interval"), saved.pop("val_tokens")
    saved["out_dir"] = str(run.root)  # (the copy is the run now)
    run.train_config.write_text(json.dumps(saved))
    cfg = dataclass_from_dict(TrainConfig, {**saved, "out_dir": str(run.root), "max_steps": TINY_STEPS + 2,
                                            "resume": True})
    assert train(cfg).step == TINY_STEPS + 2


def test_deprecated_names_work_and_say_so(tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "c"
    assert main(["cache", str(tiny_run_dir), "--hooks", "blocks.0.hook_resid_post", "--tokens", "1024",
                 "--out", str(out)]) == 0  # required options given under their former names
    err = capsys.readouterr().err
    assert "--tokens is deprecated" in err and "use --n-tokens" in err and "use --out-dir" in err
    assert json.loads((out / "meta.json").read_text())["hooks"] == ["blocks.0.hook_resid_post"]
    with pytest.raises(SystemExit):
        main(["cache", str(tiny_run_dir), "--hooks", "blocks.0.hook_resid_post", "--out-dir", str(out)])
    assert "--n-tokens" in capsys.readouterr().err  # still required under one name or the other
    args = build_parser().parse_args(["train-sae", "--run-dir", "runs/x", "--data", "runs/d"])
    cfg = dataclass_from_args(SAETrainConfig, args)
    assert (cfg.run_dir, cfg.data) == ("runs/x", "runs/d")
    err = capsys.readouterr().err
    assert "use the positional argument RUN_DIR" in err and "use --data-dir" in err


def test_train_and_eval_say_what_they_wrote(tiny_data_dir: Path, tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--data-dir", str(tiny_data_dir), "--out-dir", str(run),
                 "--max-steps", "2", "--batch-size", "4", "--val-tokens", "2048", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert f"loss curve     {run / 'loss_curve.html'}" in said and f"interp eval {run}" in said
    assert (run / "loss_curve.html").exists()
    copy = tmp_path / "copy"  # eval writes eval.json into the run: not into the shared fixture
    shutil.copytree(tiny_run_dir, copy)
    assert main(["eval", str(copy), "--n-prompts", "4", "--tasks", "ioi", "--device", "cpu"]) == 0
    said = capsys.readouterr().out
    assert f"scores  {copy / 'eval.json'}" in said and f"interp analyze {copy} --task ioi" in said
    assert any(line.split()[:2] == ["ioi", "accuracy"] for line in said.splitlines())


def _documented_commands() -> list[tuple[str, str]]:
    """``(file, command line)`` for every ``interp ...`` line with arguments in the README, docs and notebooks."""
    root = Path(__file__).resolve().parent.parent
    found = []
    for path in [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "notebooks").glob("*.ipynb"))]:
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        spans = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
        lines = [ln for block in spans for ln in re.sub(r"\\\n\s*", " ", block).splitlines()]  # joins "\" lines
        lines += [s.replace("\n", " ") for s in re.findall(r"(?<!`)`([^`]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.S))]
        for line in lines:
            line = line.strip().removeprefix(".venv/bin/")
            if re.match(r"interp [a-z-]+ \S", line) and "--help" not in line:
                found.append((path.name, line))
    return found


def test_documented_commands_use_current_option_names(capsys) -> None:
    commands = _documented_commands()
    assert len(commands) >= 10, commands
    for source, line in commands:
        try:
            build_parser().parse_args(shlex.split(line, comments=True)[1:])
        except SystemExit:
            pytest.fail(f"{source}: `{line}` does not parse")
        assert "deprecated" not in capsys.readouterr().err, f"{source}: `{line}` uses a deprecated option name"


def test_both_lr_schedules_take_the_step_first() -> None:
    import inspect

    from interp.training.trainer import lr_at
    from saes.train import lr_at as sae_lr_at

    assert list(inspect.signature(lr_at).parameters)[:2] == list(inspect.signature(sae_lr_at).parameters)[:2]
    sae_cfg = SAETrainConfig(warmup_steps=10, decay_start=0.8)
    assert sae_lr_at(4, sae_cfg, 100, 1.0) == pytest.approx(0.5)  # warm-up
    assert sae_lr_at(50, sae_cfg, 100, 1.0) == 1.0 and sae_lr_at(90, sae_cfg, 100, 1.0) == pytest.approx(0.5)

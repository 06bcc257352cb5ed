"""Training a cross-layer transcoder with checkpoints (saes/clt_train.py) and ``interp train-clt``
(saes/clt_commands.py): a killed run resumes to the weights an uninterrupted run has; an out dir is never silently
reused; a resume with another model, other tokens or other settings is refused; the command end to end."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch

from interp.app.args import dataclass_from_args, field_docs
from interp.app.cli import build_parser, main
from interp.errors import RunDirError
from interp.io import hash_state_dict
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from saes.clt import CLTConfig
from saes.clt_commands import CLTTrainCommandConfig
from saes.clt_format import clt_state, load_circuit_tracer, load_clt
from saes.clt_train import CLTTrainConfig, CLTTrainer, train_clt
from saes.errors import SAEConfigError
from saes.layout import CLTLayout

D = 32
STEPS, BATCH, CKPT = 24, 128, 8


def tiny_model(seed: int = 0) -> HookedTransformer:
    cfg = HookedTransformerConfig(n_layers=2, d_model=D, n_heads=2, d_head=16, d_mlp=64, n_ctx=16, d_vocab=50,
                                  act_fn="gelu", seed=seed)
    return HookedTransformer(cfg).eval()


def tokens(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 50, (400, 16), generator=torch.Generator().manual_seed(seed))


def clt_cfg(activation: str = "batchtopk", k: int = 4) -> CLTConfig:
    return CLTConfig(n_layers=2, d_model=D, d_sae=64, activation=activation, k=k)


def train_cfg(out: Path, **kw) -> CLTTrainConfig:
    # dead_tokens small enough that the dead-latent counters (and AuxK) take part before the kill
    base = dict(n_tokens=STEPS * BATCH, batch_size=BATCH, lr=3e-3, warmup_steps=3, sparsity_warmup_steps=5,
                dead_tokens=3 * BATCH, buffer_size=512, model_batch_size=8, ckpt_interval=CKPT, progress=False,
                out_dir=str(out))
    return CLTTrainConfig(**{**base, **kw})


def killed_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Make training die (as a kill would) when it is about to run step ``step``."""
    original = CLTTrainer.train_step

    def dying(self: CLTTrainer, batch: dict[str, torch.Tensor]) -> None:
        if self.step == step:
            raise KeyboardInterrupt("killed")
        original(self, batch)

    monkeypatch.setattr(CLTTrainer, "train_step", dying)


def snapshot(out: Path) -> dict[Path, int]:
    """Every file of ``out`` (the writers' lock left out) with its modification time."""
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != ".lock"}


def assert_same_weights(a, b) -> None:
    sa, sb = clt_state(a), clt_state(b)
    assert sa.keys() == sb.keys()
    for name in sa:
        torch.testing.assert_close(sa[name], sb[name], rtol=0, atol=0, msg=name)  # bit for bit


@pytest.mark.parametrize("activation", ["batchtopk", "jumprelu"])
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch, capsys, activation):
    model, toks = tiny_model(), tokens()
    full = train_clt(model, toks, clt_cfg(activation), train_cfg(tmp_path / "full"))
    assert full.steps == STEPS and full.rows == STEPS * BATCH and len(full.losses) == STEPS

    out = tmp_path / "killed"
    killed_at(monkeypatch, 2 * CKPT + 3)  # after the checkpoint of step 16, before step 24
    with pytest.raises(KeyboardInterrupt):
        train_clt(model, toks, clt_cfg(activation), train_cfg(out))
    monkeypatch.undo()
    layout = CLTLayout(out)
    assert not layout.is_clt() and layout.train_config.exists()
    assert sorted(p.name for p in layout.checkpoints.glob("step_*")) == ["step_000008", "step_000016"]

    resumed = train_clt(model, toks, clt_cfg(activation), train_cfg(out, resume=True, progress=True))
    assert "resumed from step_000016 (step 16" in capsys.readouterr().out
    assert resumed.steps == STEPS and resumed.rows == full.rows
    assert_same_weights(resumed.clt, full.clt)
    assert_same_weights(load_clt(out), load_clt(tmp_path / "full"))
    assert resumed.losses == full.losses
    torch.testing.assert_close(torch.tensor(resumed.final["fvu"]), torch.tensor(full.final["fvu"]))
    # Two checkpoints kept; the CLT knows its model and its training.
    assert sorted(p.name for p in layout.checkpoints.glob("step_*")) == ["step_000016", "step_000024"]
    meta = load_clt(out).cfg.metadata
    assert meta["model_hash"] == hash_state_dict(model.state_dict()) and meta["training_steps"] == STEPS
    assert meta["training_rows"] == STEPS * BATCH

    # Complete: a further resume says so and trains nothing; a kill between the last checkpoint and the CLT's
    # save is made good.
    for path in layout.clt_files():
        path.unlink()
    again = train_clt(model, toks, clt_cfg(activation), train_cfg(out, resume=True))
    assert "already complete (24 of 24 steps)" in capsys.readouterr().out
    assert_same_weights(again.clt, full.clt)
    assert_same_weights(load_clt(out), full.clt)
    assert again.final == resumed.final and again.losses == resumed.losses


def test_an_existing_out_dir_is_refused_unless_resume_or_overwrite(tmp_path):
    model, toks = tiny_model(), tokens()
    out = tmp_path / "clt"
    first = train_clt(model, toks, clt_cfg(), train_cfg(out, n_tokens=4 * BATCH))
    before = snapshot(out)
    with pytest.raises(RunDirError, match=r"already exists and is not empty.*--resume.*--overwrite"):
        train_clt(model, toks, clt_cfg(), train_cfg(out, n_tokens=4 * BATCH))
    assert snapshot(out) == before  # nothing touched

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="notes.txt"):
        train_clt(model, toks, clt_cfg(), train_cfg(other, n_tokens=4 * BATCH))
    empty = tmp_path / "empty"
    empty.mkdir()
    train_clt(model, toks, clt_cfg(), train_cfg(empty, n_tokens=2 * BATCH))  # an empty directory is fine

    # --overwrite: the old run's CLT and checkpoints go, other files stay.
    (out / "notes.txt").write_text("mine")
    again = train_clt(model, toks, clt_cfg(k=8), train_cfg(out, n_tokens=2 * BATCH, ckpt_interval=1, overwrite=True))
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in CLTLayout(out).checkpoints.glob("step_*")) == ["step_000001", "step_000002"]
    assert load_clt(out).cfg.k == 8 and again.steps == 2 and first.steps == 4
    with pytest.raises(SAEConfigError, match="resume.*overwrite"):
        train_cfg(out, resume=True, overwrite=True)
    with pytest.raises(SAEConfigError, match="out_dir"):
        CLTTrainConfig(resume=True)


def test_a_resume_with_another_model_tokens_or_settings_is_refused(tmp_path, monkeypatch):
    model, toks = tiny_model(), tokens()
    out = tmp_path / "clt"
    killed_at(monkeypatch, CKPT + 1)
    with pytest.raises(KeyboardInterrupt):
        train_clt(model, toks, clt_cfg(), train_cfg(out))
    monkeypatch.undo()
    saved = snapshot(out)
    with pytest.raises(RunDirError, match="another model"):
        train_clt(tiny_model(seed=1), toks, clt_cfg(), train_cfg(out, resume=True))
    with pytest.raises(RunDirError, match="the tokens"):
        train_clt(model, tokens(seed=1), clt_cfg(), train_cfg(out, resume=True))
    with pytest.raises(RunDirError, match=r"k: 4 -> 8.*--overwrite"):
        train_clt(model, toks, clt_cfg(k=8), train_cfg(out, resume=True))
    with pytest.raises(RunDirError, match=r"lr: 0.003 -> 0.001"):
        train_clt(model, toks, clt_cfg(), train_cfg(out, resume=True, lr=1e-3))
    assert snapshot(out) == saved  # refusals change nothing
    # Harmless settings may change.
    result = train_clt(model, toks, clt_cfg(), train_cfg(out, resume=True, ckpt_interval=5))
    assert result.steps == STEPS


def test_a_run_killed_before_its_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    model, toks = tiny_model(), tokens()
    out = tmp_path / "clt"
    killed_at(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train_clt(model, toks, clt_cfg(), train_cfg(out))
    monkeypatch.undo()
    assert not out.exists()
    # The Python API without an out_dir saves nothing and needs no flags.
    result = train_clt(model, toks, clt_cfg(), replace(train_cfg(out), out_dir="", n_tokens=2 * BATCH))
    assert result.out_dir is None and not out.exists()


def test_train_clt_help_and_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train-clt", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--resume", "--overwrite", "--ckpt-interval", "--d-sae", "--expansion", "--export-circuit-tracer"):
        assert option in text
    assert "0: expansion * d_model" in text and "--skip" not in text  # special values said; fixed fields hidden
    docs = field_docs(CLTTrainCommandConfig)
    assert [f.name for f in fields(CLTTrainCommandConfig) if not docs.get(f.name)] == []
    args = build_parser().parse_args(["train-clt", "runs/x", "--out-dir", "runs/c", "--d-sae", "16,8",
                                      "--activation", "jumprelu", "--resume"])
    cfg = dataclass_from_args(CLTTrainCommandConfig, args)
    assert (cfg.run_dir, cfg.out_dir, cfg.d_sae, cfg.resume) == ("runs/x", "runs/c", [16, 8], True)
    clt = cfg.clt_config(n_layers=2, d_model=D)
    assert clt.widths == [16, 8] and clt.activation == "jumprelu" and clt.k is None
    assert cfg.train_config().resume and not hasattr(cfg.train_config(), "run_dir")
    expanded = dataclass_from_args(CLTTrainCommandConfig, build_parser().parse_args(["train-clt", "--expansion", "3"]))
    assert expanded.clt_config(n_layers=2, d_model=D).widths == [3 * D, 3 * D]
    for bad in (["--activation", "gated"], ["--d-sae", "x"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train-clt", *bad])
    with pytest.raises(SAEConfigError, match="batchtopk or jumprelu"):
        CLTTrainCommandConfig(activation="topk", export_circuit_tracer="runs/ct")


def test_train_clt_command_end_to_end(tiny_run_dir, tmp_path, capsys):
    out, ct = tmp_path / "clt", tmp_path / "clt-ct"
    line = ["train-clt", str(tiny_run_dir), "--out-dir", str(out), "--activation", "batchtopk", "--k", "4",
            "--expansion", "2", "--n-tokens", "2048", "--batch-size", "256", "--ckpt-interval", "3", "--no-progress",
            "--device", "cpu"]
    assert main([*line, "--export-circuit-tracer", str(ct)]) == 0
    said = capsys.readouterr().out
    assert "layer 0: fvu" in said and "layer 1: fvu" in said and "8 steps, 2,048 rows" in said
    assert f"CLT                    {out}" in said and f"interp graph {tiny_run_dir}" in said
    clt = load_clt(out)
    assert clt.cfg.widths == [128, 128] and clt.cfg.metadata["model_run"] == str(tiny_run_dir)
    assert clt.cfg.metadata["training_steps"] == 8
    exported = load_circuit_tracer(ct)
    torch.testing.assert_close(exported.encoder(1).W_enc, clt.encoder(1).W_enc)
    assert sorted(p.name for p in CLTLayout(out).checkpoints.glob("step_*")) == ["step_000006", "step_000008"]

    assert main(line) == 2  # the same out dir again: refused, naming both ways on
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err
    assert main([*line, "--resume"]) == 0
    assert "already complete (8 of 8 steps)" in capsys.readouterr().out

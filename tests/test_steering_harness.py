"""The steering harness: every registered method is the unsteered model at strength 0 and shares DiffMean's unit,
`interp steer` writes its results and chosen steerings (reloadable), and bad input is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import interp
from interp.app.cli import main
from interp.errors import ConfigError, HookNameError, InputError, RunDirError
from interp.steering import Steering
from interp.steering.config import SteerConfig
from interp.steering.harness import load_result, run_steering
from interp.steering.methods import METHODS, MethodInputs, load_plugins, methods_for
from interp.tasks.concepts import actadd_pair, concept_texts
from saes.base import build_sae
from saes.config import SAEConfig
from saes.format import save_sae

HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def model(tiny_run_dir: Path):
    return interp.load(tiny_run_dir, device="cpu")


@pytest.fixture(scope="module")
def sae_dir(model, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    sae = build_sae(SAEConfig(architecture="topk", d_in=model.cfg.d_model, d_sae=64, k=8, hook_name=HOOK))
    out = tmp_path_factory.mktemp("sae") / "sae"
    save_sae(sae, out)
    return out


def _inputs(model, goal: str, sae_dir: Path | str = "") -> MethodInputs:
    with_c, without = concept_texts("sea", n=6)
    return MethodInputs(model, HOOK, "all", goal, with_c, without, actadd_pair("sea"), str(sae_dir), 3)


def test_every_method_is_the_model_at_strength_zero_and_steers_at_one(model, sae_dir) -> None:
    load_plugins()
    assert {"diffmean", "actadd", "probe", "ablate", "sae", "sae_clamp"} <= set(METHODS)
    tokens = model.to_tokens(["Tom lived in a little house by the ocean. Tom", "Mia went to the park."])
    with torch.no_grad():
        clean = model(tokens)
        for goal in ("add", "remove"):
            inputs = _inputs(model, goal, sae_dir)
            for method in methods_for(goal, with_sae=True):
                steering = method.build(inputs)
                with steering.scaled(0).applied(model):
                    assert torch.equal(model(tokens), clean), (goal, method.name)
                with steering.applied(model):
                    assert (model(tokens) - clean).abs().max() > 1e-3, (goal, method.name)


def test_added_directions_share_diffmean_length_and_point_by_goal(model, sae_dir) -> None:
    add, remove = _inputs(model, "add", sae_dir), _inputs(model, "remove", sae_dir)
    ref = add.diffmean()
    for name in ("diffmean", "actadd", "probe", "sae"):
        d_add = METHODS[name].build(add).interventions[0].direction
        d_remove = METHODS[name].build(remove).interventions[0].direction
        assert torch.allclose(d_add.norm(), ref.norm(), rtol=1e-4), name
        assert float(d_add @ ref) > 0 and torch.allclose(d_remove, -d_add, atol=1e-5), name


def test_steer_command_writes_results_and_reloadable_steerings(tiny_run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "steer"
    args = ["steer", str(tiny_run_dir), "--concept", "sad", "--methods", "diffmean,probe", "--strengths", "2,4",
            "--n-prompts", "4", "--n-fit", "4", "--max-new-tokens", "6", "--val-windows", "2", "--out-dir", str(out),
            "--no-progress", "--goal", "both"]
    assert main(args) == 0
    assert "diffmean" in capsys.readouterr().out
    result = load_result(out)
    test, dev = result.test, result.dev
    assert sorted(zip(test.goal, test.method, strict=True)) == sorted(
        [("add", "diffmean"), ("add", "probe"), ("remove", "diffmean"), ("remove", "probe")])
    assert set(dev.strength) == {0.0, 2.0, 4.0} and len(dev) == 2 * 2 * 3
    for row in test.to_dict("records"):
        assert row["strength"] == result.results["chosen_strengths"][row["goal"]][row["method"]]
        assert 0 <= row["concept_rate"] <= 1 and row["val_loss"] > 0
    saved = Steering.load(out / "steering" / "add-diffmean")
    assert saved.interventions[0].strength == result.results["chosen_strengths"]["add"]["diffmean"]
    assert (out / "report.html").read_text().count("Concept against fluency") == 1
    assert json.loads((out / "results.json").read_text())["hook"] == HOOK
    with pytest.raises(RunDirError, match="--overwrite"):
        run_steering(SteerConfig(run_dir=str(tiny_run_dir), out_dir=str(out)))


def test_bad_input_is_refused_before_any_work(tiny_run_dir: Path, model, tmp_path: Path) -> None:
    base = dict(run_dir=str(tiny_run_dir), out_dir=str(tmp_path / "x"), n_prompts=2, n_fit=2, progress=False)
    with pytest.raises(InputError, match="Unknown concept 'toxic'"):
        run_steering(SteerConfig(**base, concept="toxic"))
    with pytest.raises(ConfigError, match="besides 0"):
        run_steering(SteerConfig(**base, strengths="0"))
    with pytest.raises(ConfigError, match="comma-separated"):
        run_steering(SteerConfig(**base, strengths="1;2"))
    with pytest.raises(InputError, match="Unknown steering method 'caa'"):
        run_steering(SteerConfig(**base, methods="caa"))
    with pytest.raises(InputError, match="cannot add"):
        run_steering(SteerConfig(**base, methods="ablate", goal="add"))
    with pytest.raises(InputError, match="--sae-dir"):
        run_steering(SteerConfig(**base, methods="sae"))
    with pytest.raises(HookNameError, match="hook_resid_pre"):
        run_steering(SteerConfig(**base, hook="blocks.1.hook_resid_prex"))
    assert not (tmp_path / "x").exists()


def test_an_sae_of_another_hook_or_model_is_refused(model, tmp_path: Path) -> None:
    wide = build_sae(SAEConfig(architecture="topk", d_in=model.cfg.d_model * 2, d_sae=32, k=4, hook_name=HOOK))
    save_sae(wide, tmp_path / "wide")
    with pytest.raises(InputError, match="d_in|width|d_model"):
        METHODS["sae"].build(_inputs(model, "add", tmp_path / "wide"))
    elsewhere = build_sae(SAEConfig(architecture="topk", d_in=model.cfg.d_model, d_sae=32, k=4,
                                    hook_name="blocks.7.hook_resid_pre"))
    save_sae(elsewhere, tmp_path / "elsewhere")
    with pytest.raises((InputError, HookNameError), match="blocks.7"):
        METHODS["sae"].build(_inputs(model, "add", tmp_path / "elsewhere"))


def test_batched_generation_and_fluency_equal_one_prompt_at_a_time(model) -> None:
    from interp.steering.evaluate import continuation_loss, generate

    prompts = ["Tom went to the park.", "Once upon a time, there was a girl named Mia. Mia liked to play.", "Bob ran."]
    batched = generate(model, prompts, max_new_tokens=8, temperature=0.0)
    alone = generate(model, prompts, max_new_tokens=8, temperature=0.0, batch_size=1)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batched, alone, strict=True))
    assert continuation_loss(model, batched) == pytest.approx(continuation_loss(model, batched, batch_size=1), abs=1e-5)

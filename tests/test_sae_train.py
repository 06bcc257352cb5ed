"""SAE training, evaluation, splicing and dashboards on the tiny trained run (hand-built known answers)."""

from __future__ import annotations

import json

import pytest
import torch

from interp.errors import HookNameError, NonFiniteLossError
from interp.io import hash_state_dict
from saes import SAEConfig, build_sae
from saes.errors import SAEConfigError, SAEShapeError
from saes.evaluate import evaluate_sae
from saes.format import load_sae
from saes.hooked import run_with_saes
from saes.train import SAETrainer, train_saes
from saes.train_config import SAETrainConfig


@pytest.fixture(scope="module")
def tiny_model(tiny_run_dir):
    import interp

    return interp.load(tiny_run_dir, device="cpu")


@pytest.fixture(scope="module")
def val_tokens(tiny_data_dir):
    from interp.data.shards import TokenShards

    return TokenShards(tiny_data_dir / "val").batch(range(0, 24 * 64, 64), 64)


def _cfg(run_dir, out, **kw) -> SAETrainConfig:
    base = dict(run_dir=str(run_dir), out_dir=str(out), n_tokens=24_576, batch_size=512, lr=2e-3, progress=False,
                buffer_size=4096, ckpt_interval=16, log_interval=4, dead_tokens=5_000,
                saes=[{"name": "sae", "hook": "blocks.1.hook_resid_pre", "architecture": "topk", "k": 8,
                       "expansion": 4},
                      {"name": "tc", "hook": "blocks.0.ln2.hook_normalized", "hook_out": "blocks.0.hook_mlp_out",
                       "architecture": "standard", "expansion": 4, "l1_coefficient": 1.0}])
    return SAETrainConfig(**{**base, **kw})


def test_two_saes_from_one_pass_learn_and_know_their_model(tiny_run_dir, tiny_model, tmp_path) -> None:
    result = train_saes(_cfg(tiny_run_dir, tmp_path / "run"), model=tiny_model)
    assert set(result.sae_dirs) == {"sae", "tc"} and result.steps == 48
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for name in ("sae", "tc"):
        assert rows[-1]["saes"][name]["fvu"] < 0.6 * rows[0]["saes"][name]["fvu"], name  # it learnt
        sae = load_sae(result.sae_dirs[name])
        assert sae.cfg.metadata["model_hash"] == hash_state_dict(tiny_model.state_dict())
    assert load_sae(result.sae_dirs["tc"]).cfg.hook_name_out == "blocks.0.hook_mlp_out"


def test_saved_sae_has_the_normalisation_folded_in(tiny_run_dir, tiny_model, tmp_path) -> None:
    trainer = SAETrainer(_cfg(tiny_run_dir, tmp_path / "run", n_tokens=4096), model=tiny_model)
    trainer.run()
    hook = "blocks.1.hook_resid_pre"
    x = torch.randn(16, tiny_model.cfg.d_model) * 3
    scale = trainer.scales[hook]
    trained, saved = trainer.saes["sae"], load_sae(tmp_path / "run" / "sae")
    assert scale != pytest.approx(1.0)
    assert torch.allclose(saved(x), trained(x * scale) / scale, atol=1e-4)
    assert torch.equal(saved.encode(x) > 0, trained.encode(x * scale) > 0)


def test_resume_reaches_the_same_weights(tiny_run_dir, tiny_model, tmp_path) -> None:
    full = SAETrainer(_cfg(tiny_run_dir, tmp_path / "full"), model=tiny_model)
    full.run()
    part = SAETrainer(_cfg(tiny_run_dir, tmp_path / "part"), model=tiny_model)
    for _ in range(20):  # "killed" after step 20; its last checkpoint is step 16
        part.train_step(next(part.store))
        if part.step % 16 == 0:
            part.save_checkpoint()
    resumed = SAETrainer(_cfg(tiny_run_dir, tmp_path / "part", resume=True), model=tiny_model)
    assert resumed.step == 16
    resumed.run()
    for name in ("sae", "tc"):
        for key, value in full.saes[name].state_dict().items():
            assert torch.allclose(value, resumed.saes[name].state_dict()[key], atol=1e-5), (name, key)


def _exact_sae(d: int, hook: str) -> torch.nn.Module:
    """relu(x) - relu(-x) = x: a standard SAE with W_enc = [I, -I], W_dec = [I; -I] reconstructs exactly."""
    sae = build_sae(SAEConfig(architecture="standard", d_in=d, d_sae=2 * d, hook_name=hook))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def _resid(model, tokens, hook: str) -> torch.Tensor:
    """``[n_tokens, d_model]``: the activations at ``hook``, BOS positions left out."""
    _, cache = model.run_with_cache(tokens, names_filter=hook)
    return cache[hook][:, 1:].flatten(0, 1)


def test_evaluation_on_hand_built_saes(tiny_model, val_tokens) -> None:
    hook = "blocks.1.hook_resid_pre"
    exact = evaluate_sae(tiny_model, _exact_sae(tiny_model.cfg.d_model, hook), val_tokens)
    assert exact["fvu"] < 1e-10 and exact["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert exact["ce_spliced"] == pytest.approx(exact["ce_clean"], abs=1e-5)
    assert exact["ce_recovered"] == pytest.approx(1.0, abs=1e-5) and exact["kl"] == pytest.approx(0.0, abs=1e-6)
    # Feature i fires where x_i > 0, feature d + i where x_i < 0 (BOS positions left out, as evaluate_sae does).
    x = _resid(tiny_model, val_tokens, hook)
    density = torch.cat([(x > 0).float().mean(0), (x < 0).float().mean(0)])
    assert torch.allclose(exact["density"], density, atol=1e-6)
    assert exact["dead"] == pytest.approx(float((density == 0).float().mean()))
    zero = _exact_sae(tiny_model.cfg.d_model, hook)
    with torch.no_grad():
        zero.W_dec.zero_()
    ablated = evaluate_sae(tiny_model, zero, val_tokens)
    assert ablated["ce_spliced"] == pytest.approx(ablated["ce_zero"], abs=1e-5)
    assert ablated["ce_recovered"] == pytest.approx(0.0, abs=1e-5)
    assert ablated["fvu"] > 0.99  # the zero vector explains nothing (it also misses the mean)


def test_transcoder_splice_replaces_the_mlp(tiny_model, val_tokens) -> None:
    d = tiny_model.cfg.d_model
    tc = build_sae(SAEConfig(architecture="standard", d_in=d, d_sae=8, hook_name="blocks.0.ln2.hook_normalized",
                             hook_name_out="blocks.0.hook_mlp_out"))
    with torch.no_grad():
        tc.W_dec.zero_()
    tokens = val_tokens[:4]
    spliced, feats = run_with_saes(tiny_model, tokens, [tc])
    with tiny_model.hooks(fwd_hooks=[("blocks.0.hook_mlp_out", lambda a, hook: torch.zeros_like(a))]):
        zero = tiny_model(tokens)
    assert torch.allclose(spliced, zero, atol=1e-5)
    assert feats["blocks.0.ln2.hook_normalized"].shape == (*tokens.shape, 8)
    # keep_error: an unedited splice leaves the model exactly as it was.
    kept, _ = run_with_saes(tiny_model, tokens, [tc], keep_error=True)
    assert torch.allclose(kept, tiny_model(tokens), atol=1e-4)


def test_dashboard_finds_the_promoted_token(tiny_model, val_tokens, tmp_path) -> None:
    from saes.dashboard import feature_stats, write_dashboards

    hook = "blocks.1.hook_resid_pre"
    sae = _exact_sae(tiny_model.cfg.d_model, hook)
    f = int((_resid(tiny_model, val_tokens, hook) > 0).float().mean(0).argmax())  # a feature that fires
    # Feature f's decoder direction is the unembedding of the token whose unembedding is longest: its logit,
    # |W_U[:, t]|, beats every other token's |W_U[:, j]| cos(j, t), so it must be the top promoted token.
    target = int(tiny_model.W_U.norm(dim=0).argmax())
    with torch.no_grad():
        sae.W_dec[f] = tiny_model.W_U[:, target] / tiny_model.W_U[:, target].norm()
    stats = feature_stats(tiny_model, sae, val_tokens, [f])[0]
    assert stats.promoted[0][0] == tiny_model.tokenizer.decode([target])
    # The top example peaks at the feature's maximum (a context may also show its window's first position, which
    # the statistics leave out, so the peak is read at the peak index, not as the context's max).
    _, acts, peak = stats.contexts[0]
    assert acts[peak] == pytest.approx(stats.max_act) and max(acts[1:]) <= stats.max_act + 1e-6
    other = (f + 1) % sae.cfg.d_sae
    index = write_dashboards(tiny_model, sae, val_tokens, tmp_path / "dash", features=[f, other])
    assert (tmp_path / "dash" / f"feature_{f}.html").exists() and f"feature_{other}.html" in index.read_text()


def test_sae_commands(tiny_run_dir, tmp_path, capsys) -> None:
    from interp.app.cli import main

    out = tmp_path / "cli"
    assert main(["train-sae", str(tiny_run_dir), "--out-dir", str(out), "--hook",
                 "blocks.1.hook_resid_pre", "--k", "8", "--expansion", "2", "--n-tokens", "65536", "--batch-size",
                 "512", "--buffer-size", "2048", "--no-progress"]) == 0
    sae_dir = out / "topk-blocks.1.hook_resid_pre"
    said = capsys.readouterr().out
    assert f"interp eval-sae {sae_dir} --run-dir {tiny_run_dir}" in said and "RUN_DIR" not in said
    assert main(["eval-sae", str(sae_dir), "--run-dir", str(tiny_run_dir), "--n-tokens", "512"]) == 0
    metrics = json.loads((sae_dir / "eval.json").read_text())
    assert metrics["l0"] <= 8 and 0 <= metrics["fvu"] < 1
    table = capsys.readouterr().out
    assert str(sae_dir / "eval.json") in table
    assert any(line.split()[:1] == ["fvu"] and float(line.split()[1]) == pytest.approx(metrics["fvu"], rel=1e-3)
               for line in table.splitlines())  # one metric a line, not k=v
    assert main(["dashboard", str(sae_dir), "--run-dir", str(tiny_run_dir), "--n-tokens", "512", "--n-features",
                 "3"]) == 0
    assert len(list((sae_dir / "dashboard").glob("feature_*.html"))) == 3
    assert str(sae_dir / "dashboard") in capsys.readouterr().out


def test_bad_sae_input(tiny_run_dir, tiny_model, tmp_path) -> None:
    with pytest.raises(HookNameError, match="blocks.1.hook_resid_pre"):
        SAETrainer(_cfg(tiny_run_dir, tmp_path / "a", saes=[{"hook": "blocks.1.hook_resid_pr"}]), model=tiny_model)
    with pytest.raises(SAEConfigError, match="k=99"):
        SAEConfig(architecture="topk", d_in=8, d_sae=16, k=99)
    sae = build_sae(SAEConfig(architecture="topk", d_in=8, d_sae=16, k=2, hook_name="h"))
    with pytest.raises(SAEShapeError, match="width 8"):
        sae.encode(torch.randn(3, 9))
    trainer = SAETrainer(_cfg(tiny_run_dir, tmp_path / "b"), model=tiny_model)
    batch = next(trainer.store)
    batch["blocks.1.hook_resid_pre"][0, 0] = float("nan")
    before = trainer.saes["sae"].W_enc.detach().clone()
    with pytest.raises(NonFiniteLossError, match="nothing was updated"):
        trainer.train_step(batch)
    assert torch.equal(before, trainer.saes["sae"].W_enc)


def test_the_start_is_taken_from_the_data(tiny_run_dir, tiny_model, tmp_path) -> None:
    """init_from_data: each decoder bias at its target's mean (scaled as trained); the transcoder's pre-activations
    centred on its inputs and its decoder rows zero; off, zero biases and random rows."""
    trainer = SAETrainer(_cfg(tiny_run_dir, tmp_path / "run"), model=tiny_model)
    sae, tc = trainer.saes["sae"], trainer.saes["tc"]
    x = trainer.store.sample("blocks.1.hook_resid_pre") * trainer.scales["blocks.1.hook_resid_pre"]
    torch.testing.assert_close(sae.b_dec.detach(), x.mean(0))
    x_in = trainer.store.sample("blocks.0.ln2.hook_normalized") * trainer.scales["blocks.0.ln2.hook_normalized"]
    y = trainer.store.sample("blocks.0.hook_mlp_out") * trainer.scales["blocks.0.hook_mlp_out"]
    torch.testing.assert_close(tc.b_dec.detach(), y.mean(0))
    with torch.no_grad():
        assert tc.pre_acts(x_in).mean(0).abs().max() < 1e-4
    assert not tc.W_dec.any() and sae.W_dec.norm(dim=1).min() > 0
    plain = SAETrainer(_cfg(tiny_run_dir, tmp_path / "plain", init_from_data=False), model=tiny_model)
    assert not plain.saes["sae"].b_dec.any() and plain.saes["tc"].W_dec.norm(dim=1).min() > 0

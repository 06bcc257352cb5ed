"""Cross-layer transcoders (saes/clt.py, clt_format.py, clt_train.py): known answers, the cross-layer decoders'
effect, training on a tiny model, the on-disk formats and bad input."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from interp.io import hash_state_dict
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from saes import SAEConfig, SAEConfigError, SAEShapeError, build_sae, build_transcoder
from saes.clt import ACTIVATIONS, CLTConfig, CrossLayerTranscoder, run_with_clt
from saes.clt_format import CLTLayout, export_circuit_tracer, load_circuit_tracer, load_clt, save_clt
from saes.clt_train import CLTTrainConfig, train_clt
from saes.errors import SAECheckpointError
from saes.hooked import run_with_saes

D, W, K = 32, 64, 4


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tiny_model(seed: int = 0) -> HookedTransformer:
    cfg = HookedTransformerConfig(n_layers=2, d_model=D, n_heads=2, d_head=16, d_mlp=64, n_ctx=16, d_vocab=50,
                                  act_fn="gelu", seed=seed)
    return HookedTransformer(cfg).eval()


def mlp_acts(model: HookedTransformer, tokens: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    names = [f"blocks.{layer}.{h}" for layer in range(2) for h in ("ln2.hook_normalized", "hook_mlp_out")]
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in names)
    return ([cache[f"blocks.{layer}.ln2.hook_normalized"] for layer in range(2)],
            [cache[f"blocks.{layer}.hook_mlp_out"] for layer in range(2)])


def randomised_transcoders(activation: str, seed: int = 0) -> list:
    """Per-layer transcoders with every parameter random (biases and thresholds too), so nothing matches by
    being zero."""
    tcs = []
    for layer in range(2):
        tc = build_transcoder(activation, d_in=D, d_sae=W, layer=layer, k=K)
        g = _gen(seed + layer)
        with torch.no_grad():
            for name, t in tc.state_dict().items():
                t.copy_(torch.randn(t.shape, generator=g) * (0.3 if name.startswith("W") else 0.1))
            if hasattr(tc, "threshold"):
                tc.threshold.copy_(torch.rand(tc.threshold.shape, generator=g) * 0.4)
        tcs.append(tc)
    return tcs


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_clt_from_transcoders_equals_the_transcoders(activation):
    model = tiny_model()
    tokens = torch.randint(0, 50, (4, 16), generator=_gen(1))
    ins, outs = mlp_acts(model, tokens)
    tcs = randomised_transcoders(activation)
    clt = CrossLayerTranscoder.from_transcoders(tcs)
    assert clt.cfg.activation == activation and clt.cfg.widths == [W, W]
    with torch.no_grad():
        acts, recon = clt.encode(ins), clt(ins)
        for layer, tc in enumerate(tcs):
            expected = tc.encode(ins[layer])
            assert 0 < (expected > 0).float().mean() < 0.9  # some latents fire, not all: a real test of the activation
            torch.testing.assert_close(acts[layer], expected, atol=1e-6, rtol=0)
            torch.testing.assert_close(recon[layer], tc(ins[layer]), atol=1e-6, rtol=0)
        assert clt.W_dec(0)[:, 1].abs().max() == 0  # decoders only to their own layer
        # Spliced into the model: the CLT replacing both MLPs equals the two transcoders replacing them.
        logits, record = run_with_clt(model, tokens, clt)
        ref_logits, ref_feats = run_with_saes(model, tokens, tcs)
        torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=0)
        for layer, tc in enumerate(tcs):
            torch.testing.assert_close(record[layer], ref_feats[tc.cfg.hook_name], atol=1e-6, rtol=0)
        assert (logits - model(tokens)).abs().max() > 1e-3  # the splice changed the model
    # The training loss is the transcoders' losses summed (MSE, and L1 / L0 penalties with the same decoder norms).
    rows_in, rows_out = [x.reshape(-1, D) for x in ins], [y.reshape(-1, D) for y in outs]
    ours = clt.training_loss(rows_in, rows_out)
    theirs = [tc.training_loss(x, y) for tc, x, y in zip(tcs, rows_in, rows_out, strict=True)]
    torch.testing.assert_close(ours.mse, torch.stack([t.parts["mse"] for t in theirs]).detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.loss, sum(t.loss for t in theirs), rtol=1e-5, atol=1e-6)


def test_cross_layer_decoder_reconstructs_what_per_layer_transcoders_cannot():
    """Layer 1's target is written by layer 0's latents; layer 1's input is independent of layer 0's. The CLT with
    that planted decoder reconstructs it exactly; without it (the per-layer CLT), or with the best affine decoder
    any per-layer transcoder could put on layer 1's own latents and input, almost none of it."""
    torch.manual_seed(0)
    clt = CrossLayerTranscoder(CLTConfig(n_layers=2, d_model=8, d_sae=16, activation="topk", k=2))
    x0, x1 = torch.randn(4096, 8, generator=_gen(2)), torch.randn(4096, 8, generator=_gen(3))
    planted = torch.randn(16, 8, generator=_gen(4))
    with torch.no_grad():
        clt.W_dec(0)[:, 1] = planted
        clt.W_dec(1).zero_()
        clt.b_dec.normal_(generator=_gen(5))
        a0, a1 = clt.encode([x0, x1])
        target1 = a0 @ planted + clt.b_dec[1]
        out = clt([x0, x1])
        # The reconstruction is the sum over source layers, written out by hand.
        by_hand = a0 @ clt.W_dec(0)[:, 1] + a1 @ clt.W_dec(1)[:, 0] + clt.b_dec[1]
        torch.testing.assert_close(out[1], by_hand, atol=1e-6, rtol=0)
        torch.testing.assert_close(out[1], target1, atol=1e-5, rtol=0)
        torch.testing.assert_close(out[0], a0 @ clt.W_dec(0)[:, 0] + clt.b_dec[0], atol=1e-6, rtol=0)
        var = (target1 - target1.mean(0)).pow(2).sum(-1).mean()
        clt.W_dec(0)[:, 1] = 0  # the same CLT without its cross-layer decoder
        fvu_without = float((clt([x0, x1])[1] - target1).pow(2).sum(-1).mean() / var)
    assert fvu_without > 0.9
    design = torch.cat([a1, x1, torch.ones(len(x1), 1)], 1)  # layer 1's latents, a skip from its input, a bias
    best = torch.linalg.lstsq(design, target1).solution
    fvu_best_per_layer = float((design @ best - target1).pow(2).sum(-1).mean() / var)
    assert fvu_best_per_layer > 0.9


def test_train_clt_lowers_the_loss_and_recovers_the_model(tmp_path):
    """A TopK CLT trained briefly on a tiny model: the loss falls, and spliced in for both MLPs it brings the
    model's predictions far closer to the original than zero-ablating the MLPs does (KL to the clean logits, i.e.
    the cross-entropy against the clean model's own distribution)."""
    model = tiny_model(seed=1)
    tokens = torch.randint(0, 50, (3000, 16), generator=_gen(6))
    result = train_clt(model, tokens, CLTConfig(n_layers=2, d_model=D, d_sae=128, activation="topk", k=8),
                       CLTTrainConfig(n_tokens=40_000, batch_size=256, lr=3e-3, warmup_steps=5, progress=False,
                                      out_dir=str(tmp_path / "clt")))
    losses = result.losses
    assert result.steps == len(losses) == 156 and result.rows == 156 * 256
    assert sum(losses[-5:]) / 5 < 0.3 * sum(losses[:5]) / 5
    assert max(result.final["fvu"]) < 0.4 and result.final["l0"] == [8.0, 8.0]
    saved = load_clt(result.out_dir)
    assert saved.cfg.metadata["model_hash"] == hash_state_dict(model.state_dict())
    assert saved.cfg.metadata["training_steps"] == 156
    test = torch.randint(0, 50, (32, 16), generator=_gen(7))

    def kl(logits: torch.Tensor, ref: torch.Tensor) -> float:
        p = ref.log_softmax(-1)
        return float((p.exp() * (p - logits.log_softmax(-1))).sum(-1)[:, 1:].mean())

    with torch.no_grad():
        clean = model(test)
        spliced, _ = run_with_clt(model, test, result.clt)
        zero = model.run_with_hooks(test, fwd_hooks=[(f"blocks.{layer}.hook_mlp_out", lambda a, hook: a * 0)
                                                     for layer in range(2)])
        # The splice is the CLT's forward pass on the spliced run's own MLP inputs (cross-layer terms included).
        with model.hooks(fwd_hooks=result.clt.splice_hooks()):
            ins, outs = mlp_acts(model, test)
        for got, want in zip(result.clt(ins), outs, strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    kl_zero, kl_clt = kl(zero, clean), kl(spliced, clean)
    assert kl_zero > 0.05  # the MLPs matter to this model
    assert kl_clt < 0.25 * kl_zero


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_save_load_round_trip_is_exact(tmp_path, activation):
    tcs = randomised_transcoders(activation, seed=3)
    clt = CrossLayerTranscoder.from_transcoders(tcs)
    with torch.no_grad():
        for p in clt.parameters():  # cross-layer decoders non-zero too
            p.add_(torch.randn(p.shape, generator=_gen(8)) * 0.05)
        clt.after_step_()
    out = save_clt(clt, tmp_path / "clt", {"model_hash": "abc"})
    assert sorted(p.name for p in out.iterdir()) == [CLTLayout.CONFIG, CLTLayout.WEIGHTS]
    doc = json.loads((out / CLTLayout.CONFIG).read_text())
    assert doc["format"] == "workbench_clt" and doc["config"]["metadata"]["model_hash"] == "abc"
    assert load_file(str(out / CLTLayout.WEIGHTS))["W_dec.0"].shape == (W, 2, D)
    loaded = load_clt(out)
    assert loaded.cfg == clt.cfg
    assert clt.state_dict().keys() == loaded.state_dict().keys()
    for name, t in clt.state_dict().items():
        assert torch.equal(t, loaded.state_dict()[name]), name
    x = [torch.randn(10, D, generator=_gen(9)) for _ in range(2)]
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(clt(x), loaded(x), strict=True))


def test_save_load_uneven_widths_and_corrupt_directories(tmp_path):
    clt = CrossLayerTranscoder(CLTConfig(n_layers=3, d_model=8, d_sae=[4, 6, 8], activation="jumprelu"))
    loaded = load_clt(save_clt(clt, tmp_path / "a"))
    assert loaded.cfg.widths == [4, 6, 8] and [loaded.W_dec(i).shape[1] for i in range(3)] == [3, 2, 1]
    # A config that does not match the weights, a missing file, garbage JSON: named errors.
    doc = json.loads((tmp_path / "a" / CLTLayout.CONFIG).read_text())
    doc["config"]["d_sae"] = [4, 6, 9]
    (tmp_path / "a" / CLTLayout.CONFIG).write_text(json.dumps(doc))
    with pytest.raises(SAECheckpointError, match="threshold.2|W_enc.2|do not belong together"):
        load_clt(tmp_path / "a")
    (tmp_path / "a" / CLTLayout.CONFIG).write_text("{not json")
    with pytest.raises(SAECheckpointError, match="corrupt"):
        load_clt(tmp_path / "a")
    (tmp_path / "a" / CLTLayout.WEIGHTS).unlink()
    with pytest.raises(SAECheckpointError, match="not a CLT directory"):
        load_clt(tmp_path / "a")


def _circuit_tracer_reference(path, n_layers: int, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """circuit-tracer's CrossLayerTranscoder arithmetic, written out from its source: features = einsum("...d,fd->
    ...f", x, W_enc_i) + b_enc_i, then JumpReLU f * (f > threshold_i) or ReLU; layer j's output is b_dec_j plus
    every i <= j's features @ W_dec_i[:, j - i]."""
    enc = [load_file(str(path / f"W_enc_{i}.safetensors")) for i in range(n_layers)]
    dec = [load_file(str(path / f"W_dec_{i}.safetensors"))[f"W_dec_{i}"] for i in range(n_layers)]
    outs = [enc[j][f"b_dec_{j}"].clone().expand_as(xs[j]) for j in range(n_layers)]
    for i in range(n_layers):
        f = torch.einsum("...d,fd->...f", xs[i], enc[i][f"W_enc_{i}"]) + enc[i][f"b_enc_{i}"]
        f = f * (f > enc[i][f"threshold_{i}"]) if f"threshold_{i}" in enc[i] else f.relu()
        for j in range(i, n_layers):
            outs[j] = outs[j] + f @ dec[i][:, j - i]
    return outs


@pytest.mark.parametrize("activation", ["batchtopk", "jumprelu", "standard"])
def test_circuit_tracer_export_computes_the_same_function(tmp_path, activation):
    import yaml

    clt = CrossLayerTranscoder.from_transcoders(randomised_transcoders(activation, seed=5))
    with torch.no_grad():
        clt.W_dec(0)[:, 1].normal_(generator=_gen(10))  # a cross-layer decoder
    # An earlier, wider export in the directory is replaced whole (circuit-tracer counts the W_enc_* files).
    export_circuit_tracer(CrossLayerTranscoder(CLTConfig(n_layers=3, d_model=D, d_sae=W, activation="jumprelu")),
                          tmp_path / "ct")
    out = export_circuit_tracer(clt, tmp_path / "ct", model_name="tiny")
    files = sorted(p.name for p in out.iterdir())
    assert files == ["W_dec_0.safetensors", "W_dec_1.safetensors", "W_enc_0.safetensors", "W_enc_1.safetensors",
                     "config.yaml"]
    assert yaml.safe_load((out / "config.yaml").read_text()) == {
        "model_kind": "cross_layer_transcoder", "feature_input_hook": "ln2.hook_normalized",
        "feature_output_hook": "hook_mlp_out", "model_name": "tiny"}
    assert load_file(str(out / "W_enc_0.safetensors"))["W_enc_0"].shape == (W, D)  # [d_transcoder, d_model]
    xs = [torch.randn(20, D, generator=_gen(11 + i)) for i in range(2)]
    with torch.no_grad():
        ours = clt(xs)
        for a, b in zip(ours, _circuit_tracer_reference(out, 2, xs), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        back = load_circuit_tracer(out)
        assert back.cfg.activation == ("standard" if activation == "standard" else "jumprelu")
        for a, b in zip(ours, back(xs), strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(SAEConfigError, match="holds other files"):
        export_circuit_tracer(clt, tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep"


def test_bad_input_gives_named_errors():
    with pytest.raises(SAEConfigError, match="k=65 exceeds the width d_sae=64 of layer 1"):
        CLTConfig(n_layers=2, d_model=D, d_sae=[128, 64], activation="topk", k=65)
    with pytest.raises(SAEConfigError, match="needs k"):
        CLTConfig(n_layers=2, d_model=D, d_sae=64, activation="batchtopk")
    with pytest.raises(SAEConfigError, match="3 widths for n_layers=2"):
        CLTConfig(n_layers=2, d_model=D, d_sae=[8, 8, 8], activation="jumprelu")
    with pytest.raises(SAEConfigError, match="supports"):
        CLTConfig(n_layers=2, d_model=D, d_sae=64, activation="gated")
    with pytest.raises(SAEConfigError, match="must contain"):
        CLTConfig(n_layers=2, d_model=D, d_sae=64, activation="jumprelu", hook_out="blocks.0.hook_mlp_out")
    clt = CrossLayerTranscoder(CLTConfig(n_layers=2, d_model=D, d_sae=W, activation="topk", k=K))
    x = torch.randn(5, D)
    with pytest.raises(SAEShapeError, match="one input per layer"):
        clt.encode([x, x, x])
    with pytest.raises(SAEShapeError, match=r"blocks\.1\.ln2\.hook_normalized.*d_model=32"):
        clt([x, torch.randn(5, 16)])
    with pytest.raises(SAEShapeError, match="one target per layer"):
        clt.training_loss([x, x], [x])
    with pytest.raises(SAEShapeError, match="same rows"):
        clt([x, x[:3]])
    # from_transcoders: an SAE, layers out of order, mixed architectures.
    tcs = randomised_transcoders("jumprelu")
    with pytest.raises(SAEConfigError, match="in order"):
        CrossLayerTranscoder.from_transcoders(tcs[::-1])
    with pytest.raises(SAEConfigError, match="every layer alike"):
        CrossLayerTranscoder.from_transcoders([tcs[0], build_transcoder("standard", d_in=D, d_sae=W, layer=1)])
    with pytest.raises(SAEConfigError, match="an SAE"):
        CrossLayerTranscoder.from_transcoders([build_sae(SAEConfig(architecture="jumprelu", d_in=D, d_sae=W))])
    # A CLT the model cannot feed; a TopK CLT for circuit-tracer.
    model = tiny_model()
    with pytest.raises(SAEConfigError, match="the model only 2"):
        run_with_clt(model, torch.zeros(1, 4, dtype=torch.long),
                     CrossLayerTranscoder(CLTConfig(n_layers=3, d_model=D, d_sae=8, activation="jumprelu")))
    with pytest.raises(SAEConfigError, match="d_model=16"):
        train_clt(model, torch.zeros(4, 16, dtype=torch.long),
                  CLTConfig(n_layers=2, d_model=16, d_sae=8, activation="jumprelu"), CLTTrainConfig(progress=False))
    with pytest.raises(SAEConfigError, match="TopK|topk|batchtopk"):
        export_circuit_tracer(clt, "/nonexistent/never-written")


def test_the_start_is_taken_from_the_data():
    """init_from_data_: each output bias at its MLP output's mean, every encoder's pre-activations centred on its
    input's mean, every decoder zero (so the CLT starts by predicting the mean output)."""
    torch.manual_seed(0)
    clt = CrossLayerTranscoder(CLTConfig(n_layers=3, d_model=8, d_sae=16, activation="topk", k=4))
    xs = [torch.randn(64, 8) + i for i in range(3)]
    ys = [torch.randn(64, 8) * 2 - i for i in range(3)]
    clt.init_from_data_(xs, ys)
    for layer in range(3):
        torch.testing.assert_close(clt.b_dec[layer].detach(), ys[layer].mean(0))
        with torch.no_grad():
            assert clt.encoder(layer).pre_acts(xs[layer]).mean(0).abs().max() < 1e-4
        assert not clt.W_dec(layer).any()
    with torch.no_grad():
        out = clt(xs)
    for layer in range(3):
        torch.testing.assert_close(out[layer], ys[layer].mean(0).expand(64, 8))

"""Hook names, logit lens, tuned lens, direct logit attribution and head detectors on known answers."""

from __future__ import annotations

import pytest
import torch

from interp.analysis.attribution import direct_logit_attribution
from interp.analysis.heads import detector_masks, head_scores
from interp.analysis.hooks import resolve_hook_names
from interp.analysis.lens import lens_kl, logit_lens
from interp.analysis.tuned_lens import TunedLens
from interp.errors import CheckpointError, HookNameError
from tests.fixtures.induction import HALF, repeated_batch


def test_resolve_hook_names(induction_model) -> None:
    m = induction_model
    assert resolve_hook_names(m, "blocks.*.hook_resid_post") == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert resolve_hook_names(m, "blocks.1.attn.hook_z, hook_embed") == ["hook_embed", "blocks.1.attn.hook_z"]
    assert sorted(resolve_hook_names(m, r"re:blocks\.0\.attn\.hook_[qk]")) == ["blocks.0.attn.hook_k", "blocks.0.attn.hook_q"]
    with pytest.raises(HookNameError, match="Unknown hook 'blocks.0.hook_resid_pots'.*blocks.0.hook_resid_post"):
        resolve_hook_names(m, "blocks.0.hook_resid_pots")


def test_induction_fixture_learned_induction(induction_model) -> None:
    tokens = repeated_batch(16, torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss = induction_model(tokens, return_type="loss", loss_per_token=True)
    assert loss[:, HALF + 1 :].mean() < 0.5 < loss[:, 1:HALF].mean() - 2  # the repeat is predicted


def test_head_detectors_on_the_planted_circuit() -> None:
    from interp.models.planted import planted_induction_model, planted_prompts

    model, circuit = planted_induction_model()
    clean, _ = planted_prompts(model, n=8)
    scores = head_scores(model, clean)
    assert scores["previous_token"][circuit["previous_token"]] > 0.95
    assert scores["induction"][circuit["induction"]] > 0.9
    for kind in ("previous_token", "induction"):  # the uniform distractor heads score low everywhere
        assert scores[kind][:, 1].max() < 0.2


def test_trained_model_has_an_induction_head(induction_model) -> None:
    scores = head_scores(induction_model, repeated_batch(16, torch.Generator().manual_seed(2)))
    assert scores["induction"].max() > 0.08  # far above the ~1/40 of uniform attention


def test_detector_masks_by_hand() -> None:
    tokens = torch.tensor([[0, 5, 6, 5, 6]])
    m = detector_masks(tokens)
    assert m["previous_token"][0, 3].nonzero().flatten().tolist() == [2]
    assert m["duplicate_token"][0, 3].nonzero().flatten().tolist() == [1]
    assert m["induction"][0, 3].nonzero().flatten().tolist() == [2]  # token after the earlier 5
    assert m["induction"][0, 4].nonzero().flatten().tolist() == [3]  # the token after the earlier 6
    assert not m["duplicate_token"][0, 1].any()


def test_logit_lens_last_layer_is_the_model(tiny_run_dir) -> None:
    import interp

    model = interp.load(tiny_run_dir, device="cpu")
    tokens = model.to_tokens(["Once upon a time, there was a girl named Lily.", "Tom gave a ball to Mia."])
    lens = logit_lens(model, tokens)
    with torch.no_grad():
        assert torch.allclose(lens[-1], model(tokens), atol=1e-4)
    # an intermediate layer uses its own LayerNorm scale, not the final residual's
    resid0 = model.run_with_cache(tokens)[1]["blocks.1.hook_resid_pre"]
    by_hand = model.unembed(model.ln_final(resid0))
    assert torch.allclose(lens[1], by_hand, atol=1e-5)


def test_tuned_lens_beats_logit_lens_and_round_trips(tiny_run_dir, tiny_data_dir, tmp_path) -> None:
    import interp
    from interp.analysis.activations import ActivationStore, cache_activations
    from interp.analysis.tuned_lens import lens_hooks
    from interp.data.shards import TokenShards

    model = interp.load(tiny_run_dir, device="cpu")
    held_out = TokenShards(tiny_data_dir / "val").batch(list(range(0, 32 * 64, 64)), 64)
    # Trained from an activation cache (the model is not run while training; `interp lens` covers `fit`).
    cache_activations(model, TokenShards(tiny_data_dir / "train"), lens_hooks(model), 150 * 256, tmp_path / "cache",
                      progress=False)
    store = ActivationStore.from_cache(tmp_path / "cache", lens_hooks(model), batch_size=256, buffer_size=4096,
                                       model=model)
    lens = TunedLens.fit_from_store(model, store, n_steps=150, lr=3e-3, progress=False)
    tuned, plain = lens_kl(model, held_out, lens), lens_kl(model, held_out)
    assert (tuned[:-1] < plain[:-1]).all(), (tuned, plain)
    assert tuned[-1] == pytest.approx(0.0, abs=1e-5) and plain[-1] == pytest.approx(0.0, abs=1e-5)
    lens.save(tmp_path / "lens")
    again = TunedLens.load(tmp_path / "lens", model)
    assert torch.equal(lens_kl(model, held_out, again), tuned)
    other = interp.load(tiny_run_dir, device="cpu")
    with torch.no_grad():
        other.blocks[0].attn.W_Q.add_(0.1)
    with pytest.raises(CheckpointError, match="trained on model"):
        TunedLens.load(tmp_path / "lens", other)


def test_dla_sums_exactly_with_frozen_scale(tiny_run_dir) -> None:
    import interp

    model = interp.load(tiny_run_dir, device="cpu")
    prompts = ["When Mary and John went to the park, John gave a ball to",
               "When Tom and Lily went to the zoo, Lily gave a cake to"]
    tokens = model.to_tokens(prompts)
    io = torch.tensor([model.to_single_token(" Mary"), model.to_single_token(" Tom")])
    s = torch.tensor([model.to_single_token(" John"), model.to_single_token(" Lily")])
    attr = direct_logit_attribution(model, tokens, io, s)
    with torch.no_grad():
        logits = model(tokens)[:, -1]
    true = logits[torch.arange(2), io] - logits[torch.arange(2), s]
    assert torch.allclose(attr.values.sum(0), true, atol=1e-4) and attr.error < 1e-4
    neuron = direct_logit_attribution(model, tokens, io, s, neurons=True)
    assert neuron.error < 1e-4
    for layer in range(model.cfg.n_layers):  # neurons + b_out add up to the MLP's attribution
        rows = [i for i, lab in enumerate(neuron.labels) if lab.startswith(f"L{layer}N") or lab == f"L{layer} mlp bias"]
        mlp = attr.values[attr.labels.index(f"MLP{layer}")]
        assert torch.allclose(neuron.values[rows].sum(0), mlp, atol=1e-4)
    approx = direct_logit_attribution(model, tokens, io, s, ln_scale="batch_mean")
    # Not each prompt's own scale: no longer exact (the error is orders of magnitude above float rounding).
    assert approx.error > 100 * max(attr.error, 1e-7)
    print(f"DLA error with the batch-mean LayerNorm scale: {approx.error:.4f} (frozen: {attr.error:.2e})")

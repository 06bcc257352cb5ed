"""Patching on known answers: the planted circuit, TransformerLens' own patching as a slow reference, a trained
induction model, and hooks that never leak."""

from __future__ import annotations

import pytest
import torch

from interp.analysis.heads import head_scores
from interp.analysis.patching import activation_patch, attribution_patch, logit_diff, path_patch
from interp.errors import InputError
from interp.models.planted import CIRCUIT, induction_metric, planted_induction_model, planted_prompts
from tests.fixtures.induction import repeated_batch


@pytest.fixture(scope="module")
def planted():
    model, circuit = planted_induction_model()
    clean, corrupt = planted_prompts(model, n=8)
    return model, circuit, clean, corrupt, induction_metric(clean)


def _top2(grid: torch.Tensor) -> set[tuple[int, int]]:
    flat = grid.abs().flatten().argsort(descending=True)[:2]
    return {(int(i) // grid.shape[1], int(i) % grid.shape[1]) for i in flat}


def test_planted_model_does_induction(planted) -> None:
    model, _, clean, corrupt, metric = planted
    with torch.no_grad():
        assert metric(model(clean)) > 6 > 1 > metric(model(corrupt))


@pytest.mark.parametrize("method", [activation_patch, attribution_patch])
def test_both_patching_methods_rank_the_planted_heads_first(planted, method) -> None:
    model, circuit, clean, corrupt, metric = planted
    result = method(model, clean, corrupt, metric, kind="head")
    assert _top2(result.effect) == set(circuit.values())
    distractors = [(0, 1), (1, 1)]
    assert all(abs(result.effect[d].item()) < 1e-5 for d in distractors)
    assert (result.effect[CIRCUIT["induction"]] < -5).item()  # corrupting either circuit head breaks induction


def test_path_patching_finds_the_key_path(planted) -> None:
    model, circuit, clean, corrupt, metric = planted
    effects = {c: path_patch(model, clean, corrupt, metric, receiver=circuit["induction"], component=c).effect
               for c in "qkv"}
    prev = circuit["previous_token"]
    assert effects["k"][prev] < -5  # the previous-token head feeds the induction head's keys...
    assert abs(effects["q"][prev]) < 1e-5 and abs(effects["v"][prev]) < 1e-5  # ...not its queries or values
    assert torch.isnan(effects["k"][1]).all()  # senders must come before the receiver


def test_activation_patching_matches_transformer_lens(induction_model) -> None:
    from transformer_lens import patching as tl_patching

    g = torch.Generator().manual_seed(3)
    clean = repeated_batch(4, g)
    corrupt = clean.clone()
    corrupt[:, 1:21] = torch.randint(1, 64, (4, 20), generator=g)
    answer = clean[:, -1]
    wrong = (answer % 63) + 1
    metric = logit_diff(answer, wrong, position=-2)  # the last repeated token predicts clean[:, -1]
    metric_tl = lambda logits: metric(logits)  # noqa: E731
    _, clean_cache = induction_model.run_with_cache(clean)
    # noising = TL's patching run on the clean input... TL patches the corrupted run with clean activations:
    ours = activation_patch(induction_model, clean, corrupt, metric, kind="head", direction="denoise")
    theirs = tl_patching.get_act_patch_attn_head_out_all_pos(induction_model, corrupt, clean_cache, metric_tl)
    with torch.no_grad():
        base = metric(induction_model(corrupt)).item()
    assert torch.allclose(ours.effect, theirs - base, atol=1e-4)
    ours_resid = activation_patch(induction_model, clean, corrupt, metric, kind="resid", direction="denoise")
    theirs_resid = tl_patching.get_act_patch_resid_pre(induction_model, corrupt, clean_cache, metric_tl)
    assert torch.allclose(ours_resid.effect, theirs_resid - base, atol=1e-4)


def test_trained_induction_heads_matter_most(induction_model) -> None:
    g = torch.Generator().manual_seed(4)
    clean = repeated_batch(8, g)
    corrupt = clean.clone()
    corrupt[:, 1:21] = torch.randint(1, 64, (8, 20), generator=g)
    scores = head_scores(induction_model, clean)["induction"]
    top_induction = {divmod(int(i), scores.shape[1]) for i in scores.flatten().argsort(descending=True)[:2]}
    effect = activation_patch(induction_model, clean, corrupt, induction_metric(clean), kind="head").effect
    top_patch = {divmod(int(i), effect.shape[1]) for i in effect.abs().flatten().argsort(descending=True)[:3]}
    assert top_induction & top_patch, (scores, effect)
    best = divmod(int(scores.flatten().argmax()), scores.shape[1])
    assert best in top_patch


def test_hooks_never_leak(planted) -> None:
    model, _, clean, corrupt, metric = planted

    def exploding(logits):
        raise RuntimeError("metric failed")

    with pytest.raises(RuntimeError, match="metric failed"):
        activation_patch(model, clean, corrupt, exploding, kind="head")
    with pytest.raises(RuntimeError, match="metric failed"):
        attribution_patch(model, clean, corrupt, exploding, kind="head")

    def bad_hook(act, hook):
        raise ValueError("inside a hook")

    with pytest.raises(ValueError, match="inside a hook"), model.hooks(fwd_hooks=[("blocks.0.attn.hook_z", bad_hook)]):
        model(clean)
    for hp in model.hook_dict.values():
        assert not hp.fwd_hooks and not hp.bwd_hooks, hp.name


def test_bad_patching_input(planted) -> None:
    model, _, clean, corrupt, metric = planted
    with pytest.raises(InputError, match="same token shape"):
        activation_patch(model, clean, corrupt[:, :-1], metric)
    with pytest.raises(InputError, match="single number"):
        activation_patch(model, clean, corrupt, lambda logits: logits[:, -1, 0])
    with pytest.raises(InputError, match="Unknown patching kind"):
        activation_patch(model, clean, corrupt, metric, kind="neurons")
    with pytest.raises(InputError, match="attention-only"):
        activation_patch(model, clean, corrupt, metric, kind="mlp")


def test_attribution_is_exact_for_last_layer_heads_once_ln_scale_is_held(induction_model) -> None:
    """In an attention-only model, a last-layer head reaches the logits through ln_final alone: with its scale
    held at the clean run's value the metric is linear in the head's output, so attribution patching (which
    holds LayerNorm scales by default) must equal activation patching with that scale held. Without holding the
    scale, attribution differs (LayerNorm's gradient ignores the residual's own direction)."""
    g = torch.Generator().manual_seed(5)
    clean = repeated_batch(4, g)
    corrupt = clean.clone()
    corrupt[:, 1:21] = torch.randint(1, 64, (4, 20), generator=g)
    metric = induction_metric(clean)
    _, cache = induction_model.run_with_cache(clean, names_filter="ln_final.hook_scale")
    clean_scale = cache["ln_final.hook_scale"]

    def hold(scale, hook):
        return clean_scale.repeat(scale.shape[0] // clean_scale.shape[0], 1, 1)

    last = induction_model.cfg.n_layers - 1
    with induction_model.hooks(fwd_hooks=[("ln_final.hook_scale", hold)]):
        exact = activation_patch(induction_model, clean, corrupt, metric, kind="head", layers=[last]).effect[last]
    held = attribution_patch(induction_model, clean, corrupt, metric, kind="head").effect[last]
    free = attribution_patch(induction_model, clean, corrupt, metric, kind="head", freeze_ln_scale=False).effect[last]
    assert exact.abs().max() > 1  # the heads matter
    assert torch.allclose(held, exact, atol=1e-3 * exact.abs().max()), (held, exact)
    assert not torch.allclose(free, exact, atol=1e-2 * exact.abs().max())

"""Steering's known answers: strength 0 is the unsteered model for every method, DiffMean and the probe recover a
planted direction, adding a planted concept direction raises the concept's rate with strength, ablation leaves no
projection, saved steerings reload to the same logits, and bad input is refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import interp
from interp.errors import HookNameError, InputError
from interp.steering import Ablate, Add, Steering, act_add, diff_mean, probe_direction, text_activations
from saes.base import build_sae
from saes.config import SAEConfig
from saes.steering import FeatureClamp, concept_features, steer_features

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def model(tiny_run_dir: Path):
    return interp.load(tiny_run_dir, device="cpu")


@pytest.fixture(scope="module")
def sae(model):
    torch.manual_seed(0)
    return build_sae(SAEConfig(architecture="topk", d_in=model.cfg.d_model, d_sae=128, k=8, hook_name=HOOK)).eval()


def _tokens(model) -> torch.Tensor:
    return model.to_tokens(["Once upon a time, Tom and Mia went to the park.", "Tom gave the ball to Mia because he"])


def test_strength_zero_and_zero_directions_are_the_unsteered_model(model, sae) -> None:
    tokens = _tokens(model)
    with torch.no_grad():
        clean = model(tokens)
        d = torch.randn(model.cfg.d_model)
        for steering in (Steering([Add(HOOK, d, 0.0)]), Steering([Ablate(HOOK, d, 0.0)]),
                         Steering([Add(HOOK, torch.zeros(model.cfg.d_model), 5.0, "from:3")]),
                         Steering([FeatureClamp(HOOK, 0.0, sae=sae, features=[1, 2])]),
                         steer_features(sae, [1, 2], 3.0).scaled(0.0)):
            with steering.applied(model):
                assert torch.equal(model(tokens), clean), steering
        assert torch.equal(model(tokens), clean)  # nothing left behind after the block
        # Clamping features to the values they already have changes nothing but float rounding (error term kept).
        x = model.run_with_cache(tokens, names_filter=[HOOK])[1][HOOK]
        live = sae.encode(x)[..., 5]
        clamp = FeatureClamp(HOOK, 1.0, sae=sae, features=[5])
        clamp.strength = float(live[0, 3])
        assert torch.allclose(clamp.edit(x)[0, 3], x[0, 3], atol=1e-5)


def test_diff_mean_and_probe_recover_a_planted_direction() -> None:
    g = torch.Generator().manual_seed(0)
    planted = torch.nn.functional.normalize(torch.randn(64, generator=g), dim=0)
    base = torch.randn(2000, 64, generator=g)
    with_concept = base[:1000] + 3.0 * planted
    without = base[1000:]
    for found in (diff_mean(with_concept, without), probe_direction(with_concept, without)):
        assert torch.nn.functional.cosine_similarity(found, planted, dim=0) >= 0.95
    assert diff_mean(with_concept, without).norm() == pytest.approx(3.0, rel=0.1)  # not normalised


@pytest.fixture(scope="module")
def planted(tiny_run_dir: Path):
    """The tiny model with a planted concept: a random unit direction d written into " ball"'s embedding and
    unembedding, so d in the residual stream means " ball" and adding it makes the model say " ball"."""
    model = interp.load(tiny_run_dir, device="cpu")
    concept = model.to_single_token(" ball")
    d = torch.nn.functional.normalize(torch.randn(model.cfg.d_model, generator=torch.Generator().manual_seed(0)),
                                      dim=0)
    with torch.no_grad():
        model.embed.W_E[concept] += 20 * d
        model.unembed.W_U[:, concept] += 3 * d
    return model, concept, d


def test_diff_mean_finds_a_concept_planted_in_a_model_and_steers_with_it(planted) -> None:
    """DiffMean on paired texts (" ball" against " book") recovers the planted d, and adding the found direction
    raises the rate of " ball" in sampled continuations with strength; ablating it removes d's component."""
    model, concept, d = planted
    hook = "blocks.0.hook_resid_pre"
    texts = ["Tom threw the ball to Mia.", "The ball was red and big.", "Mia found a ball in the park."]
    found = diff_mean(text_activations(model, texts, hook),
                      text_activations(model, [t.replace(" ball", " book") for t in texts], hook))
    assert torch.nn.functional.cosine_similarity(found, d, dim=0) >= 0.95
    unit = found / found.norm()
    prompts = model.to_tokens(["Once upon a time"] * 16)
    rates = []
    for strength in (0.0, 0.25, 0.5, 2.0):
        torch.manual_seed(0)
        with Steering([Add(hook, unit, strength)]).applied(model):
            out = model.generate(prompts, max_new_tokens=8, verbose=False)
        rates.append(float((out[:, prompts.shape[1]:] == concept).any(1).float().mean()))
    # unsteered, the tiny model (trained on the corpus) says " ball" now and then; steered, always
    assert rates == sorted(rates) and rates[0] <= 0.3 and rates[-1] == 1.0, rates
    tokens = model.to_tokens(texts[:1])
    with Steering([Ablate(hook, found)]).applied(model):
        _, cache = model.run_with_cache(tokens, names_filter=[hook])
    assert (cache[hook] @ unit).abs().max() <= 1e-4  # projection 0 everywhere, the ball position included


def test_act_add_is_a_difference_of_two_prompts(model) -> None:
    a, b = text_activations(model, [" love"], HOOK, "last"), text_activations(model, [" hate"], HOOK, "last")
    assert torch.allclose(act_add(model, " love", " hate", HOOK), (a - b)[0])


def test_positions_and_composition(model) -> None:
    tokens = _tokens(model)
    d = torch.randn(model.cfg.d_model)
    with Steering([Add(HOOK, d, 1.0, "from:4")]).applied(model):
        _, cache = model.run_with_cache(tokens, names_filter=[HOOK])
    _, clean = model.run_with_cache(tokens, names_filter=[HOOK])
    changed = (cache[HOOK] - clean[HOOK]).abs().amax(-1) > 1e-6
    assert not changed[:, :4].any() and changed[:, 4:].all()
    from interp.steering import position_mask

    assert position_mask("prompt", 5).all() and not position_mask("prompt", 1).any()  # a cached step: untouched
    prompt = Steering([Add(HOOK, d, 3.0, "prompt")])
    with prompt.applied(model):
        steered = model.generate(tokens[:1], max_new_tokens=4, do_sample=False, verbose=False)
        last = steered[:, -1:].clone()
        _, cache = model.run_with_cache(last, names_filter=[HOOK])
    _, alone = model.run_with_cache(last, names_filter=[HOOK])
    assert torch.equal(cache[HOOK], alone[HOOK])  # one-position passes are not edited
    both = Steering([Add(HOOK, d, 1.0)]) + Steering([Add(HOOK, -d, 1.0)])  # cancel out
    with both.applied(model):
        assert torch.allclose(model(tokens), model.run_with_hooks(tokens), atol=1e-4)


def test_saved_steering_reloads_to_the_same_logits(model, sae, tmp_path: Path) -> None:
    steering = (Steering([Add(HOOK, torch.randn(model.cfg.d_model), 2.0, "last"),
                          Ablate("blocks.0.hook_resid_post", torch.randn(model.cfg.d_model), 0.5)])
                + Steering([FeatureClamp(HOOK, 4.0, sae=sae, features=[3, 7])]))
    tokens = _tokens(model)
    with steering.applied(model):
        want = model(tokens)
    loaded = Steering.load(steering.save(tmp_path / "steer"))
    with loaded.applied(model):
        assert torch.equal(model(tokens), want)
    assert [i.kind for i in loaded.interventions] == ["add", "ablate", "sae_clamp"]


def test_concept_features_rank_what_fires_on_the_concept(model, sae) -> None:
    concept = ["The ball was red.", "Tom threw the ball.", "Mia kicked the ball far."]
    other = ["Tom went home.", "The cat slept.", "Mia was happy."]
    table = concept_features(model, sae, concept, other, top=5)
    assert list(table.columns) == ["mean_act_concept", "mean_act_other", "freq_concept", "freq_other", "score"]
    assert table["score"].is_monotonic_decreasing and (table["score"].iloc[0] > 0)
    assert (table["mean_act_concept"] >= table["mean_act_other"]).iloc[0]


def test_bad_input_is_refused(model, sae) -> None:
    d = torch.randn(model.cfg.d_model)
    with pytest.raises(HookNameError, match="Close matches"), Steering([Add("blocks.1.hook_resid_pots", d)]).applied(
            model):
        pass
    with pytest.raises(InputError, match="width 7"), Steering([Add(HOOK, torch.randn(7))]).applied(model):
        pass
    with pytest.raises(InputError, match="from:N"), Steering([Add(HOOK, d, 1.0, "middle")]).applied(model):
        model(_tokens(model))
    with pytest.raises(InputError, match="its own hook"):
        FeatureClamp("blocks.0.hook_resid_post", 1.0, sae=sae, features=[1])
    with pytest.raises(InputError, match="No features"):
        steer_features(sae, [], 1.0)
    with pytest.raises(InputError, match="outside"):
        steer_features(sae, [10_000], 1.0)
    other_hook = build_sae(SAEConfig(architecture="topk", d_in=model.cfg.d_model, d_sae=16, k=2,
                                     hook_name="blocks.9.hook_resid_post"))
    with pytest.raises(HookNameError), steer_features(other_hook, [1], 1.0).applied(model):
        pass


def test_sweep_scores_methods_against_the_planted_concept(planted) -> None:
    from interp.steering.evaluate import (
        best_strengths,
        continuation_loss,
        fluency_score,
        harmonic_mean,
        steerability,
        sweep,
    )

    model, concept, d = planted
    hook = "blocks.0.hook_resid_pre"
    prompts = ["Once upon a time", "Tom and Mia went to the park.", "One sunny day, Tom"] * 3
    says_ball = lambda text: " ball" in text  # noqa: E731
    add = sweep(model, {"planted": Steering([Add(hook, d)]), "random": Steering([Add(hook, -d.roll(7))])},
                [0.0, 0.25, 2.0], prompts, says_ball, max_new_tokens=6)
    planted_rows = add[add.method == "planted"]
    assert planted_rows.concept_rate.is_monotonic_increasing and planted_rows.concept_rate.iloc[-1] == 1.0
    assert add[add.strength == 0].fluency_cost.abs().max() == 0 and (add[add.strength == 0].fluency_score == 1).all()
    assert steerability(planted_rows) > steerability(add[add.method == "random"])
    row = planted_rows.iloc[-1]
    assert row.harmonic == pytest.approx(harmonic_mean(row.concept_score, fluency_score(row.fluency_cost)))
    assert best_strengths(add)["planted"] > 0
    remove = sweep(model, {"ablate": Steering([Ablate(hook, d)])}, [0.0, 1.0], prompts, says_ball, goal="remove",
                   max_new_tokens=6)
    assert remove.concept_score.iloc[0] == 0.0  # strength 0 removes nothing
    # Known values: the aggregate and the slope by hand; the fluency loss as a direct computation.
    assert harmonic_mean(0.5, 1.0) == pytest.approx(2 / 3) and harmonic_mean(0.0, 1.0) == 0.0
    import pandas as pd

    assert steerability(pd.DataFrame({"strength": [0, 1, 2], "concept_rate": [0.1, 0.3, 0.5]})) == pytest.approx(0.2)
    prompt, new = model.to_tokens("Tom went")[0], model.to_tokens(" to the park", prepend_bos=False)[0]
    logp = model(torch.cat([prompt, new])[None])[0].log_softmax(-1).detach()
    want = -sum(float(logp[len(prompt) - 1 + i, new[i]]) for i in range(len(new))) / len(new)
    assert continuation_loss(model, [(prompt, new)]) == pytest.approx(want, rel=1e-5)
    with pytest.raises(InputError, match="goal"):
        sweep(model, {"x": Steering([Add(hook, d)])}, [1.0], prompts, says_ball, goal="both")
    with pytest.raises(InputError, match="No strengths"):
        sweep(model, {"x": Steering([Add(hook, d)])}, [], prompts, says_ball)

"""Task scorers against hand-computed values (a model whose output distribution is set by hand) and a slow
one-sequence-at-a-time reference."""

from __future__ import annotations

import math

import pytest
import torch

from interp.data.corpus import generate_text
from interp.data.corpus import splits as sp
from interp.data.tokenizer import train_bpe
from interp.errors import ConfigError
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from interp.tasks.greater_than import greater_than_prompts, score_greater_than
from interp.tasks.induction import score_induction
from interp.tasks.ioi import ioi_prompts, score_ioi
from interp.tasks.scoring import continuation_logprobs, encode
from interp.tasks.suite import TASKS, score_tasks


@pytest.fixture(scope="module")
def tok():
    return train_bpe(generate_text(40_000, seed=1), vocab_size=1500)


def _model(tok, fixed_bias: torch.Tensor | None = None) -> HookedTransformer:
    cfg = HookedTransformerConfig(n_layers=1, d_model=32, n_ctx=128, d_head=8, n_heads=4, d_vocab=len(tok),
                                  act_fn="gelu_new", seed=0)
    model = HookedTransformer(cfg, tokenizer=tok)
    if fixed_bias is not None:  # every position outputs softmax(fixed_bias), whatever the input
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
            model.unembed.b_U.copy_(fixed_bias)
    return model.eval()


def test_continuation_logprobs_match_slow_reference(tok) -> None:
    model = _model(tok)
    prompts = ["The war lasted from 1732 to 17", "When Mary and John went to the park, John gave a ball to"]
    cands = [["89", "05", "32"], [" Mary", " John", " the teacher"]]
    fast = continuation_logprobs(model, prompts, cands, batch_size=2)
    for i, prompt in enumerate(prompts):
        for j, cand in enumerate(cands[i]):
            p_ids, c_ids = encode(model, prompt), encode(model, cand, prepend_bos=False)
            with torch.no_grad():
                logp = model(torch.tensor([p_ids + c_ids])).log_softmax(-1)[0]
            slow = sum(float(logp[len(p_ids) - 1 + k, t]) for k, t in enumerate(c_ids))
            assert fast[i, j].item() == pytest.approx(slow, abs=1e-4)


def test_greater_than_metric_by_hand(tok) -> None:
    bias = torch.randn(len(tok), generator=torch.Generator().manual_seed(0)) * 2
    model = _model(tok, bias)
    q = bias.softmax(-1)
    digit = [tok.convert_tokens_to_ids(str(d)) for d in range(10)]
    p_year = torch.tensor([[q[digit[a]] * q[digit[b]] for b in range(10)] for a in range(10)]).flatten()
    _, starts = greater_than_prompts(12, seed=5)
    expected = sum(float(p_year[yy + 1 :].sum() - p_year[:yy].sum()) for yy in starts) / len(starts)
    got = score_greater_than(model, n_prompts=12, seed=5)
    assert got["prob_diff"] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert got["year_prob_mass"] == pytest.approx(float(p_year.sum()), rel=1e-4)


def test_ioi_metric_by_hand(tok) -> None:
    bias = torch.randn(len(tok), generator=torch.Generator().manual_seed(1))
    model = _model(tok, bias)
    data = ioi_prompts(40, seed=2)
    diffs = [float(bias[encode(model, io, False)[0]] - bias[encode(model, s, False)[0]])
             for io, s in zip(data.io, data.s, strict=True)]
    got = score_ioi(model, n_prompts=40, seed=2)
    assert got["mean_logit_diff"] == pytest.approx(sum(diffs) / 40, abs=1e-4)
    assert got["accuracy"] == pytest.approx(sum(d > 0 for d in diffs) / 40)


def test_ioi_prompts_are_held_out() -> None:
    data = ioi_prompts(100, seed=0)
    for prompt, io, s in zip(data.prompts, data.io, data.s, strict=True):
        assert any(i.split("{")[0] in prompt for i in sp.EVAL_IOI_INTROS) or any(
            a.split()[1] in prompt.split() for a in sp.EVAL_IOI_ACTIONS)
        assert prompt.count(s.strip()) == 2 and prompt.count(io.strip()) == 1
    assert set(data.order) == {"ABBA", "BABA"}


def test_induction_without_context_has_no_gain(tok) -> None:
    bias = torch.randn(len(tok), generator=torch.Generator().manual_seed(3))
    got = score_induction(_model(tok, bias), n_prompts=8, seed=0, half=20)
    assert got["induction_gain"] == pytest.approx(0.0, abs=0.5)  # same distribution both halves
    assert got["first_half_loss"] > math.log(2)


def test_score_tasks_all_and_errors(tok) -> None:
    results = score_tasks(_model(tok), n_prompts=6, progress=False)
    assert set(results) == set(TASKS)
    assert 0 <= results["ioi"]["accuracy"] <= 1 and 0 <= results["multiple_choice"]["accuracy"] <= 1
    with pytest.raises(ConfigError, match="Unknown task"):
        score_tasks(_model(tok), tasks=["ioi", "sudoku"])


def test_capitals_accuracy_by_hand(tok) -> None:
    from interp.data.corpus import lexicon as lx
    from interp.tasks.capitals import CAPITALS, capital_prompts, score_capitals

    bias = torch.zeros(len(tok))
    model = _model(tok, bias)
    # A capital that is one token under this tokenizer, so that a +30 logit on it makes every other capital's
    # continuation less likely, whatever its length (each token of another costs ~30 nats).
    winner = next(i for i, c in enumerate(CAPITALS) if len(encode(model, c, False)) == 1)
    with torch.no_grad():
        model.unembed.b_U[encode(model, CAPITALS[winner], False)[0]] = 30.0
    _, answers = capital_prompts(60, seed=0)
    assert score_capitals(model, n_prompts=60)["accuracy"] == pytest.approx(answers.count(winner) / 60)
    assert answers.count(winner) == 60 // len(lx.COUNTRIES) + (60 % len(lx.COUNTRIES) > winner)

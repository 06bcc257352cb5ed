"""The toy model of Liu, Liu & Gore 2025 (saes/superposition.py): the sampler draws the stated distribution, the
hand-written gradients equal autograd's, the signed weight decay shrinks or pulls rows to unit norm, the power-law
fit recovers known exponents with a hand-checked interval, and at small n (512 features, widths 4..32) weight
growth gives loss ~ 1/m with every feature represented while weight decay keeps only the frequent features and
scales clearly slower. About 15 s on 2 cores."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from interp.errors import InputError
from saes.superposition import (
    SuperpositionConfig,
    SuperpositionModel,
    evaluate,
    feature_probs,
    fit_power_law,
    loss_and_grads,
    reconstruction_loss,
    sample_features,
    sample_sparse,
    scaling_sweep,
    signed_weight_decay_,
    t975,
    train_superposition,
)

N, WIDTHS = 512, [4, 8, 16, 32]
BASE = SuperpositionConfig(n_features=N, steps=1000, batch=256, eval_batch=8192)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small matmuls: one thread is as fast, and does not stall when another job holds the second core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sweep():
    return scaling_sweep(WIDTHS, [-1.0, 1.0], BASE, progress=False)


def test_feature_probs_power_law_and_density():
    p = feature_probs(1000, 1.2, expected_active=2.5)
    assert float(p.sum()) == pytest.approx(2.5)
    assert float(p[0] / p[1]) == pytest.approx(2**1.2)
    assert float(p[9] / p[99]) == pytest.approx(10**1.2)
    assert float(feature_probs(4, 1.0)[0]) == pytest.approx(12 / 25)  # 1 / (1 + 1/2 + 1/3 + 1/4)


def test_sampler_frequencies_values_and_no_repeats():
    p = feature_probs(64, 1.2, expected_active=3.0)  # 23 features drawn densely, 41 by count + distinct rows
    gen = torch.Generator().manual_seed(0)
    counts, n_rows, values = torch.zeros(64), 0, []
    for _ in range(100):
        rows, cols, vals = sample_sparse(p, 512, gen)
        assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == rows.numel()  # each cell at most once
        counts += torch.bincount(cols, minlength=64)
        n_rows += 512
        values.append(vals)
    pf = p.float()
    z = (counts / n_rows - pf) / (pf * (1 - pf) / n_rows).sqrt()
    assert float(z.abs().max()) < 4.5 and 0.6 < float((z**2).mean()) < 1.5  # binomial scatter, no bias
    v = torch.cat(values)
    assert 0 <= float(v.min()) and float(v.max()) <= 2 and float(v.mean()) == pytest.approx(1.0, abs=0.02)
    x1 = sample_features(p, 32, torch.Generator().manual_seed(3))
    rows, cols, vals = sample_sparse(p, 32, torch.Generator().manual_seed(3))
    assert torch.equal(x1[rows, cols], vals) and int((x1 > 0).sum()) == rows.numel()


def test_hand_gradients_equal_autograd():
    gen = torch.Generator().manual_seed(1)
    p = feature_probs(64, 1.2, expected_active=3.0)
    model = SuperpositionModel(64, 8, gen, bias_init="randn").double()
    rows, cols, vals = sample_sparse(p, 128, gen)
    x = torch.zeros(128, 64, dtype=torch.float64)
    x[rows, cols] = vals.double()
    loss = reconstruction_loss(model(x), x)
    loss.backward()
    hand_loss, gW, gb = loss_and_grads(model.W.detach(), model.b.detach(), rows, cols, vals.double(), 128)
    assert hand_loss == pytest.approx(float(loss.detach()), rel=1e-12)
    torch.testing.assert_close(gW, model.W.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gb, model.b.grad, rtol=1e-10, atol=1e-12)


def test_signed_weight_decay():
    W = torch.tensor([[0.3, 0.4], [3.0, 4.0]])  # row norms 0.5 and 5
    shrunk = W.clone()
    signed_weight_decay_(shrunk, lr=0.1, weight_decay=2.0)
    torch.testing.assert_close(shrunk, W * 0.8)
    grown = W.clone()
    for _ in range(200):
        signed_weight_decay_(grown, lr=0.1, weight_decay=-1.0)
    torch.testing.assert_close(grown.norm(dim=1), torch.ones(2), atol=1e-3, rtol=0)  # both pulled to norm 1
    torch.testing.assert_close(grown / grown.norm(dim=1, keepdim=True), W / W.norm(dim=1, keepdim=True))


def test_t_quantiles():
    assert t975(1) == pytest.approx(12.706) and t975(10) == pytest.approx(2.228)
    for df, q in [(40, 2.021), (60, 2.000), (120, 1.980)]:  # the expansion beyond the table
        assert t975(df) == pytest.approx(q, abs=1.5e-3)


def test_fit_power_law_recovers_exponents():
    widths = [8, 16, 32, 64, 128]
    a, (lo, hi) = fit_power_law(widths, [3.0 * m**-0.7 for m in widths])
    assert a == pytest.approx(0.7) and hi - lo == pytest.approx(0, abs=1e-9)
    gen = torch.Generator().manual_seed(0)
    noisy = [m**-1.0 * math.exp(0.1 * float(torch.randn(1, generator=gen))) for m in widths]
    a, (lo, hi) = fit_power_law(widths, noisy)
    assert lo < 1.0 < hi and 0.8 < a < 1.2 and hi - lo > 0.05
    # by hand: log widths 0, 1, 2 and log losses 0, -1, -1.5: slope -0.75, SSR 1/24, se sqrt(1/48), t(1) 12.706
    a, (lo, hi) = fit_power_law([1, math.e, math.e**2], [1, math.exp(-1), math.exp(-1.5)])
    assert a == pytest.approx(0.75)
    assert hi - a == pytest.approx(12.706 * math.sqrt(1 / 48)) and a - lo == pytest.approx(hi - a)


def test_strong_regime_scales_as_one_over_m_and_weak_slower(sweep):
    strong, weak = sweep[sweep.regime == "strong"], sweep[sweep.regime == "weak"]
    a_strong, _ = fit_power_law(strong.width, strong.loss)
    a_weak, _ = fit_power_law(weak.width, weak.loss)
    assert 0.7 <= a_strong <= 1.3, a_strong
    assert a_strong - a_weak >= 0.25, (a_strong, a_weak)
    assert (strong.represented_fraction == 1).all()  # weight growth: every feature gets a row
    assert (weak.represented_fraction < 0.25).all()  # weight decay: most rows die
    assert (strong.loss.to_numpy() < weak.loss.to_numpy()).all()  # superposition wins at every width


def test_weak_regime_keeps_the_frequent_features():
    m = 16
    res = train_superposition(SuperpositionConfig(n_features=N, width=m, weight_decay=1.0, steps=1000, batch=256,
                                                  eval_batch=4096))
    kept = (res.row_norms > 0.5).nonzero()[:, 0]
    assert bool((res.row_norms[: m // 2] > 0.5).all())  # the m/2 most frequent features are all represented
    assert int(kept.max()) < 4 * m and kept.numel() < 3 * m  # nothing rare, no mass superposition
    assert res.loss == pytest.approx(evaluate(res.model, res.config))  # fixed held-out batch


def test_training_is_seeded():
    cfg = SuperpositionConfig(n_features=64, width=8, steps=20, batch=64, eval_batch=256)
    a, b = train_superposition(cfg), train_superposition(cfg)
    assert a.loss == b.loss and torch.equal(a.row_norms, b.row_norms)
    assert train_superposition(replace(cfg, seed=1)).loss != a.loss


@pytest.mark.parametrize("bad", [
    {"width": 512}, {"width": 600}, {"width": 0}, {"steps": 0}, {"batch": -1}, {"lr": 0.0},
    {"expected_active": 200.0}, {"alpha": -0.5}, {"bias_init": "ones"}, {"weight_decay": float("nan")},
])
def test_bad_config_raises(bad):
    with pytest.raises(InputError):
        train_superposition(replace(BASE, **bad))


def test_bad_sweep_and_fit_inputs_raise_before_training():
    with pytest.raises(InputError, match="width"):
        scaling_sweep([8, 16, 512], [-1.0], BASE, progress=False)  # the last width fails before any run
    with pytest.raises(InputError, match="repeated"):
        scaling_sweep([8, 8], [-1.0], BASE, progress=False)
    with pytest.raises(InputError, match="3 distinct"):
        fit_power_law([8, 16], [0.5, 0.25])
    with pytest.raises(InputError, match="positive"):
        fit_power_law([8, 16, 32], [0.5, 0.0, 0.1])
    with pytest.raises(InputError, match="losses"):
        fit_power_law([8, 16, 32], [0.5, 0.25])

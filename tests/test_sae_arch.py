"""SAE architectures: the fused TopK kernel against the dense reference, losses against hand computations,
decoder-norm utilities, per-head attribution, and the bad-input errors."""

from __future__ import annotations

import copy

import pytest
import torch

from saes import (
    SAEConfig,
    SAEConfigError,
    SAEShapeError,
    build_sae,
    build_transcoder,
    flatten_heads,
    per_head_attribution,
    unflatten_heads,
)
from saes.base import SAE
from saes.topk_kernel import dense_topk_reference, row_topk, sparse_decode, to_dense, topk_encode


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_topk_kernel_matches_dense_values_and_grads(dtype, center):
    n, d_in, d_sae, k = 50, 16, 96, 7
    g = _gen()
    tensors = [torch.randn(n, d_in, generator=g), torch.randn(d_in, d_sae, generator=g) / 4,
               torch.randn(d_sae, generator=g) / 4, torch.randn(d_sae, d_in, generator=g) / 4,
               torch.randn(d_in, generator=g)]
    fast = [t.to(dtype).requires_grad_() for t in tensors]
    slow = [t.to(dtype).requires_grad_() for t in tensors]
    vals, idx = topk_encode(fast[0], fast[1], fast[2], k, fast[4] if center else None)
    out_fast = sparse_decode(vals, idx, fast[3], fast[4])
    x_slow = slow[0] - slow[4] if center else slow[0]  # centring by b_dec: its gradient flows both ways
    feats_slow, out_slow = dense_topk_reference(x_slow, *slow[1:], k)
    torch.testing.assert_close(to_dense(vals, idx, d_sae), feats_slow)
    torch.testing.assert_close(out_fast, out_slow)
    w = torch.randn(n, d_in, generator=g).to(dtype)  # a random upstream gradient
    (out_fast * w).sum().backward()
    (out_slow * w).sum().backward()
    for a, b, name in zip(fast, slow, ["x", "W_enc", "b_enc", "W_dec", "b_dec"], strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=f"gradient of {name} differs")


@pytest.mark.parametrize(("d", "k"), [(2048, 32), (96, 7), (100, 3), (64, 40), (30, 1)])
def test_two_stage_topk_is_torch_topk(d, k):
    """Same values (and indices pointing at them) as torch.topk, including rows full of ties and rows whose top
    entries crowd into one chunk; shapes the two stages cannot take fall back to torch.topk."""
    g = _gen(d)
    x = torch.randn(64, d, generator=g)
    x[1] = 0.5  # all ties
    x[2, :k] = 10 + torch.arange(k)  # the top k in the first chunks
    x[3] = torch.randint(0, 3, (d,), generator=g).float()  # many ties
    vals, idx = row_topk(x, k)
    want = x.topk(k, dim=-1).values
    torch.testing.assert_close(vals.sort(-1).values, want.sort(-1).values)
    torch.testing.assert_close(x.gather(1, idx), vals)
    assert all(len(set(row.tolist())) == k for row in idx)  # k distinct entries per row


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("transcoder", [False, True])
def test_relu_kernel_matches_autograd(transcoder, sparse):
    """The fused standard-SAE loss, dense and sparse paths: same MSE, L1 and gradients as autograd on the plain
    formulation."""
    d_in, d_sae = 12, 40
    cfg = SAEConfig(architecture="standard", d_in=d_in, d_sae=d_sae, l1_coefficient=0.7, dtype="float64",
                    hook_name_out="out" if transcoder else None, d_out=10 if transcoder else None)
    fast = build_sae(cfg)
    with torch.no_grad():
        for p in fast.parameters():
            p.normal_(generator=_gen(3)).mul_(0.3)
    fast._density = 0.0 if sparse else 1.0  # the path the kernel takes
    slow = copy.deepcopy(fast)
    x = torch.randn(64, d_in, generator=_gen(4), dtype=torch.float64)
    target = torch.randn(64, fast.cfg.d_out, generator=_gen(5), dtype=torch.float64) if transcoder else None
    out_fast = fast.training_loss(x, target, sparsity_scale=0.5)
    out_slow = SAE.training_loss(slow, x, target, sparsity_scale=0.5)  # the generic autograd path
    for key in ("mse", "l1"):
        torch.testing.assert_close(out_fast.parts[key], out_slow.parts[key])
    assert 0 < float(out_fast.l0) < d_sae and torch.equal(out_fast.fired, out_slow.fired)
    out_fast.loss.backward()
    out_slow.loss.backward()
    for (name, a), b in zip(fast.named_parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=f"gradient of {name} differs")


def test_topk_sae_forward_equals_dense_encode_decode():
    sae = build_sae(SAEConfig(architecture="topk", d_in=8, d_sae=32, k=3))
    with torch.no_grad():
        sae.b_enc.normal_(generator=_gen(1))
    x = torch.randn(4, 5, 8, generator=_gen(2))  # extra leading dims
    feats = sae.encode(x)
    assert ((feats > 0).sum(-1) <= 3).all() and (feats > 0).sum() > 0
    torch.testing.assert_close(sae(x), sae.decode(feats))
    pre = (x - sae.b_dec) @ sae.W_enc + sae.b_enc
    kth = pre.topk(3, dim=-1).values[..., -1:]
    torch.testing.assert_close(feats, (pre * (pre >= kth)).relu())  # hand-written TopK


def test_standard_loss_is_mse_plus_decoder_weighted_l1():
    sae = build_sae(SAEConfig(architecture="standard", d_in=6, d_sae=10, l1_coefficient=2.0))
    with torch.no_grad():
        sae.W_dec.mul_(torch.arange(1, 11).unsqueeze(1))  # non-unit decoder norms matter for the L1 term
    x = torch.randn(9, 6, generator=_gen(3))
    out = sae.training_loss(x, sparsity_scale=0.5)
    f = ((x - sae.b_dec) @ sae.W_enc + sae.b_enc).relu()
    mse = ((f @ sae.W_dec + sae.b_dec - x) ** 2).sum(-1).mean()
    l1 = (f * sae.W_dec.norm(dim=1)).sum(-1).mean() * 2.0 * 0.5
    torch.testing.assert_close(out.parts["mse"], mse)
    torch.testing.assert_close(out.parts["l1"], l1)
    torch.testing.assert_close(out.loss, mse + l1)
    assert torch.equal(out.fired, (f > 0).any(0))


def test_jumprelu_threshold_gradient_is_rectangle_ste():
    sae = build_sae(SAEConfig(architecture="jumprelu", d_in=4, d_sae=3, jumprelu_bandwidth=0.5, l0_coefficient=1.0))
    pre = torch.tensor([[0.9, 1.1, 3.0], [1.3, 0.2, 0.6]])
    with torch.no_grad():
        sae.threshold.copy_(torch.tensor([1.0, 1.0, 1.0]))
    l0 = sae.sparsity_losses(None, pre, None, None, None, None, 1.0)["l0_penalty"]
    assert float(l0.detach()) == pytest.approx((2 + 1) / 2)  # 1.1, 3.0 | 1.3 exceed 1.0
    (grad,) = torch.autograd.grad(l0, sae.threshold)
    # d L0 / d t_j = -(1/bw) * mean_rows K((pre - t)/bw); K = 1 on |u| < 1/2 i.e. |pre - t| < 0.25
    inside = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(grad, -(1 / 0.5) * inside.sum(0) / 2)


def test_batchtopk_keeps_k_times_batch_and_learns_threshold():
    sae = build_sae(SAEConfig(architecture="batchtopk", d_in=8, d_sae=32, k=4))
    x = torch.randn(16, 8, generator=_gen(4))
    feats, pre = sae.train_feats(x)
    assert int((feats > 0).sum()) == 4 * 16
    assert (feats > 0).sum(-1).max() != (feats > 0).sum(-1).min()  # rows differ: a batch-level, not row-level, top-k
    kept_min = feats[feats > 0].min()
    assert torch.all(pre.relu()[feats == 0] <= kept_min)
    assert float(sae.threshold) == pytest.approx(0.01 * float(kept_min))  # one EMA step from 0


def test_gated_encode_gate_times_magnitude():
    sae = build_sae(SAEConfig(architecture="gated", d_in=5, d_sae=7))
    with torch.no_grad():
        for p in (sae.b_gate, sae.r_mag, sae.b_mag):
            p.normal_(generator=_gen(5))
    x = torch.randn(6, 5, generator=_gen(6))
    s = x - sae.b_dec
    expect = ((s @ sae.W_enc + sae.b_gate) > 0) * (s @ (sae.W_enc * sae.r_mag.exp()) + sae.b_mag).relu()
    torch.testing.assert_close(sae.encode(x), expect)


def test_matryoshka_prefix_losses():
    sae = build_sae(SAEConfig(architecture="matryoshka_batchtopk", d_in=6, d_sae=12, k=3, matryoshka_widths=[4, 12]))
    x = torch.randn(10, 6, generator=_gen(7))
    out = sae.training_loss(x)
    feats, _ = BatchFeats.of(sae, x)
    prefix = ((feats[:, :4] @ sae.W_dec[:4] + sae.b_dec - x) ** 2).sum(-1).mean()
    full = ((feats @ sae.W_dec + sae.b_dec - x) ** 2).sum(-1).mean()
    torch.testing.assert_close(out.parts["prefix_mse"], prefix)
    torch.testing.assert_close(out.parts["mse"], full)


class BatchFeats:
    @staticmethod
    def of(sae, x):
        saved = sae.threshold.clone()
        out = sae.train_feats(x)
        with torch.no_grad():
            sae.threshold.copy_(saved)
        return out


def test_skip_transcoder_predicts_target_with_linear_skip():
    tc = build_transcoder("standard", d_in=6, d_sae=8, d_out=4, layer=2, skip=True)
    assert (tc.cfg.hook_name, tc.cfg.hook_name_out) == ("blocks.2.ln2.hook_normalized", "blocks.2.hook_mlp_out")
    with torch.no_grad():
        tc.W_skip.normal_(generator=_gen(8))
        tc.b_dec.normal_(generator=_gen(9))
    x = torch.randn(3, 6, generator=_gen(10))
    f = (x @ tc.W_enc + tc.b_enc).relu()  # no b_dec subtraction: the decoder bias lives in the output space
    torch.testing.assert_close(tc(x), f @ tc.W_dec + tc.b_dec + x @ tc.W_skip.T)
    target = torch.randn(3, 4, generator=_gen(11))
    torch.testing.assert_close(tc.training_loss(x, target).parts["mse"], ((tc(x) - target) ** 2).sum(-1).mean())


def test_normalize_decoder_and_parallel_grad_removal():
    sae = build_sae(SAEConfig(architecture="topk", d_in=5, d_sae=9, k=2))
    with torch.no_grad():
        sae.W_dec.mul_(3.0)
    sae.normalize_decoder_()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(9))
    sae.W_dec.grad = torch.randn(9, 5, generator=_gen(12))
    sae.remove_decoder_parallel_grad_()
    torch.testing.assert_close((sae.W_dec.grad * sae.W_dec).sum(1), torch.zeros(9), atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ["standard", "jumprelu", "topk"])
def test_fold_activation_norm_scaling(arch):
    sae = build_sae(SAEConfig(architecture=arch, d_in=6, d_sae=16, k=4 if arch == "topk" else None))
    with torch.no_grad():
        sae.b_dec.normal_(generator=_gen(13))
        sae.b_enc.normal_(generator=_gen(14))
    x = torch.randn(8, 6, generator=_gen(15))
    scale = 2.5
    with torch.no_grad():
        expect = sae(x * scale) / scale  # trained on scaled inputs, outputs mapped back
        sae.fold_activation_norm_scaling_(scale)
        torch.testing.assert_close(sae(x), expect)


def test_attn_flatten_and_per_head_attribution():
    z = torch.randn(2, 3, 4, 5, generator=_gen(16))
    torch.testing.assert_close(unflatten_heads(flatten_heads(z), 4), z)
    assert torch.equal(flatten_heads(z)[..., 5:10], z[..., 1, :])  # head-major
    sae = build_sae(SAEConfig(architecture="standard", d_in=4 * 2, d_sae=3, hook_name="blocks.0.attn.hook_z"))
    with torch.no_grad():  # feature 0: head 1 only; feature 2: heads 0 and 3, squared norms 1 and 3
        sae.W_dec.zero_()
        sae.W_dec[0, 2:4] = torch.tensor([3.0, 4.0])
        sae.W_dec[2, 0] = 1.0
        sae.W_dec[2, 6:8] = torch.tensor([1.0, 2.0 ** 0.5])
    got = per_head_attribution(sae, [0, 2], n_heads=4)
    torch.testing.assert_close(got, torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.75]]))
    with pytest.raises(SAEConfigError, match="multiple of n_heads=3"):
        per_head_attribution(sae, [0], n_heads=3)
    with pytest.raises(SAEConfigError, match=r"\[0, 3\)"):
        per_head_attribution(sae, [5], n_heads=4)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(SAEConfigError, match="k=40 must be between 1 and the SAE width d_sae=32"):
        SAEConfig(architecture="topk", d_in=8, d_sae=32, k=40)
    with pytest.raises(SAEConfigError, match="needs k"):
        SAEConfig(architecture="batchtopk", d_in=8, d_sae=32)
    with pytest.raises(SAEConfigError, match="matryoshka_widths"):
        SAEConfig(architecture="matryoshka_batchtopk", d_in=8, d_sae=32, k=2, matryoshka_widths=[16, 8])
    with pytest.raises(SAEConfigError, match="hook_name_out"):
        SAEConfig(architecture="standard", d_in=8, d_sae=32, skip=True)
    sae = build_sae(SAEConfig(architecture="topk", d_in=8, d_sae=32, k=4, hook_name="blocks.1.hook_resid_post"))
    with pytest.raises(SAEShapeError, match=r"width 8 \(hook 'blocks.1.hook_resid_post'\), got shape \(3, 7\)"):
        sae.encode(torch.randn(3, 7))
    tc = build_transcoder("standard", d_in=8, d_sae=16, d_out=6, layer=0)
    with pytest.raises(SAEShapeError, match="output activations of width 6"):
        tc.training_loss(torch.randn(3, 8), torch.randn(3, 8))


def test_auxk_loss_matches_hand_computation():
    """AuxK (SAELens/Gao et al.): the top-min(aux_k, n_dead) dead features reconstruct the error; the loss is scaled
    by n_dead / aux_k with aux_k = d_in // 2 (2 dead of aux_k 4 here: half weight)."""
    from saes.topk import auxk_loss

    sae = build_sae(SAEConfig(architecture="topk", d_in=8, d_sae=16, k=3, dtype="float64"))
    with torch.no_grad():
        sae.b_enc.normal_(generator=_gen(6))
        sae.b_dec.normal_(generator=_gen(7))
    x = torch.randn(5, 8, generator=_gen(8), dtype=torch.float64)
    dead = torch.zeros(16, dtype=torch.bool)
    dead[[2, 9]] = True
    x_hat = sae(x).detach()
    pre = (x - sae.b_dec) @ sae.W_enc[:, [2, 9]] + sae.b_enc[[2, 9]]  # both dead features are the top 2
    err_hat = pre.relu() @ sae.W_dec[[2, 9]]
    expected = sae.cfg.aux_coefficient * 0.5 * (err_hat - (x - x_hat)).pow(2).sum(-1).mean()
    torch.testing.assert_close(auxk_loss(sae, x, x, x_hat, dead), expected)
    assert float(auxk_loss(sae, x, x, x_hat, torch.zeros(16, dtype=torch.bool))) == 0.0

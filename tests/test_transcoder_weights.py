"""Weight-based transcoder analyses (circuits/transcoder_weights.py) against known answers on a tiny seeded model:
a planted feature reading a token's normalised embedding has that token top (and, negated, bottom) of its
de-embedding; de-embeddings equal the feature's pre-activation on one-token prompts (by hand with attention's
output zeroed, by the model itself with attention); a planted connection has its hand-computed value; and
connections times activation over the LayerNorm scales are the exact effect of removing a feature
(the attribution graph's edge)."""

from __future__ import annotations

import pytest
import torch

from circuits.transcoder_weights import (
    connection_matrix,
    connections,
    de_embedding,
    de_embedding_scores,
    transcoder_layer,
)
from interp.errors import InputError
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from saes import build_sae, build_transcoder
from saes.config import SAEConfig

D, VOCAB, D_SAE = 32, 50, 48


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=2, d_model=D, n_heads=2, d_head=16, d_mlp=64, n_ctx=16, d_vocab=VOCAB,
                                  act_fn="gelu", seed=0)
    model = HookedTransformer(cfg).eval()
    with torch.no_grad():  # LayerNorm weights away from 1 and 0, so a missing or doubled one shows
        for block in model.blocks:
            for ln in (block.ln1, block.ln2):
                ln.w.uniform_(0.5, 1.5)
                ln.b.normal_(0, 0.1)
    tcs = []
    for layer in range(2):
        tc = build_transcoder("topk", d_in=D, d_sae=D_SAE, layer=layer, k=4)
        with torch.no_grad():
            tc.W_dec.normal_(0, 0.3)
            tc.b_enc.normal_(0, 0.1)
        tcs.append(tc)
    return model, tcs


def _ln_by_hand(x: torch.Tensor, eps: float) -> torch.Tensor:
    x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def test_planted_token_feature_tops_and_bottoms_its_de_embedding(setup):
    model, (tc0, _) = setup
    with torch.no_grad():
        direction = _ln_by_hand(model.W_E[13], model.cfg.eps)
        tc0.W_enc[:, 7] = direction
        tc0.W_enc[:, 8] = -direction
    table = de_embedding(model, tc0, feature=7, k=3)
    top = table[table.side == "top"]
    assert top.token_id.iloc[0] == 13 and top["rank"].iloc[0] == 0
    # the planted score is |direction|^2 + b_enc: by Cauchy-Schwarz no other normalised embedding reaches it
    expected = float((direction @ direction + tc0.b_enc[7]).detach())
    assert top.score.iloc[0] == pytest.approx(expected, rel=1e-4)
    assert top.score.iloc[1] < top.score.iloc[0] - 1.0
    assert de_embedding(model, tc0, feature=8, k=3).query("side == 'bottom'").token_id.iloc[0] == 13
    assert list(table.columns) == ["side", "rank", "token_id", "token", "score"] and len(table) == 6


def test_de_embedding_is_the_pre_activation_on_a_one_token_prompt(setup):
    model, (tc0, _) = setup
    eps = model.cfg.eps
    with torch.no_grad():
        # attention's output left out: the MLP input is ln2(W_E[t] (+ W_pos[0])), computed here by hand
        for position, extra in ((None, 0.0), (0, model.W_pos[0])):
            scores = de_embedding_scores(model, tc0, [3, 11], position=position, attention="ignore")
            by_hand = _ln_by_hand(model.W_E + extra, eps) @ tc0.W_enc[:, [3, 11]] + tc0.b_enc[[3, 11]]
            torch.testing.assert_close(scores, by_hand, atol=1e-4, rtol=1e-4)
        # the token attending to itself: the model's own unhooked forward on each one-token prompt
        tokens = torch.arange(VOCAB)[:, None]
        _, cache = model.run_with_cache(tokens, names_filter="blocks.0.ln2.hook_normalized")
        actual = tc0.pre_acts(cache["blocks.0.ln2.hook_normalized"][:, 0])
        torch.testing.assert_close(de_embedding_scores(model, tc0, position=0, attention="self"), actual,
                                   atol=1e-4, rtol=1e-4)
        # and with attention zeroed by a hook, the "ignore" scores are the model's pre-activations too
        with model.hooks(fwd_hooks=[("blocks.0.hook_attn_out", lambda a, hook: torch.zeros_like(a))]):
            _, cache = model.run_with_cache(tokens, names_filter="blocks.0.ln2.hook_normalized")
        zeroed = tc0.pre_acts(cache["blocks.0.ln2.hook_normalized"][:, 0])
        torch.testing.assert_close(de_embedding_scores(model, tc0, position=0), zeroed, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(zeroed, actual, atol=1e-2)  # attention's output does matter in this model


def test_planted_connection_has_its_hand_computed_value(setup):
    model, _ = setup
    src = build_transcoder("topk", d_in=D, d_sae=D_SAE, layer=0, k=4)
    tgt = build_transcoder("topk", d_in=D, d_sae=D_SAE, layer=1, k=4)
    with torch.no_grad():
        src.W_dec.mul_(0.01)
        src.W_dec[3] = 0.0
        src.W_dec[3, 0] = 2.0  # decoder row 2 e_0: centred by ln2, 2 (e_0 - 1/D)
        tgt.W_enc.mul_(0.01)
        tgt.W_enc[:, 5] = 0.0
        tgt.W_enc[0, 5] = tgt.W_enc[1, 5] = 1.0  # encoder e_0 + e_1
    expected = 2 * (1 - 1 / D) - 2 / D  # 1.875
    table = connections(model, src, tgt, feature=5, k=3)
    assert table.source_feature.iloc[0] == 3 and table.target_feature.iloc[0] == 5
    assert table.connection.iloc[0] == pytest.approx(expected, abs=1e-5)
    assert table.connection.abs().is_monotonic_decreasing and len(table) == 3
    out = connections(model, src, tgt, feature=3, k=2, into=False)
    assert out.target_feature.iloc[0] == 5 and out.connection.iloc[0] == pytest.approx(expected, abs=1e-5)
    assert float(connection_matrix(model, src, tgt, [3], [5], scale=2.0)) == pytest.approx(expected / 2, abs=1e-5)


def test_connections_are_the_exact_effect_on_a_one_token_prompt(setup):
    """On one token (attention can only look at the token itself, pattern 1), with the LayerNorm scales frozen,
    removing a layer-0 feature's output changes a layer-1 feature's pre-activation by act x (residual connection +
    sum over heads of the head connection / ln1 scale) / ln2 scale: the attribution graph's edge between them."""
    model, (tc0, tc1) = setup
    tokens = torch.tensor([[9]])
    _, cache = model.run_with_cache(tokens)
    frozen = [(name, lambda a, hook: cache[hook.name]) for name in cache if name.endswith("hook_scale")]
    s1, s2 = float(cache["blocks.1.ln1.hook_scale"][0, 0]), float(cache["blocks.1.ln2.hook_scale"][0, 0])
    acts = tc0.encode(cache["blocks.0.ln2.hook_normalized"][0, 0])

    def layer1_pre(removed: int | None) -> torch.Tensor:
        delta = 0.0 if removed is None else acts[removed] * tc0.W_dec[removed]
        hooks = frozen + [("blocks.0.hook_mlp_out", lambda a, hook: a - delta)]
        with model.hooks(fwd_hooks=hooks):
            _, run = model.run_with_cache(tokens, names_filter="blocks.1.ln2.hook_normalized")
        return tc1.pre_acts(run["blocks.1.ln2.hook_normalized"][0, 0])

    with torch.no_grad():
        base = layer1_pre(None)
        sources = torch.nonzero(acts > 0).flatten().tolist()
        assert len(sources) == 4
        for f in sources:
            effect = base - layer1_pre(f)
            weights = connection_matrix(model, tc0, tc1, [f], list(range(D_SAE)))[0]
            weights += sum(connection_matrix(model, tc0, tc1, [f], list(range(D_SAE)), via_head=(1, h))[0] / s1
                           for h in range(2))
            torch.testing.assert_close(effect, acts[f] * weights / s2, atol=1e-5, rtol=1e-4)
            assert effect.abs().max() > 1e-3  # a real effect, not two zeros


def test_clear_errors(setup):
    model, (tc0, tc1) = setup
    with pytest.raises(InputError, match="layer-0"):
        de_embedding(model, tc1, feature=0)
    with pytest.raises(InputError, match="earlier layer"):
        connections(model, tc1, tc0, feature=0)
    narrow = build_transcoder("topk", d_in=16, d_sae=8, layer=0, k=2)
    with pytest.raises(InputError, match="width 16"):
        de_embedding(model, narrow, feature=0)
    with pytest.raises(InputError, match="2 layers"):
        transcoder_layer(model, build_transcoder("topk", d_in=D, d_sae=8, layer=5, k=2))
    resid_sae = build_sae(SAEConfig(architecture="topk", d_in=D, d_sae=8, k=2, hook_name="blocks.0.hook_resid_pre"))
    with pytest.raises(InputError, match="Not an MLP transcoder"):
        de_embedding(model, resid_sae, feature=0)
    with pytest.raises(InputError, match="out of range"):
        connections(model, tc0, tc1, feature=D_SAE)
    with pytest.raises(InputError, match="via_head"):
        connections(model, tc0, tc1, feature=0, via_head=(0, 1))
    with pytest.raises(InputError, match="attention must be"):
        de_embedding(model, tc0, feature=0, attention="all")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="outside the model's context"):
        de_embedding_scores(model, tc0, position=99)

"""Attribution graphs (circuits/attribution_graph.py) on a tiny model with random transcoders: the replacement model
reproduces the logits, every edge equals the target's change when its source is removed (attention and LayerNorm
frozen), and each target is its constant part plus the sum of its incoming edges."""

from __future__ import annotations

import pytest
import torch

from circuits.attribution_graph import _Replacement, attribution_graph
from interp.errors import InputError
from interp.models.tl import HookedTransformer, HookedTransformerConfig
from saes import build_transcoder


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64, n_ctx=16, d_vocab=50,
                                  act_fn="gelu", seed=0)
    model = HookedTransformer(cfg).eval()
    tcs = []
    for layer in range(2):
        tc = build_transcoder("topk", d_in=32, d_sae=48, layer=layer, k=4, skip=layer == 1)
        with torch.no_grad():
            tc.W_dec.normal_(0, 0.3)
            tc.b_dec.normal_(0, 0.1)
            if tc.cfg.skip:
                tc.W_skip.normal_(0, 0.05)
        tcs.append(tc)
    tokens = torch.tensor([0, 5, 9, 17, 5, 9, 23])
    return model, tcs, tokens


def test_replacement_model_reproduces_the_logits(setup):
    model, tcs, tokens = setup
    graph = attribution_graph(model, tcs, tokens, n_logits=3)
    with torch.no_grad():
        clean = model(tokens[None])[0]
    torch.testing.assert_close(graph.logits, clean, atol=1e-4, rtol=1e-4)
    kinds = graph.nodes.kind.value_counts()
    assert kinds["embed"] == len(tokens) and kinds["error"] == 2 * len(tokens) and kinds["logit"] == 3
    assert kinds["feature"] == 2 * 4 * len(tokens)  # TopK: k features per position and layer


def test_edges_are_the_effect_of_removing_the_source_and_sum_to_the_target(setup):
    model, tcs, tokens = setup
    graph = attribution_graph(model, tcs, tokens, n_logits=2)
    nodes, adj = graph.nodes, graph.adjacency
    rep = _Replacement(model, tcs, tokens)

    def target_value(leaves, row) -> float:
        logits, pre = rep.forward(leaves)
        node = nodes.iloc[row]
        if node.kind == "logit":
            return float(logits[-1, node.feature])
        return float(pre[node.layer][node.pos, node.feature])

    with torch.no_grad():
        base = rep.leaves()
        zero = {k: ([torch.zeros_like(t) for t in v] if isinstance(v, list) else torch.zeros_like(v))
                for k, v in base.items()}
        layer1 = nodes.index[(nodes.kind == "feature") & (nodes.layer == 1)].tolist()
        logit_rows = nodes.index[nodes.kind == "logit"].tolist()
        sources = nodes.index[(nodes.kind == "feature") & (nodes.layer == 0)].tolist()
        checked = 0
        for t in layer1[:4] + logit_rows:
            full = target_value(base, t)
            # completeness: an affine function of the leaves = its value at zero + the sum of the edges
            assert full == pytest.approx(target_value(zero, t) + float(adj[t].sum()), abs=1e-3)
            for s in sorted(sources, key=lambda s: -abs(float(adj[t, s])))[:3]:
                node = nodes.iloc[s]
                leaves = rep.leaves()
                leaves["feats"][node.layer][node.pos, node.feature] = 0.0
                assert full - target_value(leaves, t) == pytest.approx(float(adj[t, s]), abs=1e-4)
                checked += 1
        assert checked >= 12
        # causality: a feature never feeds a feature of its own or an earlier layer, nor a later position
        for t in nodes.index[nodes.kind == "feature"]:
            tn = nodes.iloc[t]
            for s in sources:
                sn = nodes.iloc[s]
                if sn.layer >= tn.layer or sn.pos > tn.pos:
                    assert adj[t, s] == 0


def test_bad_input(setup):
    model, tcs, tokens = setup
    with pytest.raises(InputError, match="one transcoder per layer"):
        attribution_graph(model, tcs[:1], tokens)
    with pytest.raises(InputError, match="layer order|MLP transcoder"):
        attribution_graph(model, tcs[::-1], tokens)
    with pytest.raises(InputError, match="One prompt"):
        attribution_graph(model, tcs, tokens[None])

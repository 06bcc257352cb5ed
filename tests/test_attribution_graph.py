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
    with torch.no_grad():  # trained-like LayerNorms: the transpose must put each weight where the forward has it
        for ln in [m for b in model.blocks for m in (b.ln1, b.ln2)] + [model.ln_final]:
            ln.w.uniform_(0.5, 1.5)
            ln.b.normal_(0, 0.1)
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
    chunked = attribution_graph(model, tcs, tokens, n_logits=3, batch_size=7)  # targets through the transpose 7 at a time
    torch.testing.assert_close(chunked.adjacency, graph.adjacency, atol=1e-6, rtol=1e-5)


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
    with pytest.raises(InputError, match="max_nodes"):
        attribution_graph(model, tcs, tokens, max_nodes=20)
    with pytest.raises(InputError, match="context"):
        attribution_graph(model, tcs, torch.arange(20) % 50)
    wide = [build_transcoder("topk", d_in=16, d_sae=8, layer=layer, k=2) for layer in range(2)]
    with pytest.raises(ValueError, match="width"):
        attribution_graph(model, wide, tokens)


def test_a_clt_of_per_layer_transcoders_gives_the_same_graph_and_cross_layer_edges_are_exact(setup):
    from saes.clt import CrossLayerTranscoder

    model, tcs, tokens = setup
    plain = [tcs[0], build_transcoder("topk", d_in=32, d_sae=48, layer=1, k=4)]
    with torch.no_grad():
        plain[1].W_dec.normal_(0, 0.3)
    clt = CrossLayerTranscoder.from_transcoders(plain)
    a, b = attribution_graph(model, plain, tokens), attribution_graph(model, clt, tokens)
    torch.testing.assert_close(a.adjacency, b.adjacency, atol=1e-5, rtol=1e-5)
    assert a.nodes.equals(b.nodes)
    # give layer 0's latents decoders into layer 1's MLP output: edges from them to the logits change, and each
    # still equals the logit's change when the latent is removed
    with torch.no_grad():
        clt.W_dec(0)[:, 1].normal_(0, 0.3)
    g = attribution_graph(model, clt, tokens, n_logits=1)
    torch.testing.assert_close(g.logits, model(tokens[None])[0].detach(), atol=1e-4, rtol=1e-4)
    rep = _Replacement(model, clt, tokens)
    t = int(g.nodes.index[g.nodes.kind == "logit"][0])
    token = int(g.nodes.feature[t])
    sources = g.nodes.index[(g.nodes.kind == "feature") & (g.nodes.layer == 0)].tolist()
    with torch.no_grad():
        full = float(rep.forward(rep.leaves())[0][-1, token])
        for s in sorted(sources, key=lambda s: -abs(float(g.adjacency[t, s])))[:4]:
            node = g.nodes.iloc[s]
            leaves = rep.leaves()
            leaves["feats"][0][node.pos, node.feature] = 0.0
            assert full - float(rep.forward(leaves)[0][-1, token]) == pytest.approx(float(g.adjacency[t, s]), abs=1e-4)


def test_scores_and_pruning_on_known_answers(setup):
    """Zero MLPs explained by zero transcoders: no error reaches the logits (replacement and completeness 1). The
    same transcoders on the real MLPs: the MLPs' whole output is error, so both scores drop below 1. Pruning keeps
    embeddings and logits."""
    from circuits.attribution_graph import graph_scores, influence, prune

    model, tcs, tokens = setup
    silent = [build_transcoder("topk", d_in=32, d_sae=48, layer=layer, k=4) for layer in range(2)]
    with torch.no_grad():
        for tc in silent:
            tc.W_dec.zero_()
            tc.b_dec.zero_()
    no_mlp = HookedTransformer(model.cfg).eval()
    no_mlp.load_state_dict(model.state_dict())
    with torch.no_grad():
        for block in no_mlp.blocks:
            block.mlp.W_out.zero_()
            block.mlp.b_out.zero_()
    exact = graph_scores(attribution_graph(no_mlp, silent, tokens))
    assert exact["replacement"] == pytest.approx(1.0) and exact["completeness"] == pytest.approx(1.0)
    missing = graph_scores(attribution_graph(model, silent, tokens))
    assert missing["replacement"] < 0.99 and missing["completeness"] < 0.99

    graph = attribution_graph(model, tcs, tokens, n_logits=3)
    full = graph_scores(graph)
    assert 0 < full["replacement"] <= 1 and 0 < full["completeness"] <= 1
    small = prune(graph, node_threshold=0.5)
    kinds = small.nodes.kind.value_counts()
    assert kinds["embed"] == len(tokens) and kinds["logit"] == 3
    assert len(prune(graph, node_threshold=1.0).nodes) >= len(small.nodes)
    assert influence(graph)[graph.nodes.kind == "logit"].sum() == pytest.approx(1.0)


def test_scores_and_pruning_by_hand():
    """A graph small enough to work out: token e feeds features f1, f2, f3 (1 each); the logit reads f1 (0.9), f2
    (0.1) and an error (0.25); f3 feeds nothing. Normalised logit row: f1 .72, f2 .08, error .2, so influences are
    e .8, f1 .72, error .2, f2 .08, f3 0. Replacement .8 / (.8 + .2); completeness: the logit's row is 80% non-error
    and every other row 100%, weighted by influence (the logit's own weight 1): (.8 + .72 + .08 + .8 + .2) / 2.8.
    Node threshold .8 of the total 1.8: e and f1 (cumulative .44, .84), so f2, f3 and the error go."""
    import pandas as pd

    from circuits.attribution_graph import AttributionGraph, graph_scores, influence, prune

    nodes = pd.DataFrame([dict(kind="embed", layer=-1, pos=0, feature=5, value=float("nan")),
                          *[dict(kind="feature", layer=0, pos=0, feature=i, value=1.0) for i in (1, 2, 3)],
                          dict(kind="error", layer=0, pos=0, feature=-1, value=1.0),
                          dict(kind="logit", layer=1, pos=0, feature=7, value=0.0)])
    adj = torch.zeros(6, 6)
    adj[1:4, 0] = 1.0
    adj[5, 1], adj[5, 2], adj[5, 4] = 0.9, -0.1, 0.25
    graph = AttributionGraph(nodes, adj, torch.zeros(1, 10))
    torch.testing.assert_close(influence(graph), torch.tensor([0.8, 0.72, 0.08, 0.0, 0.2, 1.0]))
    scores = graph_scores(graph)
    assert scores["replacement"] == pytest.approx(0.8)
    assert scores["completeness"] == pytest.approx(2.6 / 2.8)
    small = prune(graph, node_threshold=0.8, edge_threshold=0.98)
    assert small.nodes.kind.tolist() == ["embed", "feature", "logit"] and small.nodes.feature.tolist() == [5, 1, 7]
    torch.testing.assert_close(small.adjacency, torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 0.9, 0]]))
    # every node with influence kept; f3 has none (it reaches no logit) and goes, with the error's edge kept
    wide = prune(graph, node_threshold=1.0, edge_threshold=1.0)
    assert wide.nodes.feature.tolist() == [5, 1, 2, -1, 7]
    with pytest.raises(InputError, match="node_threshold"):
        prune(graph, node_threshold=1.5)


def test_interventions_check_an_edge(setup):
    """No edit: the model's logits. Removing a last-layer feature with attention frozen moves a logit by exactly
    its edge (nothing downstream to recompute); with attention free an early feature's removal differs from the
    frozen prediction (attention responds) but stays finite."""
    from circuits.attribution_graph import intervene

    model, tcs, tokens = setup
    graph = attribution_graph(model, tcs, tokens, n_logits=1)
    clean = model(tokens[None])[0].detach()
    torch.testing.assert_close(intervene(model, tcs, tokens, {}), clean, atol=1e-4, rtol=1e-4)
    nodes, adj = graph.nodes, graph.adjacency
    t = int(nodes.index[nodes.kind == "logit"][0])
    token = int(nodes.feature[t])
    last = nodes.index[(nodes.kind == "feature") & (nodes.layer == 1)].tolist()
    s = max(last, key=lambda s: abs(float(adj[t, s])))
    node = nodes.iloc[s]
    edited = intervene(model, tcs, tokens, {(1, int(node.pos), int(node.feature)): 0.0})
    assert float(clean[-1, token] - edited[-1, token]) == pytest.approx(float(adj[t, s]), abs=1e-4)
    first = nodes.index[(nodes.kind == "feature") & (nodes.layer == 0) & (nodes.pos == 1)].tolist()
    key = (0, 1, int(nodes.feature[first[0]]))
    frozen, free = intervene(model, tcs, tokens, {key: 0.0}), intervene(model, tcs, tokens, {key: 0.0}, False)
    assert torch.isfinite(free).all() and not torch.allclose(frozen, free)


def test_interp_graph_command(tiny_run_dir, tmp_path):
    """`interp graph` on a tiny run with one transcoder per layer: the page, the pruned graph and the full matrix;
    a directory missing a layer's transcoder is refused."""
    import json

    from safetensors.torch import load_file

    from interp.app.cli import main
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    specs = [{"name": f"tc{layer}", "hook": f"blocks.{layer}.ln2.hook_normalized",
              "hook_out": f"blocks.{layer}.hook_mlp_out", "architecture": "topk", "k": 4, "expansion": 2}
             for layer in range(2)]
    train_saes(SAETrainConfig(run_dir=str(tiny_run_dir), out_dir=str(tmp_path / "tcs"), n_tokens=8192,
                              batch_size=512, progress=False, buffer_size=4096, saes=specs))
    out = tmp_path / "graph"
    assert main(["graph", str(tiny_run_dir), "--transcoders", str(tmp_path / "tcs"), "--prompt",
                 "Mary and Tom went to the park", "--out-dir", str(out)]) == 0
    doc = json.loads((out / "graph.json").read_text())
    assert 0 < doc["scores"]["replacement"] <= 1 and doc["edges"] and doc["tokens"][0]
    full = load_file(str(out / "adjacency.safetensors"))["adjacency"]
    assert full.shape[0] == len(json.loads((out / "nodes.json").read_text())) >= len(doc["nodes"])
    page = (out / "graph.html").read_text()
    assert "Attribution graph" in page and "top tokens" in page
    import shutil

    shutil.rmtree(tmp_path / "tcs" / "tc1")
    assert main(["graph", str(tiny_run_dir), "--transcoders", str(tmp_path / "tcs"), "--prompt", "Mary"]) == 2


@pytest.mark.parametrize("architecture", __import__("saes.registry", fromlist=["registered"]).registered())
def test_every_architecture_reads_its_input_through_W_enc(architecture):
    """The graph's transpose takes a feature target's direction at the MLP input to be its column of ``W_enc``
    (``pre_acts(x) = x @ W_enc + constant``): true of every registered architecture."""
    torch.manual_seed(0)
    tc = build_transcoder(architecture, d_in=8, d_sae=12, layer=0, k=3)
    with torch.no_grad():
        for p in tc.parameters():
            p.normal_(0, 0.5)
        x = torch.randn(5, 8)
        torch.testing.assert_close(tc.pre_acts(x) - tc.pre_acts(torch.zeros(1, 8)), x @ tc.W_enc)

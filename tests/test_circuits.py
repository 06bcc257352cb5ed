"""circuits/: the graph, edge-patched runs, edge scores against exact patching, selection, faithfulness, ACDC,
all checked on known answers: the planted induction circuit and linearity where it holds exactly."""

from __future__ import annotations

import pytest
import torch

from circuits.acdc import acdc
from circuits.attribute import METHODS, attribute
from circuits.faithfulness import area, circuit_metrics, faithfulness_curve, roc_auc
from circuits.graph import Graph
from circuits.patched import CleanRun, ablated_outputs, run_with_edges, upstream_outputs
from circuits.select import greedy, prune, top_n
from interp.analysis.patching.metrics import logit_diff
from interp.errors import InputError
from interp.models.planted import induction_metric, planted_induction_model, planted_prompts
from interp.models.tl import HookedTransformer, HookedTransformerConfig

PLANTED = ["input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "a0.h0->a1.h0<k>", "input->a1.h0<q>",
           "input->a1.h0<v>", "a1.h0->logits"]


def random_model(attn_only: bool = False, n_layers: int = 2, n_heads: int = 4) -> HookedTransformer:
    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=n_layers, d_model=32, n_heads=n_heads, d_head=8, d_mlp=64, n_ctx=16,
                                  d_vocab=50, act_fn="gelu", normalization_type=None if attn_only else "LN",
                                  attn_only=attn_only, seed=0)
    return HookedTransformer(cfg).eval()


def random_task(n: int = 6, pos: int = 10):
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, 50, (n, pos), generator=g)
    corrupt = clean.clone()
    corrupt[:, 3] = torch.randint(0, 50, (n,), generator=g)
    return clean, corrupt, logit_diff(torch.randint(0, 50, (n,), generator=g), torch.randint(0, 50, (n,), generator=g))


@pytest.fixture(scope="module")
def planted():
    model, _ = planted_induction_model()
    clean, corrupt = planted_prompts(model, n=12)
    return model, clean, corrupt, induction_metric(clean)


def test_graph_counts_names_and_round_trip(tmp_path) -> None:
    for attn_only in (False, True):
        model = random_model(attn_only, n_layers=3, n_heads=2)
        graph = Graph.from_model(model)
        L, H, M = 3, 2, 0 if attn_only else 1
        # each layer's q/k/v inputs read every node before the layer, its MLP also the layer's heads; logits all
        expected = sum(3 * H * (1 + layer * (H + M)) + M * (1 + layer * (H + M) + H) for layer in range(L))
        assert graph.n_edges == expected + 1 + L * (H + M)
        assert len(set(graph.edges)) == graph.n_edges
    assert "a0.h1->m0" in graph.edges or attn_only
    assert "a1.h0->a0.h0<q>" not in graph.edges and "m1->a1.h0<q>" not in Graph.from_model(random_model()).edges
    graph.scores = torch.randn(graph.scores.shape) * graph.allowed
    circuit = top_n(graph, 5)
    circuit.save(tmp_path)
    back = Graph.load(tmp_path)
    assert torch.equal(back.scores, circuit.scores) and back.circuit_edges == circuit.circuit_edges
    with pytest.raises(InputError, match="No edge"):
        graph.edge_index("m9->logits")


def test_edge_patched_run_is_the_model_with_all_edges_and_the_corrupt_run_with_none() -> None:
    model = random_model()
    clean, corrupt, _ = random_task()
    graph = Graph.from_model(model)
    ablated = ablated_outputs(model, graph.shape, clean, corrupt)
    full = graph.allowed[None].clone()
    with torch.no_grad():
        assert torch.allclose(run_with_edges(model, graph.shape, clean, ablated, full), model(clean), atol=1e-5)
        assert torch.allclose(run_with_edges(model, graph.shape, clean, ablated, ~full), model(corrupt), atol=1e-5)
    # starting at the first changed layer from the clean run gives the same logits as the whole rerun
    keep = torch.rand(3, *full.shape[1:], generator=torch.Generator().manual_seed(0)) > 0.3
    keep[..., : graph.shape.down_start(1)] = True
    clean_run = CleanRun(*upstream_outputs(model, graph.shape, clean))
    assert torch.allclose(run_with_edges(model, graph.shape, clean, ablated, keep, clean_run),
                          run_with_edges(model, graph.shape, clean, ablated, keep), atol=1e-5)


def test_eap_equals_exact_patching_where_the_metric_is_linear_in_the_edge() -> None:
    """Attention-only, no LayerNorm: the logits are linear in the final residual stream and a head's output is
    linear in its value input, so EAP's first-order score is the exact effect for edges into the logits and into
    the last layer's values."""
    model = random_model(attn_only=True)
    clean, corrupt, metric = random_task()
    eap = attribute(model, clean, corrupt, metric, "eap", progress=False)
    exact = attribute(model, clean, corrupt, metric, "exact", progress=False)
    s = eap.shape
    for down in [s.logits_down, *range(s.qkv_down(1, "v").start, s.qkv_down(1, "v").stop)]:
        assert exact.scores[0, :, down].abs().max() > 1e-4
        torch.testing.assert_close(eap.scores[0, :, down], exact.scores[0, :, down], atol=1e-6, rtol=1e-4)
    per_pos = attribute(model, clean, corrupt, metric, "eap", per_position=True, progress=False)
    torch.testing.assert_close(per_pos.scores.sum(0), eap.scores[0], atol=1e-6, rtol=1e-5)


def test_integrated_gradients_over_the_inputs_are_complete() -> None:
    """The input node feeds every downstream input, so its edges' EAP-IG-inputs scores sum to the path integral of
    the gradient from the corrupted to the clean embeddings: metric(corrupt) - metric(clean), up to the Riemann
    sum's error; plain EAP (one gradient) misses it on a model this far from linear."""
    model = random_model()
    clean, corrupt, metric = random_task()
    corrupt[:, :8] = torch.randint(0, 50, corrupt[:, :8].shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        total = float(metric(model(corrupt)) - metric(model(clean)))
    ig = attribute(model, clean, corrupt, metric, "eap-ig-inputs", ig_steps=64, progress=False)
    eap = attribute(model, clean, corrupt, metric, "eap", progress=False)
    ig_sum, eap_sum = float(ig.scores[0, 0].sum()), float(eap.scores[0, 0].sum())
    assert abs(ig_sum - total) < 0.05 * abs(total), (ig_sum, total)
    assert abs(eap_sum - total) > 2 * abs(ig_sum - total), (eap_sum, ig_sum, total)


@pytest.mark.parametrize("ablation", ["mean", "zero"])
def test_every_method_finds_the_planted_induction_circuit(planted, ablation: str) -> None:
    """Under mean or zero ablation every circuit edge matters and every other edge carries nothing that is read,
    so a correct method ranks the seven known edges first (under patching the positional edges tie at zero:
    clean and corrupted prompts share positions)."""
    model, clean, corrupt, metric = planted
    for method in METHODS:
        graph = attribute(model, clean, corrupt, metric, method, ablation, progress=False)
        labels = graph.mask_of(PLANTED)[graph.allowed]
        assert roc_auc(graph.edge_scores().abs(), labels) >= 0.95, method
        assert sorted(top_n(graph, len(PLANTED)).circuit_edges) == sorted(PLANTED), method
    found = acdc(model, clean, corrupt, metric, threshold=0.01, ablation=ablation, progress=False)
    assert sorted(found.circuit_edges) == sorted(PLANTED)


def test_the_planted_circuit_alone_is_faithful_and_its_complement_is_not(planted) -> None:
    model, clean, corrupt, metric = planted
    graph = Graph.from_model(model)
    known = graph.mask_of(PLANTED)
    for ablation in ("patching", "mean", "zero"):
        full, empty, circuit, complement = circuit_metrics(
            model, graph, clean, corrupt, metric, [graph.allowed.clone(), known & False, known, graph.allowed & ~known],
            ablation)
        assert (circuit - empty) / (full - empty) >= 0.95
        assert (complement - empty) / (full - empty) <= 0.05


def test_acdc_under_patching_keeps_exactly_the_edges_that_differ(planted) -> None:
    model, clean, corrupt, metric = planted
    """Patching changes only the first copy's tokens, so at the last position (ACDC's KL) the edges carrying
    positions and the current token carry the same value in both prompts: only the copied-token path differs."""
    found = acdc(model, clean, corrupt, metric, threshold=0.01, progress=False)
    assert sorted(found.circuit_edges) == sorted(["input->a0.h0<v>", "a0.h0->a1.h0<k>", "input->a1.h0<v>",
                                                  "a1.h0->logits"])


def test_selection_prunes_dangling_nodes_and_greedy_stays_connected() -> None:
    graph = Graph.from_model(random_model())
    graph.scores = torch.zeros(graph.scores.shape)
    a, b, c = (graph.edge_index(e) for e in ("input->a0.h1<v>", "a0.h1->m1", "m1->logits"))
    for idx, value in ((a, 3.0), (b, 2.0), (c, 1.0), (graph.edge_index("input->a1.h2<q>"), 5.0)):
        graph.scores[idx] = value  # a1.h2 reads the input but feeds nothing in the circuit: dangling
    assert sorted(top_n(graph, 4).circuit_edges) == sorted(["input->a0.h1<v>", "a0.h1->m1", "m1->logits"])
    assert top_n(graph, 4, pruned=False).n_in_circuit == 4
    grown = greedy(graph, 3)
    assert sorted(grown.circuit_edges) == sorted(["input->a0.h1<v>", "a0.h1->m1", "m1->logits"])
    assert prune(graph.with_circuit(graph.mask_of(["a0.h1->m1"]))).n_in_circuit == 0


def test_faithfulness_area_roc_and_curve_on_hand_computed_values(planted) -> None:
    assert area([0.0, 0.5, 1.0], [0.0, 1.0, 1.0]) == pytest.approx((0.75, 0.25))
    scores, labels = torch.tensor([0.9, 0.8, 0.1, 0.7]), torch.tensor([True, False, False, True])
    assert roc_auc(scores, labels) == pytest.approx(0.75)  # pairs (0.9>0.8, 0.9>0.1, 0.7<0.8, 0.7>0.1)
    model, clean, corrupt, metric = planted
    graph = attribute(model, clean, corrupt, metric, "eap", "mean", progress=False)
    curve = faithfulness_curve(model, graph, clean, corrupt, metric, "mean",
                               percents=(5, 100 * len(PLANTED) / graph.n_edges, 50, 100))
    assert curve.faithfulness.iloc[-1] == pytest.approx(1.0, abs=1e-5)
    assert curve.edges.iloc[1] == len(PLANTED) and curve.faithfulness.iloc[1] >= 0.95  # the top 7: the circuit
    assert curve.faithfulness.iloc[0] < 0.5
    assert 0 < curve.attrs["cpr"] <= 1 and curve.attrs["cmd"] >= 0


def test_bad_input_is_refused_with_the_fix(planted, monkeypatch) -> None:
    model, clean, corrupt, metric = planted
    with pytest.raises(InputError, match="same shape"):
        attribute(model, clean, corrupt[:, :-1], metric, progress=False)
    with pytest.raises(InputError, match="single number"):
        attribute(model, clean, corrupt, lambda logits: logits[:, -1, 0], "eap", progress=False)
    with pytest.raises(InputError, match="Unknown method"):
        attribute(model, clean, corrupt, metric, "magic", progress=False)
    with pytest.raises(InputError, match="Unknown ablation"):
        attribute(model, clean, corrupt, metric, "eap", "resample", progress=False)
    monkeypatch.setattr("circuits.budget.available_bytes", lambda device: 1000)
    with pytest.raises(InputError, match="GiB"):
        attribute(model, clean, corrupt, metric, "eap", progress=False)


def test_circuit_command_writes_a_report_and_a_reloadable_graph(tiny_run_dir, tmp_path, capsys) -> None:
    import json

    from circuits.config import CircuitConfig
    from circuits.discover import run_circuit
    from interp.app.cli import main
    from interp.errors import ConfigError, RunDirError

    out = tmp_path / "circuit"
    args = ["circuit", str(tiny_run_dir), "--task", "induction", "--method", "eap-ig", "--top-n", "20",
            "--n-prompts", "4", "--ig-steps", "2", "--out-dir", str(out), "--no-progress"]
    assert main(args) == 0
    assert "faithfulness" in capsys.readouterr().out
    record = json.loads((out / "circuit.json").read_text())
    assert record["method"] == "eap-ig-inputs" and record["config"]["task"] == "induction"
    m = record["metrics"]
    assert 0 < m["circuit_edges"] <= 20 and m["graph_edges"] == Graph.load(out).n_edges
    assert len(record["curve"]) == 10 and record["curve"][-1]["faithfulness"] == pytest.approx(1.0, abs=1e-4)
    assert sorted(e["edge"] for e in record["edges"]) == sorted(Graph.load(out).circuit_edges)
    assert "Faithfulness" in (out / "report.html").read_text()
    with pytest.raises(RunDirError, match="--overwrite"):
        run_circuit(CircuitConfig(run_dir=str(tiny_run_dir), task="induction", out_dir=str(out)))
    with pytest.raises(ConfigError, match="acdc"):
        run_circuit(CircuitConfig(run_dir=str(tiny_run_dir), method="magic", out_dir=str(tmp_path / "x")))


@pytest.mark.parametrize("norm", ["LN", "LNPre", None])
def test_unsplit_gradients_equal_the_split_inputs_pass(norm) -> None:
    """The fast path (ordinary forward, per-head gradients rebuilt through W_Q/K/V and LayerNorm's Jacobian) gives
    the scores of TransformerLens' split-input pass, per edge and per position."""
    from circuits.attribute import _accumulate, _requires_grad
    from circuits.unsplit import unsplit_scores

    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, n_ctx=16, d_vocab=50,
                                  act_fn="gelu", normalization_type=norm, seed=0)
    model = HookedTransformer(cfg).eval()
    clean, corrupt, metric = random_task()
    graph = Graph.from_model(model, per_position=True, n_pos=clean.shape[1])
    clean_run = CleanRun(*upstream_outputs(model, graph.shape, clean))
    delta = ablated_outputs(model, graph.shape, clean, corrupt) - clean_run.outputs
    split, fast = torch.zeros(graph.scores.shape), torch.zeros(graph.scores.shape)
    hooks = [("blocks.0.hook_resid_pre", _requires_grad)]
    _accumulate(model, graph.shape, clean, delta, metric, split, hooks)
    flat = delta.reshape(len(graph.shape.upstream), -1)
    unsplit_scores(model, graph.shape, clean, lambda: flat, metric, fast, hooks)
    assert split.abs().max() > 1e-3
    torch.testing.assert_close(fast, split, atol=1e-5, rtol=1e-4)

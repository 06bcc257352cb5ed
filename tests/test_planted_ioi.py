"""The planted IOI-like circuit (counting head + name mover) does its task, each listed edge carries it (checked with
TransformerLens hooks alone), and circuits/ finds exactly it."""

from __future__ import annotations

import pytest
import torch

from circuits.acdc import acdc
from circuits.attribute import METHODS, attribute
from circuits.faithfulness import circuit_metrics, roc_auc
from circuits.graph import Graph
from interp.models.planted_ioi import (
    PATCHING_CIRCUIT,
    planted_ioi_metric,
    planted_ioi_model,
    planted_ioi_prompts,
)


@pytest.fixture(scope="module")
def ioi():
    model, known = planted_ioi_model()
    clean, corrupt, io, s = planted_ioi_prompts(model, n=16)
    return model, known, clean, corrupt, io, s, planted_ioi_metric(io, s)


def _zero_heads(model, tokens, heads: list[tuple[int, int]]) -> torch.Tensor:
    def zero(head: int):
        def hook(z, hook):
            z[:, :, head] = 0
            return z
        return hook

    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", zero(head))
                                                       for layer, head in heads])


def test_the_model_answers_io_and_the_corrupted_prompts_have_no_answer(ioi) -> None:
    model, _, clean, corrupt, io, s, metric = ioi
    assert clean.shape == corrupt.shape and clean.dtype == corrupt.dtype == torch.int64
    assert ((clean != corrupt).sum(1) == 3).all()  # only the three name slots differ
    with torch.no_grad():
        last = model(clean)[:, -1]
        rows = torch.arange(len(io))
        assert (last.argmax(-1) == io).all()
        assert (last[rows, io] - last[rows, s]).min() > 2
        assert abs(float(metric(model(corrupt)))) < 0.1


def test_distractors_do_nothing_and_each_circuit_head_is_needed(ioi) -> None:
    model, _, clean, _, _, _, metric = ioi
    with torch.no_grad():
        logits = model(clean)
    assert (_zero_heads(model, clean, [(0, 1), (1, 1)]) - logits).abs().max() < 1e-5
    for head in [(0, 0), (1, 0)]:  # counting head, name mover
        assert float(metric(_zero_heads(model, clean, [head]))) < 0.1 * float(metric(logits)), head


def _edge_ablated(model, clean, corrupt_cache, metric, edge: str, ablation: str) -> float:
    """The metric with one edge's share of its downstream input replaced: the upstream output's mean over the batch
    and positions (``mean``), over the batch per position (``mean-positional``), zero, or its corrupted-run value."""
    up, down = edge.split("->")
    out_hook = "blocks.0.hook_resid_pre" if up == "input" else f"blocks.{up[1]}.attn.hook_result"
    pick = (lambda x: x) if up == "input" else (lambda x: x[:, :, int(up.split(".h")[1])])
    seen = {}

    def keep(x, hook):
        seen["up"] = pick(x).clone()

    def replace(x, hook):
        u = seen["up"]
        new = {"mean": lambda: u.mean((0, 1), keepdim=True), "mean-positional": lambda: u.mean(0, keepdim=True),
               "zero": lambda: torch.zeros_like(u), "patching": lambda: pick(corrupt_cache[out_hook])}[ablation]()
        if down == "logits":
            return x - u + new
        x = x.clone()
        x[:, :, int(down.split(".h")[1][0])] += new - u
        return x

    in_hook = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post" if down == "logits" else \
        f"blocks.{down[1]}.hook_{down[-2]}_input"
    with torch.no_grad():
        return float(metric(model.run_with_hooks(clean, fwd_hooks=[(out_hook, keep), (in_hook, replace)])))


@pytest.mark.parametrize("ablation", ["mean", "mean-positional", "zero", "patching"])
def test_each_known_edge_carries_the_task_and_no_other_edge_does(ablation: str) -> None:
    """Independent of circuits/: every edge of the two-layer graph ablated alone through hook_q/k/v_input,
    hook_result and hook_resid_post; the circuit's edges move the metric by > 5, every other edge by < 1e-5."""
    model, known = planted_ioi_model()
    clean, corrupt, io, s = planted_ioi_prompts(model, n=16)
    metric = planted_ioi_metric(io, s)
    model.set_use_split_qkv_input(True)
    model.set_use_attn_result(True)
    with torch.no_grad():
        full = float(metric(model(clean)))
        _, corrupt_cache = model.run_with_cache(corrupt)
    expected = {"mean": known, "mean-positional": [e for e in known if e != "input->a0.h0<q>"], "zero": known,
                "patching": PATCHING_CIRCUIT}[ablation]
    heads = [f"a{layer}.h{h}" for layer in range(2) for h in range(model.cfg.n_heads)]
    edges = [f"{up}->a{layer}.h{h}<{x}>" for layer in range(2) for x in "qkv" for h in range(model.cfg.n_heads)
             for up in ["input", *heads[: layer * model.cfg.n_heads]]] + [f"{up}->logits" for up in ["input", *heads]]
    assert set(expected) < set(edges) and len(edges) == 29
    moved = {e: abs(_edge_ablated(model, clean, corrupt_cache, metric, e, ablation) - full) for e in edges}
    assert {e for e, m in moved.items() if m > 5} == set(expected), moved
    assert max(m for e, m in moved.items() if e not in expected) < 1e-5, moved


def test_the_known_circuit_is_faithful_under_mean_ablation_and_its_part_under_patching(ioi) -> None:
    model, known, clean, corrupt, _, _, metric = ioi
    graph = Graph.from_model(model)
    for ablation, edges in (("mean", known), ("patching", PATCHING_CIRCUIT)):
        full, empty, circuit = circuit_metrics(model, graph, clean, corrupt, metric,
                                               [graph.allowed.clone(), graph.allowed & False, graph.mask_of(edges)],
                                               ablation)
        assert (circuit - empty) / (full - empty) >= 0.95, ablation


@pytest.mark.parametrize("method", METHODS)
def test_every_method_ranks_the_known_edges_first(ioi, method: str) -> None:
    """Every other edge reads or writes a block its reader's weights ignore, so it scores exactly 0."""
    model, known, clean, corrupt, _, _, metric = ioi
    graph = attribute(model, clean, corrupt, metric, method, "mean", progress=False)
    assert roc_auc(graph.edge_scores().abs(), graph.mask_of(known)[graph.allowed]) >= 0.95


def test_acdc_finds_exactly_the_known_circuit(ioi) -> None:
    model, known, clean, corrupt, _, _, metric = ioi
    found = acdc(model, clean, corrupt, metric, threshold=0.01, ablation="mean", progress=False)
    assert sorted(found.circuit_edges) == sorted(known)
    found = acdc(model, clean, corrupt, metric, threshold=0.01, progress=False)
    assert sorted(found.circuit_edges) == sorted(PATCHING_CIRCUIT)

"""The planted IOI-like circuit (counting head + name mover) does its task, and circuits/ finds exactly it."""

from __future__ import annotations

import pytest
import torch

from circuits.acdc import acdc
from circuits.attribute import METHODS, attribute
from circuits.faithfulness import circuit_metrics, roc_auc
from circuits.graph import Graph
from interp.analysis.patching.metrics import logit_diff
from interp.models.planted_ioi import PATCHING_CIRCUIT, planted_ioi_model, planted_ioi_prompts


@pytest.fixture(scope="module")
def ioi():
    model, known = planted_ioi_model()
    clean, corrupt, io, s = planted_ioi_prompts(model, n=16)
    return model, known, clean, corrupt, io, s, logit_diff(io, s)


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

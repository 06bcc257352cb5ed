"""Every circuit method on tracr-compiled programs, whose circuits are known by construction (auto-circuit's
official tracr circuits): the known edges rank first and carry the task alone."""

from __future__ import annotations

import torch

from circuits.acdc import acdc
from circuits.attribute import METHODS, attribute
from circuits.faithfulness import circuit_metrics, roc_auc
from circuits.graph import Graph


def test_the_fixture_is_the_program(tracr_task) -> None:
    task, model, clean, corrupt, metric, circuit = tracr_task
    with torch.no_grad():
        assert abs(float(metric(model(clean))) - circuit["metric_values"]["clean"]) < 1e-4
        assert abs(float(metric(model(corrupt))) - circuit["metric_values"]["corrupt"]) < 1e-4


def test_the_known_circuit_alone_is_faithful_and_its_complement_is_not(tracr_task) -> None:
    task, model, clean, corrupt, metric, circuit = tracr_task
    graph = Graph.from_model(model)
    known = graph.mask_of(circuit["edges"])
    full, empty, alone, complement = circuit_metrics(
        model, graph, clean, corrupt, metric, [graph.allowed.clone(), known & False, known, graph.allowed & ~known])
    assert (alone - empty) / (full - empty) >= 0.95, task
    assert (complement - empty) / (full - empty) <= 0.05, task


def test_every_method_ranks_the_known_edges_first(tracr_task) -> None:
    task, model, clean, corrupt, metric, circuit = tracr_task
    for method in METHODS:
        graph = attribute(model, clean, corrupt, metric, method, progress=False)
        auc = roc_auc(graph.edge_scores().abs(), graph.mask_of(circuit["edges"])[graph.allowed])
        assert auc >= 0.95, (task, method, auc)
    found = acdc(model, clean, corrupt, metric, 0.01, objective="metric", progress=False)
    assert sorted(found.circuit_edges) == sorted(circuit["edges"]), task

"""Check tests/fixtures/tracr/* in the PROJECT venv (no jax): the fixture models reproduce the tracr programs.

    /work/main/.venv/bin/python bench/peers/check_tracr_fixtures.py [--scores]

For each task: build the HookedTransformer from config.json + model.safetensors, run it on the clean prompts and
compare with the program outputs stored in pairs.safetensors (reverse: argmax at positions 1..5 == answer;
xproportion: logits[..., 0] == answer within 1e-4); print the metric on clean and corrupt prompts; check that every
circuit edge is an edge of Graph.from_model(model). --scores also ranks the official circuit's edges under our EAP
and runs our ACDC (informational).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests/fixtures/tracr"


def check(task: str, scores: bool) -> bool:
    from circuits.graph import Graph
    from tests.fixtures.tracr_models import load_tracr  # the tests' loader and metric: one definition

    model, clean, corrupt, metric, circuit = load_tracr(task)
    answer = load_file(str(FIXTURES / task / "pairs.safetensors"))["answer"]
    assert clean.shape == corrupt.shape and clean.dtype == torch.int64, "pairs malformed"
    with torch.no_grad():
        logits = model(clean)
    if task == "reverse":
        pred = logits[:, 1:].argmax(-1)
        ok = bool(torch.equal(pred, answer[:, 1:]))
        detail = f"argmax == program output at {int((pred == answer[:, 1:]).sum())}/{pred.numel()} positions"
    else:
        err = float((logits[:, 1:, 0] - answer[:, 1:]).abs().max())
        ok = err < 1e-4
        detail = f"max |output - program| = {err:.2e}"
    with torch.no_grad():
        m_clean, m_corrupt = float(metric(logits)), float(metric(model(corrupt)))
    expected = circuit["metric_values"]
    ok &= abs(m_clean - expected["clean"]) < 1e-4 and abs(m_corrupt - expected["corrupt"]) < 1e-4
    graph = Graph.from_model(model)
    in_graph = set(circuit["edges"]) | set(circuit.get("acdc_paper_edges", [])) <= set(graph.edges)
    ok &= in_graph
    print(f"{task}: {detail}; metric clean {m_clean:.4f}, corrupt {m_corrupt:.4f}; {graph.n_edges} edges, "
          f"circuit {circuit['edges']} in graph: {in_graph} -> {'OK' if ok else 'FAIL'}")
    if scores:
        from circuits.acdc import acdc
        from circuits.attribute import attribute

        frame = attribute(model, clean, corrupt, metric, method="eap", progress=False).frame()
        ranked = list(frame["edge"])
        print(f"  our EAP ranks of the official edges: {[ranked.index(e) + 1 for e in circuit['edges']]} "
              f"(top 5: {ranked[:5]})")
        g = acdc(model, clean, corrupt, metric, 0.01, objective="metric", positions=list(range(1, clean.shape[1])),
                 progress=False)
        print(f"  our ACDC (metric, tau 0.01): {sorted(g.circuit_edges)}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scores", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tasks = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
    results = [check(task, args.scores) for task in tasks]
    print("PASS" if all(results) else "FAIL")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Circuit discovery against auto-circuit, side by side, plus the circuits' quality on known and trained models.

    python bench/circuits.py --run-dir runs/quickstart/model
    python bench/circuits.py --run-dir runs/quickstart/model --skip-peer      # our numbers only

1. Agreement and speed (IOI on RUN, same model, prompts and edges): auto-circuit 1.0.1 runs in its own virtual
   environment (``bench/peers/setup_auto_circuit.sh``; ``bench/peers/auto_circuit_side.py``) on the model and pairs
   this script saves; we compare its EAP scores with ours (Pearson r over the shared edge names) and its ACDC edges
   with ours at the same threshold, and time both (best of --repeats after a warm-up).
2. Cost and growth: EAP, EAP-IG (5 steps) and ACDC seconds on RUN and on an 8-layer model of the same width
   (random weights: the cost depends on the graph, not on what the weights learnt); ACDC, one patched run per edge,
   is projected there as edges x the measured seconds of one test.
3. Quality: per task (IOI, induction) and method, faithfulness curve at MIB's percentages, CPR, CMD and the smallest
   edge share whose circuit reaches f >= 0.8; edge ROC AUC of every method on the planted circuits.

The last line: ``eap_corr_vs_auto_circuit=... eap_speedup_vs_auto_circuit=... acdc_speedup_vs_auto_circuit=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine  # noqa: E402

import interp  # noqa: E402
from circuits.acdc import acdc  # noqa: E402
from circuits.attribute import METHODS, attribute  # noqa: E402
from circuits.faithfulness import faithfulness_curve, roc_auc  # noqa: E402
from circuits.graph import Graph  # noqa: E402
from circuits.patched import CleanRun, EdgeRunner, ablated_outputs, upstream_outputs  # noqa: E402
from circuits.select import prune  # noqa: E402
from interp.io import atomic_save_safetensors, atomic_write_json  # noqa: E402
from interp.models.planted import induction_metric, planted_induction_model, planted_prompts  # noqa: E402
from interp.models.planted_ioi import planted_ioi_metric, planted_ioi_model, planted_ioi_prompts  # noqa: E402
from interp.models.tl import HookedTransformer, HookedTransformerConfig  # noqa: E402
from interp.tasks.pairs import build_pairs  # noqa: E402

PEER_PYTHON = Path(__file__).resolve().parent / ".venvs" / "auto-circuit" / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "auto_circuit_side.py"
PLANTED = ["input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "a0.h0->a1.h0<k>", "input->a1.h0<q>",
           "input->a1.h0<v>", "a1.h0->logits"]


def best_seconds(fn, repeats: int) -> tuple[float, object]:
    """Best wall seconds of ``repeats`` calls after a warm-up (``repeats`` 0: the one call, timed)."""
    if repeats == 0:
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def save_for_peer(model: HookedTransformer, pairs, folder: Path) -> None:
    """The model as HookedTransformerConfig kwargs + state dict, the pairs as tensors: what the peer script reads."""
    keys = ["n_layers", "d_model", "n_ctx", "d_head", "n_heads", "d_mlp", "d_vocab", "act_fn", "normalization_type",
            "attn_only", "positional_embedding_type", "d_vocab_out", "eps", "original_architecture"]
    cfg = {k: getattr(model.cfg, k) for k in keys if getattr(model.cfg, k, None) is not None}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", cfg)
    atomic_save_safetensors(folder / "model.safetensors", {k: v.float() for k, v in model.state_dict().items()})
    atomic_save_safetensors(folder / "pairs.safetensors", {"clean": pairs.clean, "corrupt": pairs.corrupt,
                                                           "answer": pairs.answer, "wrong": pairs.wrong})


def run_peer(model: HookedTransformer, pairs, threshold: float, repeats: int) -> dict | None:
    if not PEER_PYTHON.exists():
        print(f"auto-circuit's venv is missing ({PEER_PYTHON}): run bench/peers/setup_auto_circuit.sh first.")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        save_for_peer(model, pairs, Path(tmp))
        out = Path(tmp) / "peer.json"
        subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), "--model", tmp, "--pairs", f"{tmp}/pairs.safetensors",
                        "--out", str(out), "--acdc-threshold", str(threshold), "--repeats", str(repeats),
                        "--threads", str(torch.get_num_threads())], check=True, env={**os.environ, "TQDM_DISABLE": "1"})
        return json.loads(out.read_text())


def acdc_test_seconds(model: HookedTransformer, pairs, n: int = 40) -> float:
    """Mean seconds of one ACDC test (a patched run from a random downstream input's layer on), so that ACDC's
    cost on a graph too large to prune here is projected as edges x this."""
    graph = Graph.from_model(model)
    shape = graph.shape
    clean_run = CleanRun(*upstream_outputs(model, shape, pairs.clean))
    run = EdgeRunner(model, shape, pairs.clean, ablated_outputs(model, shape, pairs.clean, pairs.corrupt), clean_run)
    g = torch.Generator().manual_seed(0)
    keep = graph.allowed[None].clone()
    start = time.perf_counter()
    for _ in range(n):
        down = int(torch.randint(len(shape.downstream), (1,), generator=g))
        mask = keep.clone()
        mask[..., down:] &= torch.rand(mask[..., down:].shape, generator=g) > 0.5
        run(mask)
    return (time.perf_counter() - start) / n


def timing_row(name: str, model: HookedTransformer, pairs, threshold: float, objective: str, repeats: int,
               full_acdc: bool) -> dict:
    args = (model, pairs.clean, pairs.corrupt, pairs.metric)
    row = {"model": name, "edges": Graph.from_model(model).n_edges}
    for method in ("eap", "eap-ig-inputs"):
        row[f"{method}_s"] = best_seconds(lambda m=method: attribute(*args, m, progress=False), repeats)[0]
    row["acdc_test_s"] = acdc_test_seconds(model, pairs)
    row["acdc_s"] = (best_seconds(lambda: acdc(*args, threshold, objective=objective, progress=False), 0)[0]
                     if full_acdc else float("nan"))
    row["acdc_projected_s"] = row["acdc_test_s"] * row["edges"]
    return row


def quality(model: HookedTransformer, n_prompts: int) -> pd.DataFrame:
    rows = []
    for task in ("ioi", "induction"):
        pairs = build_pairs(model, task, n=n_prompts)
        for method, how in [(m, "top-n") for m in METHODS] + [("eap-ig-inputs", "greedy")]:
            graph = attribute(model, pairs.clean, pairs.corrupt, pairs.metric, method, progress=False)
            curve = faithfulness_curve(model, graph, pairs.clean, pairs.corrupt, pairs.metric, how=how)
            good = curve[curve.faithfulness >= 0.8]
            rows.append({"task": task, "method": method, "selection": how, "cpr": curve.attrs["cpr"],
                         "cmd": curve.attrs["cmd"],
                         "f_at_5pct": float(curve[curve.percent == 5].faithfulness.iloc[0]),
                         "min_share_f>=0.8": float(good.kept_share.min()) if len(good) else float("nan")})
    return pd.DataFrame(rows)


def planted_auc() -> pd.DataFrame:
    model, _ = planted_induction_model()
    clean, corrupt = planted_prompts(model, n=12)
    metric = induction_metric(clean)
    rows = []
    ioi_model, ioi_known = planted_ioi_model()
    ioi_clean, ioi_corrupt, io, s = planted_ioi_prompts(ioi_model)
    cases = [("planted induction", model, clean, corrupt, metric, PLANTED),
             ("planted IOI", ioi_model, ioi_clean, ioi_corrupt, planted_ioi_metric(io, s), ioi_known)]
    for name, m, c, k, f, known in cases:
        for method in METHODS:
            g = attribute(m, c, k, f, method, "mean", progress=False)
            rows.append({"circuit": name, "method": method,
                         "roc_auc": roc_auc(g.edge_scores().abs(), g.mask_of(known)[g.allowed])})
    return pd.DataFrame(rows)


def wide_model(like: HookedTransformer, n_layers: int) -> HookedTransformer:
    cfg = HookedTransformerConfig(**{**like.cfg.to_dict(), "n_layers": n_layers, "seed": 0})
    return HookedTransformer(cfg, tokenizer=like.tokenizer).eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default="runs/quickstart/model", help="the trained model (the quickstart's)")
    p.add_argument("--n-prompts", type=int, default=32, help="IOI prompt pairs in the comparison (one batch)")
    p.add_argument("--threshold", type=float, default=0.01, help="ACDC threshold, the same for both tools")
    p.add_argument("--objective", default="kl", choices=["kl", "metric"], help="our ACDC objective (match the peer)")
    p.add_argument("--repeats", type=int, default=2, help="timed repeats (best taken) after a warm-up")
    p.add_argument("--skip-peer", action="store_true", help="our numbers only (no auto-circuit venv needed)")
    p.add_argument("--deep-layers", type=int, default=8, help="layers of the growth model (0: skip it)")
    args = p.parse_args()
    torch.manual_seed(0)
    print(machine())
    model = interp.load(args.run_dir, device="cpu")
    pairs = build_pairs(model, "ioi", n=args.n_prompts)
    ours = attribute(model, pairs.clean, pairs.corrupt, pairs.metric, "eap", progress=False)
    eap_s = best_seconds(lambda: attribute(model, pairs.clean, pairs.corrupt, pairs.metric, "eap", progress=False),
                         args.repeats)[0]
    acdc_s, found = best_seconds(lambda: acdc(model, pairs.clean, pairs.corrupt, pairs.metric, args.threshold,
                                              objective=args.objective, progress=False), args.repeats)
    summary = {}
    peer = None if args.skip_peer else run_peer(model, pairs, args.threshold, args.repeats)
    if peer is not None:
        frame = ours.frame().set_index("edge")
        shared = [e for e in peer["eap"] if e in frame.index]
        a = torch.tensor([frame.score[e] for e in shared])
        b = torch.tensor([peer["eap"][e] for e in shared]) * peer.get("eap_sign_to_ours", 1)
        # the peer keeps edges into nodes that feed nothing; pruned, both are the circuit that computes
        theirs = set(prune(ours.with_circuit(ours.mask_of(peer["acdc_edges"]))).circuit_edges)
        mine = set(found.circuit_edges)
        same, jaccard = mine == theirs, len(mine & theirs) / max(1, len(mine | theirs))
        print(f"edges: ours {ours.n_edges}, peer {peer['n_edges']}, shared names {len(shared)}")
        print(f"ACDC edges: ours {len(mine)}, peer {len(peer['acdc_edges'])} ({len(theirs)} pruned), identical {same}, "
              f"Jaccard {jaccard:.3f}")
        summary = {"eap_corr_vs_auto_circuit": float(torch.corrcoef(torch.stack([a, b]))[0, 1]),
                   "eap_speedup_vs_auto_circuit": peer["seconds"]["eap"] / eap_s,
                   "acdc_speedup_vs_auto_circuit": peer["seconds"]["acdc"] / acdc_s,
                   "acdc_jaccard_vs_auto_circuit": jaccard}
        print(f"seconds: EAP ours {eap_s:.3f} peer {peer['seconds']['eap']:.3f}; ACDC ours {acdc_s:.2f} peer "
              f"{peer['seconds']['acdc']:.2f}")
    rows = [timing_row("run", model, pairs, args.threshold, args.objective, args.repeats, True)]
    if args.deep_layers:
        rows.append(timing_row(f"{args.deep_layers} layers", wide_model(model, args.deep_layers), pairs,
                               args.threshold, args.objective, args.repeats, False))
    growth = pd.DataFrame(rows)
    growth["eap_ig_cost_vs_eap"] = growth["eap-ig-inputs_s"] / growth["eap_s"]
    print(growth.round(3).to_string(index=False))
    print(planted_auc().round(3).to_string(index=False))
    table = quality(model, args.n_prompts)
    print(table.round(3).to_string(index=False))
    summary.update({"eap_ig_cost_vs_eap": float(growth["eap_ig_cost_vs_eap"].iloc[0]),
                    "best_ioi_cpr": float(table[table.task == "ioi"].cpr.max()),
                    "best_ioi_min_share_f08": float(table[table.task == "ioi"]["min_share_f>=0.8"].min())})
    print(" ".join(f"{k}={v:.3f}" for k, v in summary.items()))


if __name__ == "__main__":
    main()

"""Run auto-circuit 1.0.1's EAP and ACDC on a saved HookedTransformer; write scores under OUR edge names.

Run with the peer venv (bench/peers/setup_auto_circuit.sh), never with the project's:

    bench/.venvs/auto-circuit/bin/python bench/peers/auto_circuit_side.py \
        --model DIR --pairs pairs.safetensors --out peer.json --acdc-threshold 0.01 --repeats 3

--model DIR: config.json (HookedTransformerConfig kwargs) + model.safetensors (state_dict).
--pairs FILE: safetensors with int64 clean, corrupt [batch, pos], answer, wrong [batch]. Metric: mean over the
batch of logit(answer) - logit(wrong) at the last position (auto-circuit's answer_function="avg_diff" on the
logits, with the model's output sliced to the last position, slice_output="last_seq").

Edge-name mapping (auto-circuit -> ours, the hannamw/EAP-IG names):
    source "Resid Start"   (blocks.0.hook_resid_pre = token + pos embeddings) -> "input"
    source "A{L}.{H}"      (blocks.L.attn.hook_result[:, :, H])               -> "a{L}.h{H}"
    source "MLP {L}"       (blocks.L.hook_mlp_out)                            -> "m{L}"
    dest   "A{L}.{H}.Q|K|V" (blocks.L.hook_{q,k,v}_input[:, :, H])            -> "a{L}.h{H}<q|k|v>"
    dest   "MLP {L}"       (blocks.L.hook_mlp_in)                             -> "m{L}"
    dest   "Resid End"     (blocks.{n-1}.hook_resid_post, before ln_final)    -> "logits"
    edge   f"{src}->{dest}" -> f"{ours(src)}->{ours(dest)}"

Output JSON: {"eap": {edge: score}, "acdc_edges": [edge, ...], "seconds": {"eap": s, "acdc": s},
"n_edges": int, "versions": {...}, "notes": "...", plus "eap_sign_to_ours", "acdc_threshold", "n_prompts",
"n_pos", "metric_clean", "metric_corrupt"}.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import sys
import time
from pathlib import Path

# ACDC visits edges sorted by destination layer only; ties keep the iteration order of the Python set
# PatchableModel.edges. Under Python 3.11 that order differs from process to process even with a fixed
# PYTHONHASHSEED (the Node dataclasses hash None fields, and hash(None) is address-based before 3.12), so the
# circuit ACDC returns can change from run to run. --acdc-order fixes it (default: our order, see below).
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import torch as t  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_names import our_node  # noqa: E402

os.environ.setdefault("TQDM_DISABLE", "1")

NOTES = (
    "Peer: auto-circuit 1.0.1, patchable_model(factorized=True, separate_qkv=True, slice_output='last_seq', "
    "seq_len=None): one edge per (src, dest) pair, NOT per position (seq_len=None patches all positions at once). "
    "Graph: every src whose auto-circuit layer is < the dest's layer (blocks count as 2 layers: heads of layer L "
    "are layer 2L+1, MLP L is 2L+2), so same-layer attention->MLP edges exist (a{L}.h{H}->m{L}), like ours. "
    "EAP = LOGIT_DIFF_GRAD_PRUNE_ALGO ('Edge Attribution Patching', key 'Edge Answer Logit Diff Gradient At "
    "Clean'): mask_gradient_prune_scores(grad_function='logit', answer_function='avg_diff', mask_val=0.0, "
    "ablation RESAMPLE from the corrupt prompts, no integrated gradients). Score = d(loss)/d(mask) at mask=0 with "
    "loss = -mean logit diff (last position), i.e. sum over batch & positions of (corrupt_src - clean_src) . "
    "d(-metric)/d(dest input) averaged over the batch: the first-order estimate of the metric DROP when the edge is "
    "patched to corrupt. So peer score ~= -1 x our score (ours = estimated metric change); field eap_sign_to_ours "
    "= -1. Scores are signed (not absolute) as returned; auto-circuit itself ranks edges by |score| "
    "(desc_prune_scores uses .abs()). "
    "ACDC = acdc_prune_scores with the single tau = --acdc-threshold (tao_bases=[thr], tao_exps=[0]), "
    "faithfulness_target='kl_div': KL(clean model || patched model) of the next-token distribution at the LAST "
    "position only (the out_slice), mean over the batch (only the first batch of the loader is used). An edge is "
    "removed (patched to corrupt, for good) when KL_now - KL_before < tau, i.e. the threshold bounds the "
    "INCREASE of KL over the current circuit (not the absolute KL; a decrease always removes). Edge order: sorted by "
    "destination layer, descending (Resid End first, then the last MLP, last attention heads' Q/K/V, ...), ties "
    "in Python set order, NOT reproducible across processes under Python 3.11 (hash(None) is address-based); this "
    "script fixes the tie order (--acdc-order, field acdc_order; default 'ours' = our acdc's order: from the logits "
    "back, m{L} then layer L's v, k, q inputs, last head first, each input's senders latest first). No pruning of nodes "
    "left without outgoing edges. acdc_edges = edges whose prune score stayed +inf (never removed). "
    "Models run in the peer venv's transformer-lens 2.18.0 (auto-circuit imports "
    "transformer_lens.past_key_value_caching, gone in TL 3.x)."
)


def our_edge(edge) -> str:
    return f"{our_node(edge.src.name)}->{our_node(edge.dest.name)}"


def our_order_key(name: str, n_heads: int) -> tuple[int, int]:
    """Our ACDC's visiting order: downstream inputs from the logits back (m{L}, then layer L's values, keys,
    queries, last head first), each input's senders latest first. Sort ascending by this key."""
    up, down = name.split("->")

    def up_idx(n: str) -> int:
        if n == "input":
            return 0
        if m := re.fullmatch(r"a(\d+)\.h(\d+)", n):
            return 1 + int(m[1]) * (n_heads + 1) + int(m[2])
        return 1 + int(n[1:]) * (n_heads + 1) + n_heads  # m{L}

    def down_idx(n: str) -> int:
        if n == "logits":
            return 10**9
        if m := re.fullmatch(r"a(\d+)\.h(\d+)<([qkv])>", n):
            return int(m[1]) * (3 * n_heads + 1) + "qkv".index(m[3]) * n_heads + int(m[2])
        return int(n[1:]) * (3 * n_heads + 1) + 3 * n_heads  # m{L}

    return (-down_idx(down), -up_idx(up))


def load_model(model_dir: Path):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = json.loads((model_dir / "config.json").read_text())
    cfg.update(use_attn_result=True, use_split_qkv_input=True, use_hook_mlp_in=True, device="cpu")
    model = HookedTransformer(HookedTransformerConfig(**cfg))
    params = {n for n, _ in model.named_parameters()}
    # Buffers (attention masks, IGNORE) differ between TransformerLens versions and are rebuilt from the config.
    sd = {k: v for k, v in load_file(str(model_dir / "model.safetensors")).items() if k in params}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    bad_missing = [k for k in missing if k in params]
    if bad_missing or unexpected:
        raise SystemExit(f"state_dict mismatch: missing params {bad_missing}, unexpected {unexpected}")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def loader_for(pairs: dict):
    from auto_circuit.data import PromptDataLoader, PromptDataset

    clean, corrupt = pairs["clean"].long(), pairs["corrupt"].long()
    ds = PromptDataset(clean, corrupt, pairs["answer"].long()[:, None], pairs["wrong"].long()[:, None])
    # One batch holding every pair (ACDC only ever reads the first batch).
    return PromptDataLoader(ds, seq_len=None, diverge_idx=0, batch_size=clean.shape[0], shuffle=False)


def best_time(fn, repeats: int):
    fn()  # warm-up
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--pairs", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--acdc-threshold", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machine)")
    ap.add_argument("--acdc-order", choices=("ours", "name", "native"), default="ours",
                    help="ACDC tie order within a destination layer: ours (default; our acdc's order), name "
                         "(alphabetical, auto-circuit names), native (auto-circuit's set order: not reproducible)")
    args = ap.parse_args()
    t.set_num_threads(args.threads)

    from auto_circuit.prune_algos.ACDC import acdc_prune_scores
    from auto_circuit.prune_algos.mask_gradient import mask_gradient_prune_scores
    from auto_circuit.utils.graph_utils import patchable_model, set_all_masks

    pairs = load_file(str(args.pairs))
    model = load_model(args.model)
    with t.no_grad():
        def logit_diff(tokens):
            last = model(tokens)[:, -1]
            rows = t.arange(last.shape[0])
            return float((last[rows, pairs["answer"]] - last[rows, pairs["wrong"]]).mean())
        metric_clean, metric_corrupt = logit_diff(pairs["clean"]), logit_diff(pairs["corrupt"])

    pmodel = patchable_model(model, factorized=True, slice_output="last_seq", seq_len=None,
                             separate_qkv=True, device=t.device("cpu"))
    loader = loader_for(pairs)
    edges = sorted(pmodel.edges, key=lambda e: e.name)
    names = [our_edge(e) for e in edges]
    assert len(set(names)) == len(names), "edge-name mapping is not one-to-one"
    if args.acdc_order != "native":
        from ordered_set import OrderedSet

        # acdc_prune_scores stably sorts model.edges by dest.layer (descending), so this fixes the tie order.
        # "ours" is consistent with dest.layer descending, so ACDC visits edges exactly in our acdc's order.
        key = ((lambda e: our_order_key(our_edge(e), model.cfg.n_heads)) if args.acdc_order == "ours"
               else (lambda e: e.name))
        pmodel.edges = OrderedSet(sorted(pmodel.edges, key=key))

    def run_eap():
        set_all_masks(pmodel, 0.0)
        return mask_gradient_prune_scores(pmodel, loader, None, grad_function="logit",
                                          answer_function="avg_diff", mask_val=0.0)

    def run_acdc():
        set_all_masks(pmodel, 0.0)
        ps = acdc_prune_scores(pmodel, loader, None, tao_exps=[0], tao_bases=[args.acdc_threshold])
        set_all_masks(pmodel, 0.0)
        return ps

    eap_s, eap_ps = best_time(run_eap, args.repeats)
    acdc_s, acdc_ps = best_time(run_acdc, args.repeats)

    eap = {n: float(e.prune_score(eap_ps)) for n, e in zip(names, edges, strict=True)}
    acdc_edges = sorted(n for n, e in zip(names, edges, strict=True) if bool(t.isinf(e.prune_score(acdc_ps))))
    versions = {p: md.version(p) for p in ("auto-circuit", "torch", "transformer-lens", "tracr-pypi", "jax")}
    out = {
        "eap": eap,
        "acdc_edges": acdc_edges,
        "seconds": {"eap": eap_s, "acdc": acdc_s},
        "n_edges": len(names),
        "versions": versions,
        "notes": NOTES,
        "eap_sign_to_ours": -1,
        "acdc_threshold": args.acdc_threshold,
        "n_prompts": int(pairs["clean"].shape[0]),
        "n_pos": int(pairs["clean"].shape[1]),
        "metric_clean": metric_clean,
        "metric_corrupt": metric_corrupt,
        "threads": args.threads,
        "acdc_order": args.acdc_order,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"auto-circuit: {len(names)} edges, EAP {eap_s:.3f}s, ACDC {acdc_s:.3f}s "
          f"({len(acdc_edges)} edges kept at tau={args.acdc_threshold}) -> {args.out}")


if __name__ == "__main__":
    main()

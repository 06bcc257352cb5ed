"""Our attribution graphs (circuits/attribution_graph.py) against circuit-tracer 0.5.0's, same model, transcoders,
prompt and logit targets.

    python bench/attribution_graph.py                 # jumprelu PLT, standard (ReLU) PLT + skip, JumpReLU CLT
    python bench/attribution_graph.py --kinds clt --d-model 64 --d-sae 128 --seq 12

circuit-tracer runs in its own virtual environment (``bench/peers/setup_circuit_tracer.sh``: it pins
transformers<=4.57.3, the project has 5.x) through ``bench/peers/circuit_tracer_side.py``, on what this script
saves: a random GPT-2-style HookedTransformer (config JSON + parameters), random transcoders in the files
circuit-tracer's own loaders read (per-layer: ``layer_{i}.safetensors`` for ``load_relu_transcoder``; a CLT through
``saes.clt_format.export_circuit_tracer`` for ``load_clt``), the tokens and the logit targets (our top-k).

Node mapping (ours -> circuit-tracer's): feature (layer, pos, index) -> the same active feature; error (layer, pos)
-> error node (layer, pos); embed (pos) -> token node (pos); logit (token t) -> logit target t.

Conventions, and what the comparison does about each:
  * Logit targets. circuit-tracer's are demeaned: it injects W_U[:, t] - mean_v W_U[:, v] at ``unembed.hook_pre``,
    so its logit row is the direct effect on logit_t - mean_v logit_v (b_U drops out). Ours is the raw logit_t. Our
    graph is also computed with every vocabulary logit as a target and the demeaned row formed (row_t - mean_v
    row_v): that is compared with its default rows ("logit (demeaned)"); its rows from CustomTargets carrying the
    raw W_U[:, t] are compared with ours as they are ("logit (raw)").
  * Position 0. circuit-tracer takes position 0 to be BOS and zeroes it: no feature nodes there, and the error
    vectors at position 0 set to 0 (its error nodes (l, 0) exist with no edges). Ours keeps every position. Only
    positions >= 1 of features and errors are compared; our position-0 nodes are counted as "ours only". (Its
    tokenizer must see a special token at position 0, else it prepends one; the prompt starts with BOS here.)
  * Token nodes. circuit-tracer's token node is the token embedding alone (W_E[tok] at ``hook_embed``); the
    positional embedding is not a node (its effect is left out, like a bias). Our embed node is token +
    positional embedding. "token (as is)" compares the two as they are; "token (pos removed)" subtracts the
    positional part (grad . W_pos[p], the gradient taken at our embed leaf) from ours.
  * Frozen parts. Both freeze attention patterns and every LayerNorm scale (ln1, ln2, ln_final) at this prompt's
    values and stop gradients at the MLP outputs, so each edge is (source activation) x (gradient of the target in
    the linear replacement model); a feature target is its pre-activation (x @ W_enc + b_enc), in both.
  * Graph scores and pruning. Computed by each side on the SAME adjacency (circuit-tracer's, mapped into our node
    table): replacement and completeness agree, and our ``prune`` keeps the same nodes and non-zero edges as its
    ``prune_graph`` (thresholds 0.8 / 0.98): the definitions are the same.

The last line: ``edge_corr_vs_circuit_tracer=... speedup_vs_circuit_tracer=... same_pruned_nodes=0|1
max_abs_edge_diff=... n_edges=... ours_seconds=... theirs_seconds=...`` over every compared edge of every kind run,
conventions matched (demeaned logits, positional part removed from our token
edges); n_edges counts the (target, source) pairs compared (zeros included); seconds are the best of --repeats
calls of ``attribution_graph`` / ``attribute`` (summed over kinds), speedup = theirs / ours.
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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from circuits.attribution_graph import (  # noqa: E402
    AttributionGraph,
    _Replacement,
    attribution_graph,
    graph_scores,
    prune,
)
from interp.models.tl import HookedTransformer, HookedTransformerConfig  # noqa: E402
from saes import build_transcoder  # noqa: E402
from saes.clt import CLTConfig, CrossLayerTranscoder  # noqa: E402
from saes.clt_format import export_circuit_tracer  # noqa: E402

PEER_PYTHON = Path(__file__).resolve().parent / ".venvs" / "circuit-tracer" / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "circuit_tracer_side.py"
BOS = 0


def build_model(d_model: int, seed: int) -> tuple[HookedTransformer, dict]:
    kwargs = dict(n_layers=2, d_model=d_model, n_heads=4, d_head=d_model // 4, d_mlp=4 * d_model, n_ctx=32,
                  d_vocab=64, act_fn="gelu", normalization_type="LN", positional_embedding_type="standard",
                  seed=seed, device="cpu")  # dtype: float32, TransformerLens' default
    cfg = HookedTransformerConfig(**kwargs)
    model = HookedTransformer(cfg).eval()
    g = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():  # trained-like LayerNorms (weights away from 1, biases away from 0)
        for ln in [m for b in model.blocks for m in (b.ln1, b.ln2)] + [model.ln_final]:
            ln.w.copy_(0.5 + torch.rand(ln.w.shape, generator=g))
            ln.b.copy_(0.1 * torch.randn(ln.b.shape, generator=g))
    return model, kwargs


def _encoder_weights(enc, d_model: int, jump: bool, g: torch.Generator) -> None:
    """Pre-activations ~ N(-0.3, 1) on LayerNorm'd inputs: roughly a fifth to a third of the features fire."""
    with torch.no_grad():
        enc.W_enc.copy_(torch.randn(enc.W_enc.shape, generator=g) / d_model ** 0.5)
        enc.b_enc.fill_(-0.3)
        if jump:
            enc.threshold.copy_(0.2 + 0.3 * torch.rand(enc.threshold.shape, generator=g))


def build_transcoders(kind: str, d_model: int, d_sae: int, seed: int, skip: bool):
    g = torch.Generator().manual_seed(seed + 1)
    if kind == "clt":
        clt = CrossLayerTranscoder(CLTConfig(n_layers=2, d_model=d_model, d_sae=d_sae, activation="jumprelu"))
        for layer in range(2):
            _encoder_weights(clt.encoder(layer), d_model, True, g)
            with torch.no_grad():
                w = clt.W_dec(layer)
                w.copy_(0.3 * torch.randn(w.shape, generator=g) / d_model ** 0.5)
        with torch.no_grad():
            clt.b_dec.copy_(0.05 * torch.randn(clt.b_dec.shape, generator=g))
        return clt
    tcs = []
    for layer in range(2):
        tc = build_transcoder(kind, d_in=d_model, d_sae=d_sae, layer=layer, skip=skip)
        _encoder_weights(tc, d_model, kind == "jumprelu", g)
        with torch.no_grad():
            tc.W_dec.copy_(0.3 * torch.randn(tc.W_dec.shape, generator=g) / d_model ** 0.5)
            tc.b_dec.copy_(0.05 * torch.randn(tc.b_dec.shape, generator=g))
            if skip:
                tc.W_skip.copy_(0.1 * torch.randn(tc.W_skip.shape, generator=g) / d_model ** 0.5)
        tcs.append(tc)
    return tcs


def save_inputs(folder: Path, model: HookedTransformer, model_kwargs: dict, dicts, tokens: torch.Tensor,
                logit_ids: list[int], batch_size: int, repeats: int) -> None:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text(json.dumps(model_kwargs))
    save_file({n: p.detach().contiguous().clone() for n, p in model.named_parameters()},
              str(folder / "model" / "model.safetensors"))
    if isinstance(dicts, CrossLayerTranscoder):
        export_circuit_tracer(dicts, folder / "clt")
    else:
        (folder / "transcoders").mkdir()
        for layer, tc in enumerate(dicts):  # circuit-tracer's SingleLayerTranscoder.to_safetensors layout
            state = {"W_enc": tc.W_enc.T, "W_dec": tc.W_dec, "b_enc": tc.b_enc, "b_dec": tc.b_dec}
            if hasattr(tc, "threshold"):
                state["activation_function.threshold"] = tc.threshold
            if tc.cfg.skip:
                state["W_skip"] = tc.W_skip
            save_file({k: v.detach().contiguous().clone() for k, v in state.items()},
                      str(folder / "transcoders" / f"layer_{layer}.safetensors"))
    (folder / "request.json").write_text(json.dumps({
        "tokens": tokens.tolist(), "logit_ids": logit_ids, "bos": BOS, "batch_size": batch_size,
        "repeats": repeats, "feature_input_hook": "ln2.hook_normalized", "feature_output_hook": "hook_mlp_out"}))


def run_peer(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    if not PEER_PYTHON.exists():
        raise SystemExit(f"circuit-tracer's venv is missing ({PEER_PYTHON}): run bench/peers/setup_circuit_tracer.sh")
    out = folder / "peer"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), "--inputs", str(folder), "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"circuit-tracer side failed:\n{proc.stderr[-4000:]}")
    return load_file(str(out / "graph.safetensors")), json.loads((out / "graph.json").read_text())


def pos_embed_part(model: HookedTransformer, dicts, tokens: torch.Tensor, targets: list[tuple[str, tuple]]
                   ) -> torch.Tensor:
    """[n_targets, pos]: the positional embedding's share of our embed-node edges, grad(target) . W_pos[p] (the
    gradient at our embed leaf, in the same frozen replacement model as attribution_graph)."""
    rep = _Replacement(model, dicts, tokens)
    leaves = rep.leaves(requires_grad=True)
    logits, pre = rep.forward(leaves)
    out = torch.zeros(len(targets), tokens.shape[0])
    for row, (kind, key) in enumerate(targets):
        t = logits[-1, key[0]] if kind == "logit" else pre[key[0]][key[1], key[2]]
        (g,) = torch.autograd.grad(t, [leaves["pos_embed"]], retain_graph=True)
        out[row] = (g * rep.pos_embed).sum(-1)
    return out


def their_keys(peer: dict[str, torch.Tensor], meta: dict) -> list[tuple]:
    keys = [("feature", *map(int, f)) for f in peer["active_features"].tolist()]
    keys += [("error", layer, p) for layer in range(meta["n_layers"]) for p in range(meta["n_pos"])]
    keys += [("token", p) for p in range(meta["n_pos"])]
    keys += [("logit", t) for t in meta["logit_targets"]]
    return keys


def our_keys(graph: AttributionGraph) -> list[tuple]:
    out = []
    for r in graph.nodes.itertuples():
        if r.kind == "embed":
            out.append(("token", r.pos))
        elif r.kind == "feature":
            out.append(("feature", r.layer, r.pos, r.feature))
        elif r.kind == "error":
            out.append(("error", r.layer, r.pos))
        else:
            out.append(("logit", r.feature))
    return out


def their_graph_in_our_table(peer: dict[str, torch.Tensor], meta: dict,
                             keys: list[tuple]) -> tuple[AttributionGraph, torch.Tensor]:
    """circuit-tracer's adjacency under our node table (embed, feature, error, logit), for our graph scores and
    pruning; and the order of its nodes in that table (its index of each of our rows)."""
    import pandas as pd

    order = ([i for i, k in enumerate(keys) if k[0] == "token"] + [i for i, k in enumerate(keys) if k[0] == "feature"]
             + [i for i, k in enumerate(keys) if k[0] == "error"] + [i for i, k in enumerate(keys) if k[0] == "logit"])
    kind = {"token": "embed", "feature": "feature", "error": "error", "logit": "logit"}
    rows = []
    for i in order:
        k = keys[i]
        layer = k[1] if k[0] in ("feature", "error") else (-1 if k[0] == "token" else meta["n_layers"])
        rows.append(dict(kind=kind[k[0]], layer=layer, pos=k[2] if k[0] == "feature" else (k[1] if k[0] == "token" else
                         (k[2] if k[0] == "error" else meta["n_pos"] - 1)),
                         feature=k[3] if k[0] == "feature" else (k[1] if k[0] == "logit" else -1), value=0.0))
    idx = torch.tensor(order)
    return AttributionGraph(pd.DataFrame(rows), peer["adjacency"][idx][:, idx], peer["logits"]), idx


def same_pruning(same: AttributionGraph, idx: torch.Tensor, peer: dict[str, torch.Tensor]) -> tuple[bool, bool, int, int]:
    """Our ``prune`` of circuit-tracer's graph against its ``prune_graph`` masks: (same nodes, same non-zero edges,
    nodes kept, edges kept)."""
    small = prune(same, node_threshold=0.8, edge_threshold=0.98)
    key = lambda nodes: list(zip(nodes.kind, nodes.layer, nodes.pos, nodes.feature, strict=True))  # noqa: E731
    ours_nodes = set(key(small.nodes))
    node_mask = peer["prune_node_mask"].bool()[idx]
    theirs_nodes = {k for k, kept in zip(key(same.nodes), node_mask.tolist(), strict=True) if kept}
    theirs_edges = peer["prune_edge_mask"].bool()[idx][:, idx] & (same.adjacency != 0) & node_mask[:, None] & node_mask[None]
    rows = torch.tensor([i for i, k in enumerate(key(same.nodes)) if k in ours_nodes])
    ours_edges = torch.zeros_like(theirs_edges)
    ours_edges[rows[:, None], rows[None]] = small.adjacency != 0
    return (ours_nodes == theirs_nodes, bool(torch.equal(ours_edges, theirs_edges)), len(ours_nodes),
            int(ours_edges.sum()))


def compare_kind(kind: str, args) -> tuple[list[tuple], dict]:
    torch.manual_seed(args.seed)
    model, model_kwargs = build_model(args.d_model, args.seed)
    dicts = build_transcoders("jumprelu" if kind == "clt" else kind, args.d_model, args.d_sae, args.seed,
                              skip=args.skip and kind == "standard") if kind != "clt" else \
        build_transcoders("clt", args.d_model, args.d_sae, args.seed, skip=False)
    g = torch.Generator().manual_seed(args.seed + 2)
    tokens = torch.cat([torch.tensor([BOS]), torch.randint(1, 64, (args.seq - 1,), generator=g)])
    with torch.no_grad():
        clean = model(tokens[None])[0]
    logit_ids = clean[-1].topk(args.n_logits).indices.tolist()

    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = attribution_graph(model, dicts, tokens, n_logits=args.n_logits)
        seconds.append(time.perf_counter() - start)
    full = attribution_graph(model, dicts, tokens, n_logits=model.cfg.d_vocab)  # every logit: for the demeaned rows
    n_head = len(ours.nodes) - args.n_logits  # the same embed / feature / error nodes, then the logits
    same_rows = float((full.adjacency[:n_head, :n_head] - ours.adjacency[:n_head, :n_head]).abs().max())

    with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
        folder = Path(tmp)
        save_inputs(folder, model, model_kwargs, dicts, tokens, logit_ids, args.batch_size, args.repeats)
        peer, meta = run_peer(folder)

    tk, ok = their_keys(peer, meta), our_keys(full)
    t_index, o_index = {k: i for i, k in enumerate(tk)}, {k: i for i, k in enumerate(ok)}
    if meta["input_tokens"] != tokens.tolist():
        raise SystemExit(f"circuit-tracer attributed {meta['input_tokens']}, not {tokens.tolist()}")
    logit_diff = float((peer["logits"] - clean).abs().max())

    # our logit rows, raw and demeaned (row_t - mean over the whole vocabulary)
    adj = full.adjacency.clone()
    logit_rows = {k[1]: o_index[k] for k in ok if k[0] == "logit"}
    vocab_rows = torch.tensor([logit_rows[t] for t in range(model.cfg.d_vocab)])
    mean_row = adj[vocab_rows].mean(0)
    # features: same set (positions >= 1), same activations
    their_feats = {k for k in tk if k[0] == "feature"}
    our_feats = {k for k in ok if k[0] == "feature"}
    if their_feats != {k for k in our_feats if k[2] != 0}:
        raise SystemExit(f"active features differ: ours only {sorted({k for k in our_feats if k[2]} - their_feats)[:5]},"
                         f" theirs only {sorted(their_feats - our_feats)[:5]}")
    vals = full.nodes.value.to_numpy()
    act_diff = max((abs(float(peer["activation_values"][t_index[k]]) - float(vals[o_index[k]])) for k in their_feats),
                   default=0.0)

    # common nodes: no position-0 feature / error (circuit-tracer zeroes them)
    sources = [k for k in tk if k in o_index and k[0] != "logit" and not (k[0] in ("feature", "error") and k[2] == 0)]
    feat_targets = [k for k in tk if k[0] == "feature"]
    logit_targets = [("logit", t) for t in logit_ids]
    targets_for_pos = ([("feature", (k[1], k[2], k[3])) for k in feat_targets]
                       + [("logit", (t,)) for t in range(model.cfg.d_vocab)])
    pos_part = pos_embed_part(model, dicts, tokens, targets_for_pos)
    pos_rows = {(("feature", *key) if kind_ == "feature" else ("logit", key[0])): pos_part[i]
                for i, (kind_, key) in enumerate(targets_for_pos)}
    pos_mean = pos_part[len(feat_targets):].mean(0)

    ours_raw = lambda t: adj[o_index[t]]  # noqa: E731
    ours_demeaned = lambda t: adj[o_index[t]] - mean_row  # noqa: E731
    pos_raw = lambda t: pos_rows[t]  # noqa: E731
    pos_demeaned = lambda t: pos_rows[t] - pos_mean  # noqa: E731
    theirs = lambda t: peer["adjacency"][t_index[t]]  # noqa: E731
    theirs_raw = lambda t: peer["adjacency_raw_logits"][logit_ids.index(t[1])]  # noqa: E731
    rows, matched = [], []
    # (source label, target label, targets, our row, their row, positional part removed from our token edges
    #  (None: as is), counted in the last line)
    spec = [("feature", "feature", feat_targets, ours_raw, theirs, None, True),
            ("error", "feature", feat_targets, ours_raw, theirs, None, True),
            ("token (pos removed)", "feature", feat_targets, ours_raw, theirs, pos_raw, True),
            ("token (as is)", "feature", feat_targets, ours_raw, theirs, None, False),
            ("feature", "logit (demeaned)", logit_targets, ours_demeaned, theirs, None, True),
            ("error", "logit (demeaned)", logit_targets, ours_demeaned, theirs, None, True),
            ("token (pos removed)", "logit (demeaned)", logit_targets, ours_demeaned, theirs, pos_demeaned, True),
            ("feature", "logit (raw)", logit_targets, ours_raw, theirs_raw, None, True),
            ("error", "logit (raw)", logit_targets, ours_raw, theirs_raw, None, True),
            ("token (pos removed)", "logit (raw)", logit_targets, ours_raw, theirs_raw, pos_raw, True),
            ("feature", "logit: ours raw vs theirs demeaned", logit_targets, ours_raw, theirs, None, False)]
    for src_label, tgt_label, targets, o_fn, t_fn, pos_fn, counted in spec:
        srcs = [k for k in sources if k[0] == src_label.split(" ")[0]]
        if not srcs or not targets:
            continue
        o = torch.stack([o_fn(tt)[[o_index[s] for s in srcs]] for tt in targets])
        t = torch.stack([t_fn(tt)[[t_index[s] for s in srcs]] for tt in targets])
        if pos_fn is not None:
            o = o - torch.stack([pos_fn(tt)[[s[1] for s in srcs]] for tt in targets])
        diff = (o - t).abs()
        corr = float(torch.corrcoef(torch.stack([o.flatten(), t.flatten()]))[0, 1]) if o.numel() > 1 else float("nan")
        rows.append((kind, f"{src_label} -> {tgt_label}", o.numel(), int((t != 0).sum()), float(o.abs().max()),
                     float(diff.max()), corr))
        if counted:
            matched.append((o.flatten(), t.flatten()))

    # graph scores on the same adjacency (theirs, in our node table)
    same, same_idx = their_graph_in_our_table(peer, meta, tk)
    ours_scores = graph_scores(same)
    info = dict(kind=kind, same_rows=same_rows, ours_seconds=min(seconds), theirs_seconds=min(meta["seconds"]), logit_diff=logit_diff,
                act_diff=act_diff, n_features_ours=len(our_feats), n_features_theirs=len(their_feats),
                ours_only_nodes=len([k for k in ok if k[0] in ("feature", "error") and k[2] == 0]),
                replacement=(ours_scores["replacement"], meta["replacement_score"]),
                completeness=(ours_scores["completeness"], meta["completeness_score"]),
                matched=matched, versions=meta["versions"], pruned=(meta["pruned_nodes"], meta["pruned_edges"]),
                our_pruned=same_pruning(same, same_idx, peer))
    return rows, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="jumprelu,standard,clt", help="comma list of jumprelu, standard, clt")
    ap.add_argument("--skip", action=argparse.BooleanOptionalAction, default=True,
                    help="skip connections (W_skip) on the standard (ReLU) transcoders")
    ap.add_argument("--d-model", type=int, default=48)
    ap.add_argument("--d-sae", type=int, default=96)
    ap.add_argument("--seq", type=int, default=10, help="prompt length, BOS included")
    ap.add_argument("--n-logits", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128, help="circuit-tracer's attribute batch_size")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"# {machine()}; threads={torch.get_num_threads()}")

    all_rows, infos = [], []
    for kind in args.kinds.split(","):
        rows, info = compare_kind(kind.strip(), args)
        all_rows += rows
        infos.append(info)
    print(f"# circuit-tracer side: {infos[0]['versions']}")
    head = f"{'kind':9} {'edges (source -> target)':48} {'pairs':>6} {'nonzero':>7} {'max|ours|':>10} {'max|diff|':>10} {'corr':>9}"
    print(head)
    print("-" * len(head))
    for kind, label, n, nz, mx, diff, corr in all_rows:
        print(f"{kind:9} {label:48} {n:6d} {nz:7d} {mx:10.4g} {diff:10.3g} {corr:9.6f}")
    print()
    for i in infos:
        print(f"# {i['kind']}: features ours {i['n_features_ours']} (pos 0 included) / theirs {i['n_features_theirs']}; "
              f"max|activation diff| {i['act_diff']:.2g}; max|logit diff| {i['logit_diff']:.2g}; ours-only nodes "
              f"{i['ours_only_nodes']}; replacement ours {i['replacement'][0]:.6f} theirs {i['replacement'][1]:.6f}; "
              f"completeness ours {i['completeness'][0]:.6f} theirs {i['completeness'][1]:.6f}; on its graph "
              f"prune(0.8, 0.98) keeps nodes/edges ours {i['our_pruned'][2]}/{i['our_pruned'][3]} theirs "
              f"{i['pruned'][0]}/{i['pruned'][1]} (same nodes {i['our_pruned'][0]}, same edges "
              f"{i['our_pruned'][1]}); timed graph = "
              f"all-logit graph to {i['same_rows']:.1g}; seconds ours {i['ours_seconds']:.3f} theirs "
              f"{i['theirs_seconds']:.3f}")
    o = torch.cat([x for i in infos for x, _ in i["matched"]])
    t = torch.cat([y for i in infos for _, y in i["matched"]])
    ours_s, theirs_s = sum(i["ours_seconds"] for i in infos), sum(i["theirs_seconds"] for i in infos)
    corr = float(torch.corrcoef(torch.stack([o, t]))[0, 1])
    same_nodes = all(i["our_pruned"][0] for i in infos)
    print(f"edge_corr_vs_circuit_tracer={corr:.9f} speedup_vs_circuit_tracer={theirs_s / ours_s:.2f} "
          f"same_pruned_nodes={int(same_nodes)} "
          f"max_abs_edge_diff={float((o - t).abs().max()):.3g} n_edges={o.numel()} "
          f"ours_seconds={ours_s:.3f} theirs_seconds={theirs_s:.3f}")


if __name__ == "__main__":
    main()

"""Build circuit-tracer's attribution graph of one prompt on a saved model and saved transcoders; write it out.

Run with the peer venv (bench/peers/setup_circuit_tracer.sh), never with the project's:

    bench/.venvs/circuit-tracer/bin/python bench/peers/circuit_tracer_side.py --inputs DIR --out OUT

DIR (written by bench/attribution_graph.py):
    model/config.json        HookedTransformerConfig kwargs (a GPT-2-style model: LayerNorm, gelu MLP, learned
                             positional embedding)
    model/model.safetensors  the model's parameters (TransformerLens names)
    transcoders/layer_{i}.safetensors   per-layer transcoders in the file layout circuit-tracer's
                             ``load_relu_transcoder`` reads: W_enc [d_sae, d_model] (pre = x @ W_enc.T + b_enc),
                             W_dec [d_sae, d_model], b_enc, b_dec, optional "activation_function.threshold" (JumpReLU,
                             else ReLU), optional W_skip [d_model, d_model] (skip = x @ W_skip.T)
      or clt/                a cross-layer transcoder as saes.clt_format.export_circuit_tracer writes it
                             (W_enc_{i} / W_dec_{i} safetensors + config.yaml), read by circuit-tracer's ``load_clt``
    request.json             {"tokens": [...], "logit_ids": [...], "bos": 0, "batch_size": int, "repeats": int,
                              "feature_input_hook": "ln2.hook_normalized", "feature_output_hook": "hook_mlp_out"}

No hub: the ReplacementModel comes from ``ReplacementModel.from_config(cfg, transcoders)`` (an untrained
HookedTransformer of that config, then our parameters loaded under the wrapped names ``mlp.old_mlp.*`` and
``unembed.old_unembed.*``), the transcoders from circuit-tracer's own local-file loaders. The model has no tokenizer,
so a word-level one is made on the spot (token i <-> "t{i}", id ``bos`` special); circuit-tracer needs it to decode
and to decide that position 0 already holds a special token (else it would prepend one).

OUT/graph.safetensors:
    adjacency            [n, n] circuit-tracer's Graph.adjacency_matrix (rows: targets, columns: sources), nodes in
                         its order: active features (layer, pos, index; sorted), errors (layer-major: layer, pos),
                         tokens (pos), logits (the requested logit_ids, in that order). Logit targets use
                         circuit-tracer's default: the DEMEANED unembedding column W_U[:, t] - mean_v W_U[:, v].
    adjacency_raw_logits [n_logits, n] the logit rows again, from a second attribution whose targets are
                         CustomTargets with the raw column W_U[:, t] (no demeaning)
    active_features      [n_feat, 3] (layer, pos, index);  activation_values [n_feat]
    logit_probabilities  [n_logits];  logits [pos, vocab] (the model's, from circuit-tracer's forward)
OUT/graph.json: versions, timings (seconds of each ``attribute`` call; the first is the warm-up), node counts,
    compute_graph_scores and prune_graph on this graph (default thresholds 0.8 / 0.98).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402


def word_tokenizer(d_vocab: int, bos: int):
    """A HF fast tokenizer with ids 0..d_vocab-1 named "t{i}" (``bos`` is "<bos>", its only special token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {("<bos>" if i == bos else f"t{i}"): i for i in range(d_vocab)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<bos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>")


def load_model(inputs: Path, transcoders):
    from circuit_tracer import ReplacementModel
    from transformer_lens import HookedTransformerConfig

    cfg = HookedTransformerConfig(**json.loads((inputs / "model" / "config.json").read_text()))
    model = ReplacementModel.from_config(cfg, transcoders, backend="transformerlens")
    state = load_file(str(inputs / "model" / "model.safetensors"))
    renamed = {}
    for name, t in state.items():
        parts = name.split(".")
        if len(parts) > 2 and parts[0] == "blocks" and parts[2] == "mlp":
            name = ".".join([*parts[:3], "old_mlp", *parts[3:]])
        elif parts[0] == "unembed":
            name = ".".join(["unembed", "old_unembed", *parts[1:]])
        renamed[name] = t
    missing, unexpected = model.load_state_dict(renamed, strict=False)
    params = {n for n, _ in model.named_parameters()} - {n for n, _ in model.transcoders.named_parameters(
        prefix="transcoders")}
    if unexpected or set(missing) & params:
        raise SystemExit(f"model weights do not fit: missing parameters {sorted(set(missing) & params)}, "
                         f"unexpected {unexpected}")
    return model.eval()


def load_transcoders(inputs: Path, hooks: tuple[str, str]):
    if (inputs / "clt").is_dir():
        from circuit_tracer.transcoder.cross_layer_transcoder import load_clt

        return load_clt(str(inputs / "clt"), feature_input_hook=hooks[0], feature_output_hook=hooks[1],
                        device=torch.device("cpu"), dtype=torch.float32, lazy_decoder=False, lazy_encoder=False)
    from circuit_tracer.transcoder import load_transcoder_set

    paths = {}
    while (p := inputs / "transcoders" / f"layer_{len(paths)}.safetensors").exists():
        paths[len(paths)] = str(p)
    return load_transcoder_set(paths, scan="workbench-bench", feature_input_hook=hooks[0],
                               feature_output_hook=hooks[1], device=torch.device("cpu"), dtype=torch.float32,
                               lazy_encoder=False, lazy_decoder=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from circuit_tracer import attribute
    from circuit_tracer.attribution.targets import CustomTarget
    from circuit_tracer.graph import compute_graph_scores, prune_graph

    req = json.loads((args.inputs / "request.json").read_text())
    torch.set_grad_enabled(True)
    transcoders = load_transcoders(args.inputs, (req["feature_input_hook"], req["feature_output_hook"]))
    model = load_model(args.inputs, transcoders)
    model.tokenizer = word_tokenizer(model.cfg.d_vocab, req["bos"])
    tokens = torch.tensor(req["tokens"], dtype=torch.long)
    logit_ids = torch.tensor(req["logit_ids"], dtype=torch.long)
    common = dict(batch_size=req["batch_size"], max_feature_nodes=None, verbose=False)

    seconds = []
    for _ in range(max(1, req["repeats"])):
        start = time.perf_counter()
        graph = attribute(tokens, model, attribution_targets=logit_ids, **common)
        seconds.append(time.perf_counter() - start)
    W_U = model.unembed.W_U.detach()
    raw_targets = [CustomTarget(f"raw:{t}", 1.0 / len(logit_ids), W_U[:, t].clone()) for t in logit_ids.tolist()]
    raw = attribute(tokens, model, attribution_targets=raw_targets, **common)
    with torch.no_grad():
        logits = model(tokens[None])[0]

    n_logits = len(graph.logit_targets)
    scores = compute_graph_scores(graph)
    pruned = prune_graph(graph, node_threshold=0.8, edge_threshold=0.98)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({"adjacency": graph.adjacency_matrix.float().contiguous(),
               "adjacency_raw_logits": raw.adjacency_matrix[-n_logits:].float().contiguous(),
               "active_features": graph.active_features.long().contiguous(),
               "selected_features": graph.selected_features.long().contiguous(),
               "activation_values": graph.activation_values.float().contiguous(),
               "logit_probabilities": graph.logit_probabilities.float().contiguous(),
               "logits": logits.float().contiguous(),
               "prune_node_mask": pruned.node_mask.to(torch.uint8).contiguous(),
               "prune_edge_mask": pruned.edge_mask.to(torch.uint8).contiguous()},
              str(args.out / "graph.safetensors"))
    doc = {"versions": {p: md.version(p) for p in ["circuit-tracer", "torch", "transformer-lens", "transformers"]},
           "kind": "clt" if (args.inputs / "clt").is_dir() else "plt",
           "seconds": seconds, "n_features": int(graph.selected_features.numel()),
           "n_pos": int(graph.n_pos), "n_layers": int(model.cfg.n_layers), "n_logits": n_logits,
           "logit_targets": [t.vocab_idx for t in graph.logit_targets],
           "input_tokens": graph.input_tokens.tolist(), "zero_positions": str(model.zero_positions),
           "replacement_score": scores[0], "completeness_score": scores[1],
           "pruned_nodes": int(pruned.node_mask.sum()), "pruned_edges": int(pruned.edge_mask.sum())}
    (args.out / "graph.json").write_text(json.dumps(doc, indent=1))
    print(json.dumps({"ok": True, "seconds": seconds}))


if __name__ == "__main__":
    main()

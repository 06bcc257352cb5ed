"""``interp graph``: one prompt's attribution graph from a run's transcoders, pruned, scored and drawn.

Writes into ``out_dir`` (default ``RUN_DIR/graphs/<prompt slug>``): ``graph.json`` (the pruned graph's nodes and
edges, the scores, the settings), ``adjacency.safetensors`` (the full, unpruned matrix and node table) and
``graph.html`` (the interactive page).

>>> out = run_graph(GraphConfig(run_dir="runs/quickstart/model", transcoders="runs/tcs", prompt="When Mary and"))
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from circuits.attribution_graph import attribution_graph, graph_scores, prune
from circuits.graph_view import write_graph_page
from interp.errors import InputError


@dataclass
class GraphConfig:
    """Every option of ``interp graph``."""

    run_dir: str
    """The run directory of the model."""
    transcoders: str = ""
    """A cross-layer transcoder directory (clt_config.json) or a directory holding one MLP transcoder per layer
    (train-sae's out dir: subdirectories with cfg.json, reading blocks.L.ln2.hook_normalized)."""
    prompt: str = ""
    """The prompt whose next token the graph explains."""
    out_dir: str = ""
    """Where to write graph.json, adjacency.safetensors and graph.html; empty: RUN_DIR/graphs/<prompt slug>."""
    n_logits: int = 3
    """Most likely next tokens kept as the graph's targets (>= 1)."""
    node_threshold: float = 0.8
    """Share of the cumulative influence on the logits the kept feature and error nodes carry (0-1]."""
    edge_threshold: float = 0.98
    """Share of the influence-weighted edge mass the kept edges carry (0-1]."""
    max_nodes: int = 8192
    """Largest graph built (nodes: embeddings, active features, errors, logits); its matrix takes nodes^2 x 4 bytes."""
    device: str = "cpu"
    """cpu, cuda or cuda:N."""


def load_transcoders(path: str | Path, n_layers: int, device: str = "cpu"):
    """A CLT, or the per-layer MLP transcoders of a directory (one per layer, in layer order), with clear errors."""
    from saes.clt_format import load_clt
    from saes.format import load_sae
    from saes.layout import CLTLayout, SAELayout

    path = Path(path)
    if CLTLayout(path).is_clt():
        return load_clt(path, device=device)
    found = {}
    for d in sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []:
        if SAELayout(d).is_sae():
            sae = load_sae(d, device=device)
            m = re.fullmatch(r"blocks\.(\d+)\.ln2\.hook_normalized", sae.cfg.hook_name)
            if sae.cfg.is_transcoder and m:
                found.setdefault(int(m[1]), sae)
    missing = [layer for layer in range(n_layers) if layer not in found]
    if missing:
        raise InputError(f"{path} holds no MLP transcoder for layer(s) {missing} (found {sorted(found)}): give a CLT "
                         "directory or a directory with one transcoder per layer (interp train-sae with hook "
                         "blocks.L.ln2.hook_normalized and hook_out blocks.L.hook_mlp_out for every L).")
    return [found[layer] for layer in range(n_layers)]


def feature_labels(model, dictionaries, graph, run_dir: str, n_windows: int = 32) -> dict[tuple[int, int], str]:
    """Hover text for the graph's features: the dashboards' top-activating tokens and promoted logits
    (``saes.dashboard_data.feature_table``) on the run's first validation windows."""
    from interp.models.loading import run_data
    from saes.clt import CrossLayerTranscoder
    from saes.dashboard_data import feature_table

    encoders = ([dictionaries.encoder(i) for i in range(dictionaries.n_layers)]
                if isinstance(dictionaries, CrossLayerTranscoder) else dictionaries)
    tokens = run_data(run_dir, "val").first_windows(n_windows, model.cfg.n_ctx).to(model.cfg.device)
    labels = {}
    feats = graph.nodes[graph.nodes.kind == "feature"]
    for layer, group in feats.groupby("layer"):
        table = feature_table(model, encoders[int(layer)], tokens, features=sorted(set(group.feature.tolist())))
        for f, row in table.iterrows():
            promotes = f"; promotes {', '.join(row.promotes)}" if row.promotes else ""
            labels[(int(layer), int(f))] = f"top tokens {', '.join(row.top_tokens)}{promotes}"
    return labels


def run_graph(cfg: GraphConfig) -> Path:
    """Build, prune, score and write the graph; returns the output directory."""
    import interp
    from interp.io import atomic_dir, atomic_save_safetensors, atomic_write_json

    if not cfg.prompt:
        raise InputError("Give --prompt: the text whose next token the graph explains.")
    if cfg.n_logits < 1 or not 0 < cfg.node_threshold <= 1 or not 0 < cfg.edge_threshold <= 1:
        raise InputError("--n-logits must be >= 1 and --node-threshold, --edge-threshold in (0, 1].")
    model = interp.load(cfg.run_dir, device=cfg.device)
    dictionaries = load_transcoders(cfg.transcoders, model.cfg.n_layers, cfg.device)
    tokens = model.to_tokens(cfg.prompt)[0]
    graph = attribution_graph(model, dictionaries, tokens, n_logits=cfg.n_logits, max_nodes=cfg.max_nodes,
                              progress=True)
    scores = graph_scores(graph)
    small = prune(graph, cfg.node_threshold, cfg.edge_threshold)
    words = [model.tokenizer.decode([int(t)]) for t in tokens]
    labels = feature_labels(model, dictionaries, small, cfg.run_dir)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", cfg.prompt).strip("-")[:40] or "prompt"
    out = Path(cfg.out_dir or Path(cfg.run_dir) / "graphs" / slug)
    if out.exists() and any(out.iterdir()) and not (out / "graph.json").exists():
        raise InputError(f"{out} exists and holds something other than an attribution graph; choose another "
                         "--out-dir (a previous graph there would be replaced, nothing else is).")
    edges = [dict(target=int(t), source=int(s), weight=float(small.adjacency[t, s]))
             for t, s in torch.nonzero(small.adjacency).tolist()]
    with atomic_dir(out) as tmp:
        atomic_write_json(tmp / "graph.json", {"settings": asdict(cfg), "tokens": words, "scores": scores,
                                               "nodes": small.nodes.to_dict(orient="records"), "edges": edges})
        atomic_save_safetensors(tmp / "adjacency.safetensors", {"adjacency": graph.adjacency, "logits": graph.logits})
        atomic_write_json(tmp / "nodes.json", graph.nodes.to_dict(orient="records"))
        write_graph_page(small, tmp / "graph.html", words, labels, scores=scores,
                         title=f"Attribution graph: {cfg.prompt!r}")
    return out

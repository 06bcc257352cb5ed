"""The computational graph of a ``HookedTransformer``: nodes, edges through the residual stream, scores, a circuit.

Upstream nodes write into the residual stream: ``input`` (token + position embeddings), every head ``a{L}.h{H}``
and every MLP ``m{L}``. Downstream inputs read from it: each head's query, key and value input separately
(``a{L}.h{H}<q>``, ``<k>``, ``<v>``), each MLP ``m{L}`` and the ``logits``. Every upstream node that is computed
before a downstream input has an edge into it (``a1.h0->m1`` exists; ``m1->a1.h0<q>`` does not). Names follow the
EAP-IG library (Hanna et al. 2024), so graphs read the same as theirs.

A ``Graph`` holds one score per edge (optionally per position) and a boolean circuit over the same edges; it is
saved as ``graph.json`` (the shape and, for a circuit, its edge list) + ``graph.safetensors`` (scores and masks).

>>> graph = Graph.from_model(model)
>>> graph.n_edges, graph.edges[:2]
(206, ['input->a0.h0<q>', 'input->a0.h1<q>'])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
from jaxtyping import Bool, Float
from safetensors.torch import load_file
from torch import Tensor

from interp.errors import InputError
from interp.io import atomic_save_safetensors, atomic_write_json, read_json
from interp.models.tl import HookedTransformer

QKV = ("q", "k", "v")


@dataclass(frozen=True)
class GraphShape:
    """What fixes the nodes: the model's layers and heads, whether it has MLPs, and positions (0: not split)."""

    n_layers: int
    n_heads: int
    has_mlp: bool = True
    n_pos: int = 0  # > 0: one edge per position (scores and circuit per position)

    @property
    def per_layer(self) -> int:
        return self.n_heads + int(self.has_mlp)

    @property
    def upstream(self) -> list[str]:
        names = ["input"]
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}" for h in range(self.n_heads)] + ([f"m{layer}"] if self.has_mlp else [])
        return names

    @property
    def downstream(self) -> list[str]:
        names = []
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}<{x}>" for x in QKV for h in range(self.n_heads)]
            names += [f"m{layer}"] if self.has_mlp else []
        return names + ["logits"]

    def attn_up(self, layer: int) -> int:
        """Upstream nodes computed before layer ``layer``'s attention reads the residual stream."""
        return 1 + layer * self.per_layer

    def head_up(self, layer: int) -> int:
        """Index of layer ``layer``'s first head among the upstream nodes."""
        return self.attn_up(layer)

    def mlp_up(self, layer: int) -> int:
        """Index of ``m{layer}`` among the upstream nodes (= the nodes its input sums)."""
        return self.attn_up(layer) + self.n_heads

    def down_start(self, layer: int) -> int:
        """Index of layer ``layer``'s first downstream input (its heads' queries)."""
        return layer * (3 * self.n_heads + int(self.has_mlp))

    def qkv_down(self, layer: int, which: str) -> slice:
        start = self.down_start(layer) + QKV.index(which) * self.n_heads
        return slice(start, start + self.n_heads)

    def mlp_down(self, layer: int) -> int:
        return self.down_start(layer) + 3 * self.n_heads

    @property
    def logits_down(self) -> int:
        return self.n_layers * (3 * self.n_heads + int(self.has_mlp))

    def allowed(self) -> Bool[Tensor, "up down"]:
        """Which (upstream, downstream) pairs are edges: the upstream node is computed before the input reads."""
        up, down = len(self.upstream), len(self.downstream)
        bound = torch.empty(down, dtype=torch.long)
        for layer in range(self.n_layers):
            bound[self.down_start(layer) : self.down_start(layer) + 3 * self.n_heads] = self.attn_up(layer)
            if self.has_mlp:
                bound[self.mlp_down(layer)] = self.mlp_up(layer)
        bound[self.logits_down] = up
        return torch.arange(up)[:, None] < bound[None, :]


def graph_shape(model: HookedTransformer, per_position: bool = False, n_pos: int = 0) -> GraphShape:
    cfg = model.cfg
    if getattr(cfg, "n_key_value_heads", None) not in (None, cfg.n_heads):
        raise InputError("Circuit graphs support models whose heads each have their own keys and values (GPT-2 "
                         "style); this model groups key/value heads.")
    if per_position and n_pos <= 0:
        raise InputError("A per-position graph needs the prompts' length: pass n_pos (the token count).")
    return GraphShape(cfg.n_layers, cfg.n_heads, not cfg.attn_only, n_pos if per_position else 0)


@dataclass
class Graph:
    """Scores per edge (``scores[pos, up, down]``; pos has size 1 unless per position) and a circuit mask."""

    shape: GraphShape
    scores: Float[Tensor, "pos up down"]
    in_circuit: Bool[Tensor, "pos up down"]
    meta: dict = field(default_factory=dict)  # how the scores were made (method, task, ablation, ...)

    @classmethod
    def from_model(cls, model: HookedTransformer, per_position: bool = False, n_pos: int = 0) -> Graph:
        """An unscored graph whose circuit is every edge (the full model)."""
        shape = graph_shape(model, per_position, n_pos)
        allowed = shape.allowed().expand(max(shape.n_pos, 1), -1, -1).clone()
        return cls(shape, torch.zeros(allowed.shape), allowed)

    @property
    def allowed(self) -> Bool[Tensor, "pos up down"]:
        return self.shape.allowed().expand(self.scores.shape[0], -1, -1)

    @property
    def n_edges(self) -> int:
        return int(self.allowed.sum())

    @property
    def n_in_circuit(self) -> int:
        return int((self.in_circuit & self.allowed).sum())

    def _names(self, mask: Tensor) -> list[str]:
        up, down = self.shape.upstream, self.shape.downstream
        out = []
        for p, u, d in mask.nonzero().tolist():
            out.append(f"{up[u]}->{down[d]}" + (f"@{p}" if self.shape.n_pos else ""))
        return out

    @property
    def edges(self) -> list[str]:
        """Every edge's name, in score-tensor order (position, upstream, downstream)."""
        return self._names(self.allowed)

    @property
    def circuit_edges(self) -> list[str]:
        return self._names(self.in_circuit & self.allowed)

    def edge_scores(self) -> Float[Tensor, " edge"]:
        return self.scores[self.allowed]

    def edge_index(self, name: str) -> tuple[int, int, int]:
        """(pos, up, down) of an edge name, or a clear error naming the close ones."""
        edge, _, pos = name.partition("@")
        up, _, down = edge.partition("->")
        ups, downs = self.shape.upstream, self.shape.downstream
        if up not in ups or down not in downs or not self.shape.allowed()[ups.index(up), downs.index(down)]:
            raise InputError(f"No edge {name!r} in this graph; edges look like 'a0.h1->a1.h0<q>' or 'm0->logits' "
                             f"(upstream nodes: {ups[:4]}..., downstream inputs: {downs[:4]}...).")
        return (int(pos) if pos else 0), ups.index(up), downs.index(down)

    def mask_of(self, names: list[str]) -> Bool[Tensor, "pos up down"]:
        mask = torch.zeros_like(self.in_circuit)
        for name in names:
            mask[self.edge_index(name)] = True
        return mask

    def with_circuit(self, in_circuit: Bool[Tensor, "pos up down"]) -> Graph:
        return Graph(self.shape, self.scores, in_circuit & self.allowed, dict(self.meta))

    def frame(self) -> pd.DataFrame:
        """One row per edge: name, upstream, downstream, position, score, |score| rank, in the circuit."""
        pos, up, down = self.allowed.nonzero().unbind(1)
        scores = self.scores[pos, up, down]
        df = pd.DataFrame({"edge": self.edges, "upstream": [self.shape.upstream[i] for i in up.tolist()],
                           "downstream": [self.shape.downstream[i] for i in down.tolist()],
                           "position": pos.tolist(), "score": scores.tolist(),
                           "in_circuit": self.in_circuit[pos, up, down].tolist()})
        df["rank"] = df["score"].abs().rank(ascending=False, method="first").astype(int)
        return df.sort_values("rank").reset_index(drop=True)

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_save_safetensors(out / "graph.safetensors", {"scores": self.scores, "in_circuit": self.in_circuit})
        atomic_write_json(out / "graph.json", {"shape": asdict(self.shape), "meta": self.meta,
                                               "n_edges": self.n_edges, "circuit_edges": self.circuit_edges})
        return out

    @classmethod
    def load(cls, out_dir: str | Path) -> Graph:
        out = Path(out_dir)
        info = read_json(out / "graph.json")
        tensors = load_file(out / "graph.safetensors")
        return cls(GraphShape(**info["shape"]), tensors["scores"], tensors["in_circuit"].bool(), info["meta"])

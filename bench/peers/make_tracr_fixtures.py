"""Compile auto-circuit's tracr tasks into jax-free fixtures: tests/fixtures/tracr/{task}/.

Run with the peer venv (bench/peers/setup_auto_circuit.sh; tracr needs jax + dm-haiku):

    bench/.venvs/auto-circuit/bin/python bench/peers/make_tracr_fixtures.py [--out tests/fixtures/tracr]

For each task auto-circuit 1.0.1 ships (auto_circuit.model_utils.tracr_model_utils.TRACR_TASK_KEY: "reverse",
"xproportion"; RASP programs, vocabularies and max_seq_len=5 as in auto-circuit), writes
  config.json          HookedTransformerConfig kwargs (TransformerLens port by auto-circuit's get_tracr_model)
  model.safetensors    the HookedTransformer's parameters (no buffers)
  circuit.json         {"edges": official circuit in our edge names, "source", "metric", ...}
  pairs.safetensors    clean, corrupt int64 [32, 6] (BOS + 5 tokens), answer / wrong per position (see metric)
Pairs follow auto-circuit's dataset generators (datasets/tracr/tracr_{task}_generator.py in its repository):
clean = a random sequence over the vocabulary, corrupt = a different random sequence, targets = the program's
outputs, computed here by the compiled tracr model itself (and checked against a plain-Python reference).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch as t
from auto_circuit.metrics.official_circuits.circuits.tracr.reverse_official import (
    tracr_reverse_acdc_edges,
    tracr_reverse_true_edges,
)
from auto_circuit.metrics.official_circuits.circuits.tracr.xproportion_official import (
    tracr_xproportion_acdc_edges,
    tracr_xproportion_official_edges,
)
from auto_circuit.model_utils.tracr_model_utils import (
    BOS,
    MAX_SEQ_LEN,
    REVERSE_VOCAB,
    XPROPORTION_VOCAB,
    get_tracr_model,
)
from auto_circuit.utils.graph_utils import patchable_model
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_names import our_node  # noqa: E402

N_PAIRS = 32
SEED = 0
CFG_KEYS = ("model_name", "n_layers", "d_model", "d_head", "n_heads", "d_mlp", "d_vocab", "d_vocab_out", "n_ctx",
            "act_fn", "attention_dir", "normalization_type")

TASKS = {
    "reverse": dict(
        vocab=sorted(REVERSE_VOCAB),
        reference=lambda seq: list(reversed(seq)),
        official=tracr_reverse_true_edges,
        acdc=tracr_reverse_acdc_edges,
        metric=("mean over prompts and output positions 1..5 (answer >= 0) of log_softmax(logits[b, p])"
                "[answer[b, p]]; answer[b, p] = output-encoder id (0,1,2 for tokens 1,2,3) of the program's "
                "output = clean[b] reversed; -1 at the BOS position 0. 'wrong' = the same for the corrupt prompt. "
                "Clean max: log(e/(e+2)) = -0.551 (the compiled output is one-hot in the 3 logits)."),
        source=("auto-circuit 1.0.1 tracr_reverse_true_edges (Miller et al., 'Transformer Circuit Faithfulness "
                "Metrics are not Robust', the circuit needed under RESAMPLE ablation; all prompts have length 5, so "
                "the length/opp_index computation is identical in clean and corrupt and drops out). auto-circuit "
                "defines it per position (token positions [1, 2, 4, 5]); listed here without positions."),
    ),
    "xproportion": dict(
        vocab=sorted(XPROPORTION_VOCAB),
        reference=lambda seq: [sum(x == "x" for x in seq[: i + 1]) / (i + 1) for i in range(len(seq))],
        official=tracr_xproportion_official_edges,
        acdc=tracr_xproportion_acdc_edges,
        metric=("numerical output: logits[..., 0] is the program's value (d_vocab_out = 1, so a log-prob is "
                "meaningless). answer[b, p] / wrong[b, p] (float32) = the program's output on the clean / corrupt "
                "prompt = fraction of 'x' among tokens 1..p (make_frac_prevs(tokens == 'x')); NaN at BOS position "
                "0. Metric = mean over the (b, p), p >= 1, with answer != wrong of (logits[b, p, 0] - wrong[b, p]) "
                "/ (answer[b, p] - wrong[b, p]): how far the output moved from the corrupt value to the clean one; "
                "1 on clean prompts, 0 on corrupt ones. It is linear in the output on purpose: a squared error "
                "is at its optimum on clean prompts, so its gradient (and every EAP score) would be 0."),
        source=("auto-circuit 1.0.1 tracr_xproportion_official_edges (Miller et al., the circuit needed under "
                "RESAMPLE ablation: queries/keys read only positions, identical in clean and corrupt). "
                "auto-circuit defines it per position (token positions [1..5]); listed here without positions."),
    ),
}


def task_metric(task: str, pairs: dict):
    """The fixture's metric (see TASKS[task]["metric"]): logits [batch, pos, d_vocab_out] -> 0-d tensor."""
    answer, wrong = pairs["answer"], pairs["wrong"]
    if task == "reverse":
        keep = answer >= 0

        def metric(logits):
            logp = logits.float().log_softmax(-1).gather(-1, answer.clamp(min=0)[..., None])[..., 0]
            return logp[keep].mean()
    else:
        keep = ~answer.isnan() & (answer != wrong)
        # finite everywhere (BOS and answer == wrong get 0 / 1): a NaN or inf, even masked out, poisons gradients
        base, span = wrong.nan_to_num(0.0), t.where(keep, answer - wrong, t.ones(()))

        def metric(logits):
            frac = (logits[..., 0].float() - base.to(logits.device)) / span.to(logits.device)
            return frac[keep.to(logits.device)].mean()
    return metric


def our_edges(edges) -> list[str]:
    return sorted(f"{our_node(e.src.name)}->{our_node(e.dest.name)}" for e in edges)


def build(task: str, out: Path) -> None:
    spec = TASKS[task]
    tl_model, tracr_model = get_tracr_model(task, "cpu")
    enc = tracr_model.input_encoder.encode
    rng = random.Random(SEED)
    all_seqs = list(itertools.product(spec["vocab"], repeat=MAX_SEQ_LEN))
    chosen = rng.sample(range(len(all_seqs)), N_PAIRS)
    clean, corrupt, answer, wrong = [], [], [], []
    for i in chosen:
        seq = list(all_seqs[i])
        other = list(all_seqs[rng.choice([j for j in range(len(all_seqs)) if j != i])])
        rows = []
        for s in (seq, other):
            decoded = tracr_model.apply([BOS] + s).decoded[1:]  # the compiled program's outputs
            ref = spec["reference"](s)
            assert np.allclose(np.array(decoded, float), np.array(ref, float), atol=1e-4), (task, s, decoded, ref)
            if task == "reverse":
                rows.append([-1] + tracr_model.output_encoder.encode(decoded))
            else:
                rows.append([float("nan")] + [float(x) for x in decoded])
        clean.append(enc([BOS] + seq))
        corrupt.append(enc([BOS] + other))
        answer.append(rows[0])
        wrong.append(rows[1])
    dtype = t.int64 if task == "reverse" else t.float32
    pairs = {"clean": t.tensor(clean, dtype=t.int64), "corrupt": t.tensor(corrupt, dtype=t.int64),
             "answer": t.tensor(answer, dtype=dtype), "wrong": t.tensor(wrong, dtype=dtype)}

    # The TransformerLens port must agree with the program on these prompts before anything is written.
    with t.no_grad():
        logits = tl_model(pairs["clean"])
    if task == "reverse":
        assert t.equal(logits[:, 1:].argmax(-1), pairs["answer"][:, 1:]), "TL port disagrees with tracr (reverse)"
    else:
        assert t.allclose(logits[:, 1:, 0], pairs["answer"][:, 1:], atol=1e-3), "TL port disagrees (xproportion)"

    with t.no_grad():
        values = {which: float(task_metric(task, pairs)(tl_model(pairs[which]))) for which in ("clean", "corrupt")}
    cfg = {k: getattr(tl_model.cfg, k) for k in CFG_KEYS}
    params = {k: v.detach().float().contiguous() for k, v in tl_model.named_parameters()}

    pmodel = patchable_model(tl_model, factorized=True, slice_output="not_first_seq", seq_len=None,
                             separate_qkv=True, device=t.device("cpu"))
    circuit = {
        "edges": our_edges(spec["official"](pmodel)),
        "source": spec["source"],
        "metric": spec["metric"],
        "acdc_paper_edges": our_edges(spec["acdc"](pmodel)),
        "acdc_paper_source": (f"auto-circuit 1.0.1 tracr_{task}_acdc_edges: the Conmy et al. (2023) ACDC-repo "
                              "circuit, the one needed under ZERO ablation (a superset of 'edges')."),
        "ablation": "patching (resample from the corrupt prompt); 'edges' is the circuit for that ablation",
        "program": {"reverse": "Aggregate(Select(indices, length - indices - 1, EQ), tokens), vocab {1,2,3}",
                    "xproportion": "make_frac_prevs(tokens == 'x'), vocab {w,x,y,z}"}[task],
        "max_seq_len": MAX_SEQ_LEN,
        "input_encoding": {str(k): v for k, v in tracr_model.input_encoder.encoding_map.items()},
        "output_encoding": ({str(k): v for k, v in tracr_model.output_encoder.encoding_map.items()}
                            if task == "reverse" else "numerical: logits[..., 0]"),
        "n_edges_in_graph": pmodel.n_edges,
        "metric_values": values,
    }
    d = out / task
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    save_file(params, str(d / "model.safetensors"))
    save_file(pairs, str(d / "pairs.safetensors"))
    (d / "circuit.json").write_text(json.dumps(circuit, indent=1) + "\n")
    print(f"{task}: {cfg['n_layers']} layers x {cfg['n_heads']} head(s), d_model {cfg['d_model']}, "
          f"{pmodel.n_edges} edges, official circuit {circuit['edges']} -> {d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "tests/fixtures/tracr")
    ap.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = ap.parse_args()
    t.manual_seed(SEED)
    for task in args.tasks:
        build(task, args.out)


if __name__ == "__main__":
    main()

"""Helper of check_auto_circuit_side.sh, run with the PROJECT venv.

    python bench/peers/check_auto_circuit_side.py make DIR      # random 2-layer model + pairs in DIR
    python bench/peers/check_auto_circuit_side.py compare DIR   # DIR/peer.json vs our Graph / attribute / acdc
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CFG = dict(n_layers=2, n_heads=4, d_model=32, d_head=8, d_mlp=64, d_vocab=50, n_ctx=16, act_fn="gelu",
           normalization_type="LN", initializer_range=0.2, seed=0)
N_PROMPTS, N_POS = 16, 8


def load_model(d: Path):
    from interp.models.tl import HookedTransformer, HookedTransformerConfig

    model = HookedTransformer(HookedTransformerConfig(**json.loads((d / "config.json").read_text())))
    params = dict(model.named_parameters())
    sd = {k: v for k, v in load_file(str(d / "model.safetensors")).items() if k in params}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not [k for k in missing if k in params] and not unexpected
    return model.eval()


def make(d: Path) -> None:
    from interp.models.tl import HookedTransformer, HookedTransformerConfig

    d.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = HookedTransformer(HookedTransformerConfig(**CFG))
    (d / "config.json").write_text(json.dumps(CFG, indent=1))
    # parameters only: buffers (attention masks) are rebuilt from the config and differ across TL versions
    save_file({k: v.detach().contiguous() for k, v in model.named_parameters()}, str(d / "model.safetensors"))
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, CFG["d_vocab"], (N_PROMPTS, N_POS), generator=g)
    corrupt = clean.clone()
    corrupt[:, 2] = torch.randint(0, CFG["d_vocab"], (N_PROMPTS,), generator=g)  # two token slots differ
    corrupt[:, -1] = torch.randint(0, CFG["d_vocab"], (N_PROMPTS,), generator=g)
    answer = torch.randint(0, CFG["d_vocab"], (N_PROMPTS,), generator=g)
    wrong = (answer + 1 + torch.randint(0, CFG["d_vocab"] - 1, (N_PROMPTS,), generator=g)) % CFG["d_vocab"]
    save_file({"clean": clean, "corrupt": corrupt, "answer": answer, "wrong": wrong}, str(d / "pairs.safetensors"))
    print(f"wrote random model + {N_PROMPTS} pairs x {N_POS} positions to {d}")


def compare(d: Path) -> int:
    from circuits.acdc import acdc
    from circuits.attribute import attribute
    from circuits.graph import Graph
    from interp.analysis.patching.metrics import logit_diff

    torch.set_num_threads(1)
    peer = json.loads((d / "peer.json").read_text())
    model = load_model(d)
    pairs = load_file(str(d / "pairs.safetensors"))
    metric = logit_diff(pairs["answer"], pairs["wrong"])
    ours_edges = Graph.from_model(model).edges
    ok = True
    same = set(peer["eap"]) == set(ours_edges)
    print(f"edge sets equal: {same}  (peer {peer['n_edges']}, ours {len(ours_edges)})")
    if not same:
        print("  only peer:", sorted(set(peer["eap"]) - set(ours_edges))[:10])
        print("  only ours:", sorted(set(ours_edges) - set(peer["eap"]))[:10])
        ok = False
    def timed(fn):
        fn()  # warm-up, then best of 2, as the peer side does
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return best, out

    eap_s, graph = timed(lambda: attribute(model, pairs["clean"], pairs["corrupt"], metric, method="eap",
                                           progress=False))
    frame = graph.frame()
    ours = dict(zip(frame["edge"], frame["score"].astype(float), strict=True))
    common = [e for e in ours_edges if e in peer["eap"]]
    a = torch.tensor([ours[e] for e in common], dtype=torch.float64)
    b = torch.tensor([peer["eap"][e] * peer["eap_sign_to_ours"] for e in common], dtype=torch.float64)
    r = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    r_raw = float(torch.corrcoef(torch.stack([a, -b]))[0, 1])
    rel = float((a - b).abs().max() / a.abs().max())
    print(f"EAP Pearson r (peer x eap_sign_to_ours vs ours): {r:.6f}   (raw peer scores: {r_raw:.6f})")
    print(f"EAP max |diff| / max |ours|: {rel:.2e}")
    ok &= r > 0.99
    thr = peer["acdc_threshold"]
    acdc_s, graph = timed(lambda: acdc(model, pairs["clean"], pairs["corrupt"], metric, thr, objective="kl",
                                       progress=False))
    mine, theirs = set(graph.circuit_edges), set(peer["acdc_edges"])
    jac = len(mine & theirs) / max(1, len(mine | theirs))
    print(f"ACDC (kl, tau={thr}): peer keeps {len(theirs)}, ours keeps {len(mine)}, Jaccard {jac:.2f} "
          "(informational: edge order and node pruning differ)")
    print(f"seconds (1 thread, best of 2): peer EAP {peer['seconds']['eap']:.3f}, ACDC {peer['seconds']['acdc']:.3f}; "
          f"ours EAP {eap_s:.3f}, ACDC {acdc_s:.3f}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, where = sys.argv[1], Path(sys.argv[2])
    sys.exit(make(where) if cmd == "make" else compare(where))

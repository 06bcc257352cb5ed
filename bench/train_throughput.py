"""Training throughput: this trainer vs a TransformerLens training loop vs a plain SDPA reference, one run.

Same configuration for all three (4 layers, d_model 256, context 256, vocabulary 4,096, batch 16), each in a
fresh process, alternating twice and keeping each contender's best. Also measures the machine's fp32 matmul
rate and reports model FLOPs utilisation against it. Last line:
``ours_vs_transformer_lens=R1 ours_vs_reference=R2 mfu=U``.

    python bench/train_throughput.py                  # ~3 minutes on 2 CPU cores
    python bench/train_throughput.py --device cuda    # on a GPU: every contender under bf16 autocast
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, matmul_gflops, run_json_subprocess  # noqa: E402

N_LAYERS, D_MODEL, N_HEADS, N_CTX, VOCAB, BATCH = 4, 256, 4, 256, 4096, 16
DEVICE = torch.device("cpu")  # set by --device in the child process


def _autocast():
    """bf16 autocast on CUDA (what the trainer does there), nothing on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=DEVICE.type == "cuda")


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def flops_per_token() -> float:
    """nanoGPT's estimate: 6 N (weights incl. the unembedding) + 12 L d T (attention scores and mixing)."""
    n = N_LAYERS * 12 * D_MODEL * D_MODEL + VOCAB * D_MODEL
    return 6 * n + 12 * N_LAYERS * D_MODEL * N_CTX


class RefBlock(nn.Module):
    """The plain reference: nn.Linear projections and F.scaled_dot_product_attention, nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
        self.qkv, self.proj = nn.Linear(D_MODEL, 3 * D_MODEL), nn.Linear(D_MODEL, D_MODEL)
        self.fc, self.out = nn.Linear(D_MODEL, 4 * D_MODEL), nn.Linear(4 * D_MODEL, D_MODEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (t.view(B, T, N_HEADS, D // N_HEADS).transpose(1, 2) for t in self.qkv(self.ln1(x)).split(D, -1))
        x = x + self.proj(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class RefGPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, D_MODEL), nn.Embedding(N_CTX, D_MODEL)
        self.blocks = nn.Sequential(*[RefBlock() for _ in range(N_LAYERS)])
        self.ln_f, self.head = nn.LayerNorm(D_MODEL), nn.Linear(D_MODEL, VOCAB, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        logits = self.head(self.ln_f(self.blocks(x)))
        return F.cross_entropy(logits.view(-1, VOCAB), targets.reshape(-1))


def _time_loop(step, warmup: int, steps: int) -> float:
    for i in range(warmup):
        step(i)
    _sync()
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    _sync()
    return steps * BATCH * N_CTX / (time.perf_counter() - start)


def _batches(n: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n, BATCH, N_CTX + 1), generator=torch.Generator().manual_seed(0)).to(DEVICE)


def contender_reference(warmup: int, steps: int) -> float:
    torch.manual_seed(0)
    model = RefGPT().to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    data = _batches(warmup + steps)

    def step(i: int) -> None:
        with _autocast():
            loss = model(data[i, :, :-1], data[i, :, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return _time_loop(step, warmup, steps)


def contender_transformer_lens(warmup: int, steps: int) -> float:
    from interp.models.tl import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(0)
    cfg = HookedTransformerConfig(
        n_layers=N_LAYERS, d_model=D_MODEL, n_heads=N_HEADS, d_head=D_MODEL // N_HEADS, n_ctx=N_CTX,
        d_vocab=VOCAB, act_fn="gelu_new", normalization_type="LN",
    )
    model = HookedTransformer(cfg).to(DEVICE)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    data = _batches(warmup + steps)

    def step(i: int) -> None:  # the loop transformer_lens.train runs, without its wandb/dataloader overhead
        with _autocast():
            loss = model(data[i, :, :N_CTX], return_type="loss")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return _time_loop(step, warmup, steps)


def contender_ours(warmup: int, steps: int) -> float:
    """The workbench trainer end to end (``interp.training.trainer.train``) on token shards, timed from its own metrics."""
    from interp.data.shards import write_shards
    from interp.training.config import TrainConfig
    from interp.training.trainer import train

    with tempfile.TemporaryDirectory() as tmp:
        rng = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, VOCAB, (2_000_000,), generator=rng).numpy()
        for split in ("train", "val"):
            write_shards([tokens], Path(tmp) / "data" / split, vocab_size=VOCAB)
        cfg = TrainConfig(
            preset="tiny", model_overrides=dict(n_layers=N_LAYERS, d_model=D_MODEL, n_heads=N_HEADS, n_ctx=N_CTX,
                                                d_vocab=VOCAB),
            data_dir=str(Path(tmp) / "data"), out_dir=str(Path(tmp) / "run"), batch_size=BATCH,
            max_steps=warmup + steps, val_interval=10**9, ckpt_interval=10**9, log_interval=1, progress=False,
            device=str(DEVICE),
        )
        train(cfg)
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
        timed = [r for r in rows if "step_time" in r and r["step"] > warmup]
        return len(timed) * BATCH * N_CTX / sum(r["step_time"] for r in timed)


CONTENDERS = {"ours": contender_ours, "transformer_lens": contender_transformer_lens, "reference": contender_reference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contender", choices=sorted(CONTENDERS))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]; on CUDA every contender runs under bf16 "
                                                           "autocast, as the trainer does")
    args = parser.parse_args()
    if args.contender:  # child process: one measurement, JSON on the last line
        global DEVICE
        DEVICE = torch.device(args.device)
        torch.set_num_threads(torch.get_num_threads())
        print(json.dumps({"tokens_per_s": CONTENDERS[args.contender](args.warmup, args.steps)}))
        return
    best: dict[str, float] = {}
    for rnd in range(args.rounds):
        for name in CONTENDERS:
            r = run_json_subprocess([__file__, "--contender", name, "--warmup", str(args.warmup),
                                     "--steps", str(args.steps), "--device", args.device])
            best[name] = max(best.get(name, 0.0), r["tokens_per_s"])
            print(f"round {rnd}: {name:17s} {r['tokens_per_s']:8.0f} tokens/s", flush=True)
    gflops = matmul_gflops() if args.device == "cpu" else float("nan")  # MFU against the CPU's fp32 rate only
    mfu = best["ours"] * flops_per_token() / (gflops * 1e9)
    print(f"machine: {machine()}; fp32 matmul {gflops:.1f} GFLOP/s; "
          f"model {flops_per_token() / 1e6:.1f} MFLOP/token; ours {best['ours']:.0f} tokens/s")
    print(f"ours_vs_transformer_lens={best['ours'] / best['transformer_lens']:.2f} "
          f"ours_vs_reference={best['ours'] / best['reference']:.2f} mfu={mfu:.2f}")
    assert math.isfinite(mfu) or args.device != "cpu"


if __name__ == "__main__":
    main()

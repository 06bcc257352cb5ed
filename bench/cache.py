"""Activation caching: ``interp.analysis.activations.cache_activations`` vs TransformerLens ``run_with_cache`` +
``torch.save``, same model, hooks and tokens, each in a fresh process (for its peak RSS). Last line:
``cache_vs_transformer_lens=R peak_rss_ratio=M`` (R = our tokens/s over theirs; M = our peak RSS over theirs).

    python bench/cache.py            # about a minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, run_json_subprocess  # noqa: E402

HOOKS = ["blocks.1.hook_resid_post", "blocks.1.attn.hook_z"]
N_LAYERS, D_MODEL, N_CTX, VOCAB = 4, 256, 256, 4096


def _model():
    from interp.models.tl import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=N_LAYERS, d_model=D_MODEL, n_heads=8, d_head=32, n_ctx=N_CTX,
                                  d_vocab=VOCAB, act_fn="gelu_new", seed=0)
    return HookedTransformer(cfg).eval()


def _tokens(n_tokens: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n_tokens // N_CTX, N_CTX), generator=torch.Generator().manual_seed(0))


def contender(name: str, n_tokens: int, out: str) -> dict:
    model, tokens = _model(), _tokens(n_tokens)
    start = time.perf_counter()
    if name == "ours":
        from interp.analysis.activations import cache_activations

        cache_activations(model, tokens, HOOKS, n_tokens, out, batch_size=16, progress=False)
    else:  # what a TransformerLens user writes: cache every batch, keep it, save it at the end
        kept = {h: [] for h in HOOKS}
        with torch.no_grad():
            for i in range(0, len(tokens), 16):
                _, cache = model.run_with_cache(tokens[i : i + 16], names_filter=lambda n: n in HOOKS)
                for h in HOOKS:
                    kept[h].append(cache[h])
        torch.save({h: torch.cat(v) for h, v in kept.items()}, Path(out) / "acts.pt")
    seconds = time.perf_counter() - start
    return {"tokens_per_s": n_tokens / seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contender", choices=["ours", "transformer_lens"])
    parser.add_argument("--tokens", type=int, default=2**18)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender, args.tokens, args.out)))
        return
    results = {}
    for name in ("transformer_lens", "ours"):
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = run_json_subprocess([__file__, "--contender", name, "--tokens", str(args.tokens),
                                                 "--out", tmp])
        print(f"{name:17s} {results[name]['tokens_per_s']:9.0f} tokens/s  peak RSS {results[name]['peak_rss_mb']:7.0f} MB")
    print(f"machine: {machine()}; {args.tokens:,} tokens, hooks {HOOKS}, {N_LAYERS} layers d_model {D_MODEL}")
    ours, theirs = results["ours"], results["transformer_lens"]
    print(f"cache_vs_transformer_lens={ours['tokens_per_s'] / theirs['tokens_per_s']:.2f} "
          f"peak_rss_ratio={ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()

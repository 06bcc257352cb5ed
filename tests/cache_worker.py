"""Subprocess worker for the activation-cache tests: cache a seeded model's activations, print peak RSS (MB)."""

from __future__ import annotations

import resource
import sys

import torch


def seeded_model():
    from interp.models.tl import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=3, d_model=64, n_heads=4, d_head=16, n_ctx=64, d_vocab=500,
                                  act_fn="gelu_new", seed=0)
    return HookedTransformer(cfg).eval()


def seeded_tokens(n_tokens: int) -> torch.Tensor:
    return torch.randint(0, 500, (n_tokens // 64, 64), generator=torch.Generator().manual_seed(0))


if __name__ == "__main__":
    from interp.analysis.activations import cache_activations

    torch.set_num_threads(1)
    n_tokens, out = int(sys.argv[1]), sys.argv[2]
    shard_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 2**14
    cache_activations(seeded_model(), seeded_tokens(n_tokens), "blocks.*.hook_resid_post", n_tokens, out,
                      shard_tokens=shard_tokens, batch_size=16, progress=False)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

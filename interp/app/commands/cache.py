"""``interp cache RUN_DIR --hooks PATTERN --n-tokens N --out-dir DIR``: write hook activations to disk shards.

PATTERN: hook names, comma lists, globs (``blocks.*.hook_resid_post``) or ``re:REGEX``. Tokens come from the
run's validation shards unless ``--data-dir`` names another token-shard directory. A killed run resumes.

Several processes write one cache: ``torchrun --nproc_per_node 4 -m interp.app.cli cache RUN_DIR ...`` (each rank
its share of the shards, on its own GPU; ``ActivationStore`` reads the result as one cache).
"""

from __future__ import annotations

import argparse

from interp.app.args import add_renamed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="cache activations of chosen hooks to disk", description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (written by `interp train` or `interp import`)")
    p.add_argument("--hooks", required=True, help="hook names, comma list, glob or re:REGEX")
    add_renamed_option(p, "--n-tokens", "--tokens", required=True, type=int,
                       help="tokens to run through the model (whole context windows)")
    add_renamed_option(p, "--out-dir", "--out", required=True, help="directory of the activation shards")
    add_renamed_option(p, "--data-dir", "--data", default=None,
                       help="token-shard directory (default: the run's validation shards)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"],
                   help="dtype of the stored activations (default float32)")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default 16)")
    p.add_argument("--shard-tokens", type=int, default=2**15,
                   help="tokens per shard file (default 32768; several processes split the cache by shards)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when available)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import interp
    from interp.analysis.activations import cache_activations
    from interp.app.messages import command, print_done
    from interp.data.shards import TokenShards
    from interp.devices import resolve_device
    from interp.models.loading import run_data
    from interp.training.distributed import setup_distributed, teardown_distributed

    device = resolve_device(args.device)
    dist = setup_distributed(device.type)  # under torchrun: each rank writes its share of the shards
    if dist.enabled and device.type == "cuda":
        device = f"cuda:{dist.local_rank}"
    data = TokenShards(args.data_dir) if args.data_dir else run_data(args.run_dir, "val")
    model = interp.load(args.run_dir, device=str(device))
    try:
        info = cache_activations(model, data, args.hooks, args.n_tokens, args.out_dir, dtype=args.dtype,
                                 batch_size=args.batch_size, shard_tokens=args.shard_tokens, dist=dist)
    finally:
        teardown_distributed(dist)
    if not dist.is_main:
        return 0
    print(f"cached {info.n_rows:,} rows of {', '.join(info.hooks)} in {info.n_shards} shards")
    print_done({"activations": info.out_dir},
               [command("interp train-sae", args.run_dir, "--cache-dir", info.out_dir, "--hook", info.hooks[0]),
                command("interp lens", args.run_dir, "--cache-dir", info.out_dir)
                + "   # needs blocks.*.hook_resid_pre and the last hook_resid_post",
                f"python: interp.analysis.activations.ActivationStore.from_cache({str(info.out_dir)!r})"])
    return 0

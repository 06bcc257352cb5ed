"""``interp cache RUN_DIR --hooks PATTERN --tokens N --out DIR``: write hook activations to disk shards.

PATTERN: hook names, comma lists, globs (``blocks.*.hook_resid_post``) or ``re:REGEX``. Tokens come from the
run's validation shards unless ``--data`` names another token-shard directory. A killed run resumes.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="cache activations of chosen hooks to disk", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--hooks", required=True)
    p.add_argument("--tokens", type=int, required=True, help="number of tokens to run through the model")
    p.add_argument("--out", required=True)
    p.add_argument("--data", default=None, help="token-shard directory (default: the run's data_dir/val)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import interp
    from interp.analysis.activations import cache_activations
    from interp.data.shards import TokenShards
    from interp.models.loading import run_data

    data = TokenShards(args.data) if args.data else run_data(args.run_dir, "val")
    model = interp.load(args.run_dir, device=args.device)
    info = cache_activations(model, data, args.hooks, args.tokens, args.out, dtype=args.dtype,
                             batch_size=args.batch_size)
    print(f"cached {info.n_rows:,} rows of {', '.join(info.hooks)} into {info.n_shards} shards in {info.out_dir}")
    return 0

"""``interp corpus``: text (the built-in story corpus, files, or a HF dataset) -> tokenizer + token shards."""

from __future__ import annotations

import argparse

from interp.app.args import add_dataclass_args, dataclass_from_args
from interp.data.prepare import DataConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="generate/tokenize text into token shards", description=__doc__)
    add_dataclass_args(p, DataConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, print_done
    from interp.data.prepare import prepare_data
    from interp.layout import DataLayout

    info = prepare_data(dataclass_from_args(DataConfig, args))
    print(f"{info.n_train_tokens:,} train and {info.n_val_tokens:,} val tokens (vocabulary {info.vocab_size}) "
          f"in {info.seconds:.0f}s")
    data = DataLayout(info.out_dir)
    print_done({"data directory": data.root, "tokenizer": data.tokenizer, "train shards": data.train,
                "val shards": data.val},
               [command("interp train --preset cpu --data-dir", data.root, "--out-dir", data.root.parent / "model")])
    return 0

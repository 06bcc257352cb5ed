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
    from interp.data.prepare import prepare_data

    info = prepare_data(dataclass_from_args(DataConfig, args))
    print(f"wrote {info.n_train_tokens:,} train and {info.n_val_tokens:,} val tokens (vocabulary {info.vocab_size}) "
          f"to {info.out_dir} in {info.seconds:.0f}s")
    print(f"next: interp train --data-dir {info.out_dir} --out-dir runs/model")
    return 0

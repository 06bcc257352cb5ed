"""``interp corpus``: text -> tokenizer -> train/val token shards, in one directory.

>>> info = prepare_data(DataConfig(out_dir="runs/data", n_tokens=5_000_000))

Layout: ``tokenizer/`` (a HF tokenizer directory), ``train/`` and ``val/`` (token shards),
``data_config.json`` (this config, the tokenizer hash, sizes, git commit). Documents are joined with
``<|endoftext|>`` before each one, as GPT-2 does, so every story starts right after a BOS token.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from interp.errors import ConfigError
from interp.io import atomic_write_json, git_commit
from interp.shards import write_shards
from interp.text_sources import TextSourceError, iter_texts
from interp.tokenizer import gpt2_tokenizer, load_tokenizer, save_tokenizer, tokenizer_hash, train_bpe


@dataclass
class DataConfig:
    """Options of ``interp corpus`` (each field is a flag: --out-dir, --n-tokens, ...)."""

    out_dir: str = "runs/data"
    source: str = "builtin"  # 'builtin', a file or folder of text, or 'hf:NAME[:SPLIT[:FIELD]]'
    tokenizer: str = "bpe"  # 'bpe' (trained here), 'gpt2' (exact GPT-2), or a tokenizer directory
    vocab_size: int = 4096
    n_tokens: int = 5_000_000  # training tokens
    val_tokens: int = 200_000
    bpe_train_chars: int = 6_000_000  # text used to train the BPE
    seed: int = 0
    batch_docs: int = 2000


@dataclass
class DataInfo:
    out_dir: Path
    n_train_tokens: int
    n_val_tokens: int
    vocab_size: int
    tokenizer_hash: str
    seconds: float


def _make_tokenizer(cfg: DataConfig):
    if cfg.tokenizer == "bpe":
        sample, chars = [], 0
        for doc in iter_texts(cfg.source, seed=cfg.seed + 1_000_003):  # a different stream from the shards
            sample.append(doc)
            chars += len(doc)
            if chars >= cfg.bpe_train_chars:
                break
        if not sample:
            raise TextSourceError(f"Text source {cfg.source!r} is empty.")
        return train_bpe(sample, vocab_size=cfg.vocab_size)
    if cfg.tokenizer == "gpt2":
        return gpt2_tokenizer()
    if Path(cfg.tokenizer).is_dir():
        return load_tokenizer(cfg.tokenizer)
    raise ConfigError(f"tokenizer={cfg.tokenizer!r}: use 'bpe', 'gpt2' or a tokenizer directory.")


def _token_chunks(docs: Iterator[str], tok, eot: int, budget: int, batch_docs: int, bar: tqdm) -> Iterator[np.ndarray]:
    """Batches of tokenized documents (EOT before each) until ``budget`` tokens, the last batch trimmed."""
    backend = tok.backend_tokenizer
    produced = 0
    while produced < budget:
        batch = list(itertools.islice(docs, batch_docs))
        if not batch:
            return
        ids = [[eot, *e.ids] for e in backend.encode_batch(batch, add_special_tokens=False)]
        arr = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64)
        arr = arr[: budget - produced]
        produced += len(arr)
        bar.update(len(arr))
        yield arr


def prepare_data(cfg: DataConfig) -> DataInfo:
    """Write tokenizer, train and val shards for ``cfg`` (the val split is a separate stream of documents)."""
    t0 = time.time()
    out = Path(cfg.out_dir)
    tok = _make_tokenizer(cfg)
    save_tokenizer(tok, out / "tokenizer")
    eot = tok.eos_token_id
    vocab = len(tok)
    meta = {"tokenizer_hash": tokenizer_hash(tok), "source": cfg.source}
    docs = iter_texts(cfg.source, seed=cfg.seed)
    with tqdm(total=cfg.val_tokens + cfg.n_tokens, desc="tokenizing", unit="tok", unit_scale=True) as bar:
        val = write_shards(_token_chunks(docs, tok, eot, cfg.val_tokens, cfg.batch_docs, bar), out / "val",
                           vocab_size=vocab, metadata=meta)
        train = write_shards(_token_chunks(docs, tok, eot, cfg.n_tokens, cfg.batch_docs, bar), out / "train",
                             vocab_size=vocab, metadata=meta)
    info = DataInfo(out, train.n_tokens, val.n_tokens, vocab, meta["tokenizer_hash"], round(time.time() - t0, 2))
    atomic_write_json(out / "data_config.json", {"config": cfg, "info": info, "git_commit": git_commit()})
    return info

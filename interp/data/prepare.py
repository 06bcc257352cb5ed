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

from interp.data.shards import write_shards
from interp.data.text_sources import TextSourceError, iter_texts
from interp.data.tokenizer import gpt2_tokenizer, load_tokenizer, save_tokenizer, tokenizer_hash, train_bpe
from interp.errors import ConfigError
from interp.io import atomic_write_json, git_commit


@dataclass
class DataConfig:
    """Options of ``interp corpus`` (each field is a flag: --out-dir, --n-tokens, ...)."""

    out_dir: str = "runs/data"
    """Data directory to write: tokenizer/, train/ and val/ token shards, data_config.json."""
    source: str = "builtin"
    """Where the text comes from: builtin (the procedural story corpus, endless), a .txt/.md/.jsonl file or a folder
    of them (documents: paragraphs, or the "text" field of each JSON line), or hf:NAME[:SPLIT[:FIELD]] (a Hugging
    Face dataset, streamed; needs the internet)."""
    tokenizer: str = "bpe"
    """bpe (a byte-level BPE trained here on the source), gpt2 (GPT-2's exact tokenizer, offline) or the path of
    a saved tokenizer directory."""
    vocab_size: int = 4096
    """Vocabulary size of the BPE trained here (with tokenizer bpe only; gpt2 has 50257)."""
    n_tokens: int = 5_000_000
    """Training tokens to write (fewer if the source runs out first)."""
    val_tokens: int = 200_000
    """Validation tokens to write, from documents that come before (and are separate from) the training ones."""
    bpe_train_chars: int = 6_000_000
    """Characters of source text the BPE is trained on (with tokenizer bpe only)."""
    seed: int = 0
    """Seed of the built-in corpus's stories (files and datasets are read in order)."""
    batch_docs: int = 2000
    """Documents tokenized per batch (a speed/memory trade-off; the output does not depend on it)."""


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


class _TokenStream:
    """Tokenized documents (EOT before each) as one stream that splits can take consecutive budgets from."""

    def __init__(self, docs: Iterator[str], tok, batch_docs: int) -> None:
        self._docs, self._backend, self._eot, self._batch = docs, tok.backend_tokenizer, tok.eos_token_id, batch_docs
        self._left = np.zeros(0, dtype=np.int64)

    def _next_block(self) -> np.ndarray | None:
        batch = list(itertools.islice(self._docs, self._batch))
        if not batch:
            return None
        ids = [[self._eot, *e.ids] for e in self._backend.encode_batch(batch, add_special_tokens=False)]
        return np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64)

    def take(self, budget: int, bar: tqdm) -> Iterator[np.ndarray]:
        """Up to ``budget`` tokens; what a block holds beyond it stays for the next ``take``."""
        produced = 0
        while produced < budget:
            block = self._left if len(self._left) else self._next_block()
            if block is None:
                return
            part, self._left = block[: budget - produced], block[budget - produced :]
            produced += len(part)
            bar.update(len(part))
            yield part


def prepare_data(cfg: DataConfig) -> DataInfo:
    """Write tokenizer, train and val shards for ``cfg`` (the val split is a separate stream of documents)."""
    t0 = time.time()
    out = Path(cfg.out_dir)
    tok = _make_tokenizer(cfg)
    save_tokenizer(tok, out / "tokenizer")
    vocab = len(tok)
    meta = {"tokenizer_hash": tokenizer_hash(tok), "source": cfg.source}
    stream = _TokenStream(iter_texts(cfg.source, seed=cfg.seed), tok, cfg.batch_docs)
    with tqdm(total=cfg.val_tokens + cfg.n_tokens, desc="tokenizing", unit="tok", unit_scale=True) as bar:
        val = write_shards(stream.take(cfg.val_tokens, bar), out / "val", vocab_size=vocab, metadata=meta)
        train = write_shards(stream.take(cfg.n_tokens, bar), out / "train", vocab_size=vocab, metadata=meta)
    info = DataInfo(out, train.n_tokens, val.n_tokens, vocab, meta["tokenizer_hash"], round(time.time() - t0, 2))
    atomic_write_json(out / "data_config.json", {"config": cfg, "info": info, "git_commit": git_commit()})
    return info

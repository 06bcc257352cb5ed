"""``interp corpus``: text -> tokenizer -> train/val token shards, in one directory.

>>> info = prepare_data(DataConfig(out_dir="runs/data", n_tokens=5_000_000))

Layout: ``tokenizer/`` (a HF tokenizer directory), ``train/`` and ``val/`` (token shards),
``data_config.json`` (this config, sizes, git commit, and ``data``: the tokenizer hash and each split's index
hash, which covers every shard's sha256). Documents are joined with ``<|endoftext|>`` before each one, as GPT-2
does, so every story starts right after a BOS token.

The whole directory is built under a temporary sibling name (``.data.tmp<pid>.*``) and swapped into place only
when complete, so a reader (or ``interp train``) sees the old data directory or the new one, never a new
tokenizer beside old shards. An existing data directory is replaced only with ``overwrite``.
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from interp.data.shards import write_shards
from interp.data.text_sources import TextSourceError, iter_texts
from interp.data.tokenizer import gpt2_tokenizer, load_tokenizer, save_tokenizer, tokenizer_hash, train_bpe
from interp.errors import ConfigError, RunDirError
from interp.io import atomic_dir, atomic_write_json, git_commit, remove_stale_temps, sha256_file
from interp.layout import DataLayout

BATCH_CHARS = 1_000_000  # text tokenized per call: bounds memory whatever the documents' lengths


@dataclass
class DataConfig:
    """Options of ``interp corpus`` (each field is a flag: --out-dir, --n-tokens, ...)."""

    out_dir: str = "runs/data"
    """Data directory to write: tokenizer/, train/ and val/ token shards, data_config.json."""
    source: str = "builtin"
    """Where the text comes from: builtin (the procedural story corpus, endless; builtin:tasks: its probe mix that
    trains colored objects and multiple choice harder, corpus.stories.MIXES), a .txt/.md/.jsonl file or a folder
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
    overwrite: bool = False
    """Replace an existing data directory at out_dir (the old one stays readable until the new one is complete)."""


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

    def __init__(self, docs: Iterator[str], tok, batch_docs: int, batch_chars: int = BATCH_CHARS) -> None:
        self._docs, self._backend, self._eot, self._batch = docs, tok.backend_tokenizer, tok.eos_token_id, batch_docs
        self._batch_chars = batch_chars
        self._left = np.zeros(0, dtype=np.int64)

    def _next_block(self) -> np.ndarray | None:
        batch, chars = [], 0
        for doc in itertools.islice(self._docs, self._batch):  # at most batch_docs documents / ~batch_chars chars
            batch.append(doc)
            chars += len(doc)
            if chars >= self._batch_chars:
                break
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


def _check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to replace an existing data directory without ``overwrite``, and anything else that is not empty."""
    if not out.exists():
        return
    if not out.is_dir():
        raise RunDirError(f"--out-dir {out} is a file, not a directory; choose another --out-dir.")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if not DataLayout(out).exists():
        raise RunDirError(f"--out-dir {out} is not empty and is not a data directory (it holds {', '.join(entries[:5])}"
                          f"{', ...' if len(entries) > 5 else ''}); choose a new or empty --out-dir (--overwrite only "
                          "replaces a data directory written by `interp corpus`).")
    if not overwrite:
        raise RunDirError(f"--out-dir {out} already holds a data directory. Pass --overwrite to replace it (the old "
                          "data stays in place until the new directory is complete), or choose another --out-dir.")


def _split_record(path: Path, n_tokens: int) -> dict[str, object]:
    """A split's identity: its size and the sha256 of its index (which lists every shard's sha256)."""
    return {"n_tokens": n_tokens, "index_sha256": sha256_file(path / "index.json")}


def prepare_data(cfg: DataConfig, progress: bool = True) -> DataInfo:
    """Write tokenizer, train and val shards for ``cfg`` (the val split is a separate stream of documents);
    ``progress``: a progress bar while tokenizing.

    >>> prepare_data(DataConfig(out_dir="runs/data", n_tokens=5_000_000, overwrite=True))
    """
    t0 = time.time()
    out = Path(cfg.out_dir)
    _check_out_dir(out, cfg.overwrite)
    remove_stale_temps(out.parent, glob.escape(out.name))  # what killed `interp corpus` runs left beside it
    tok = _make_tokenizer(cfg)
    vocab = len(tok)
    meta = {"tokenizer_hash": tokenizer_hash(tok), "source": cfg.source}
    with atomic_dir(out) as tmp:
        layout = DataLayout(tmp)
        save_tokenizer(tok, layout.tokenizer)
        stream = _TokenStream(iter_texts(cfg.source, seed=cfg.seed), tok, cfg.batch_docs)
        with tqdm(total=cfg.val_tokens + cfg.n_tokens, desc="tokenizing", unit="tok", unit_scale=True,
                  disable=not progress) as bar:
            val = write_shards(stream.take(cfg.val_tokens, bar), layout.val, vocab_size=vocab, metadata=meta)
            train = write_shards(stream.take(cfg.n_tokens, bar), layout.train, vocab_size=vocab, metadata=meta)
        splits = {"train": _split_record(layout.train, train.n_tokens), "val": _split_record(layout.val, val.n_tokens)}
        key = json.dumps({"tokenizer_hash": meta["tokenizer_hash"], **splits}, sort_keys=True)
        data = {"data_hash": hashlib.sha256(key.encode()).hexdigest()[:16], "tokenizer_hash": meta["tokenizer_hash"],
                "vocab_size": vocab, **splits}
        info = DataInfo(out, train.n_tokens, val.n_tokens, vocab, meta["tokenizer_hash"], round(time.time() - t0, 2))
        atomic_write_json(layout.config, {"config": cfg, "info": info, "data": data, "git_commit": git_commit()})
    return info

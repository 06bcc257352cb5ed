"""Tokenizers: a byte-level BPE trained on the corpus in seconds, and the exact GPT-2 tokenizer offline.

Both are Hugging Face fast tokenizers (what TransformerLens expects) with ``<|endoftext|>`` as BOS/EOS/PAD.

>>> tok = train_bpe(texts, vocab_size=4096)      # digits split: " 1732" -> " ", "1", "7", "3", "2"
>>> gpt2 = gpt2_tokenizer()
>>> gpt2("Hello world")["input_ids"]
[15496, 995]
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from interp.errors import TokenizerError
from interp.io import sha256_file

EOT = "<|endoftext|>"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _wrap(tokenizer_object) -> PreTrainedTokenizerFast:
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object, bos_token=EOT, eos_token=EOT, unk_token=EOT, pad_token=EOT,
        model_max_length=1_000_000,
    )
    _mark_bos_handled(tok)
    return tok


def _mark_bos_handled(tok: PreTrainedTokenizerFast) -> None:
    """TransformerLens 3.x rebuilds tokenizers lacking ``add_bos_token`` from ``name_or_path`` on disk; these
    tokenizers live in memory, and TransformerLens prepends BOS itself (``to_tokens(prepend_bos=True)``)."""
    tok.init_kwargs.setdefault("name_or_path", "")
    tok.init_kwargs["add_bos_token"] = True


def train_bpe(texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE (GPT-2 style leading spaces, digits split one per token) on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + 1:
        raise TokenizerError(f"vocab_size={vocab_size} is below the 257 tokens a byte-level BPE needs.")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return _wrap(tok)


def _ranks_path() -> Path:
    return Path(str(resources.files("interp") / "assets" / "gpt2.tiktoken"))


def _read_ranks(path: Path) -> dict[bytes, int]:
    actual = sha256_file(path)
    if actual != GPT2_RANKS_SHA256:
        raise TokenizerError(
            f"GPT-2 ranks file {path} has sha256 {actual}, expected {GPT2_RANKS_SHA256}: the file is corrupt or "
            "not GPT-2's. Reinstall interp-workbench (pip install -e .) to restore interp/assets/gpt2.tiktoken."
        )
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def gpt2_tiktoken(ranks_path: str | Path | None = None):
    """The exact GPT-2 encoding as a ``tiktoken.Encoding``, built offline from the shipped ranks."""
    import tiktoken

    ranks = _read_ranks(Path(ranks_path) if ranks_path else _ranks_path())
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOT: len(ranks)})


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover BPE merges from tiktoken ranks: each multi-byte token splits into the pair BPE would merge."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:  # run BPE on the token's bytes using only lower ranks
            best = min(
                ((ranks.get(parts[i] + parts[i + 1], 1 << 62), i) for i in range(len(parts) - 1)),
            )
            if best[0] >= rank:
                break
            i = best[1]
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) != 2:
            raise TokenizerError(f"Ranks file is inconsistent at token {token!r}.")
        merges.append((parts[0], parts[1]))
    return merges


@lru_cache(maxsize=2)
def _gpt2_files(ranks_path: str) -> tuple[str, str]:
    ranks = _read_ranks(Path(ranks_path))
    b2u = _bytes_to_unicode()
    enc = lambda b: "".join(b2u[x] for x in b)  # noqa: E731
    vocab = {enc(tok): rank for tok, rank in ranks.items()}
    vocab[EOT] = len(ranks)
    merges = "\n".join(f"{enc(a)} {enc(b)}" for a, b in _merges_from_ranks(ranks))
    return json.dumps(vocab, ensure_ascii=False), "#version: 0.2\n" + merges + "\n"


def gpt2_tokenizer(ranks_path: str | Path | None = None) -> PreTrainedTokenizerFast:
    """The exact GPT-2 tokenizer (50,257 tokens) as a HF fast tokenizer, offline, checked by hash."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab_json, merges_txt = _gpt2_files(str(Path(ranks_path) if ranks_path else _ranks_path()))
    vocab = json.loads(vocab_json)
    merges = [tuple(line.split(" ")) for line in merges_txt.splitlines()[1:] if line]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOT])
    return _wrap(tok)


def save_tokenizer(tok: PreTrainedTokenizerFast, out_dir: str | Path) -> Path:
    """Save so that both ``load_tokenizer`` and ``transformers.AutoTokenizer.from_pretrained`` read it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out)
    return out


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    path = Path(path)
    if not (path / "tokenizer.json").exists():
        raise TokenizerError(f"No tokenizer.json in {path}; save one with interp.data.tokenizer.save_tokenizer().")
    try:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"), bos_token=EOT, eos_token=EOT,
                                      unk_token=EOT, pad_token=EOT, model_max_length=1_000_000)
        _mark_bos_handled(tok)
    except Exception as err:  # tokenizers raises its own exception types for corrupt JSON
        raise TokenizerError(f"{path / 'tokenizer.json'} is not a valid tokenizer file: {err}") from err
    return tok


def tokenizer_hash(tok: PreTrainedTokenizerFast) -> str:
    """A short hash of the tokenizer's vocabulary and merges (what decides the token ids)."""
    state = json.loads(tok.backend_tokenizer.to_str())
    key = json.dumps({"model": state.get("model"), "added": state.get("added_tokens")}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]

"""Tokenizers: exact GPT-2 offline, BPE with split digits, save/load, TransformerLens compatibility."""

from __future__ import annotations

import shutil

import pytest

from interp.data.tokenizer import (
    _ranks_path,
    gpt2_tiktoken,
    gpt2_tokenizer,
    load_tokenizer,
    save_tokenizer,
    tokenizer_hash,
    train_bpe,
)
from interp.errors import TokenizerError

TEXTS = [
    "Hello world", "The war lasted from 1732 to 1789.", "  multiple   spaces\n\nand newlines\t tabs",
    "naïve café ☕ 日本語 🤖", "don't I'll we've they're", "<|endoftext|>When Mary and John went to the store",
    "x = f(y) * 3.14159; // code!", "UPPER lower MiXeD 12345678901234567890",
]


def test_gpt2_known_ids() -> None:
    tok = gpt2_tokenizer()
    assert tok("Hello world", add_special_tokens=False)["input_ids"] == [15496, 995]
    assert tok.eos_token_id == tok.bos_token_id == 50256 and len(tok) == 50257


def test_gpt2_matches_tiktoken() -> None:
    tok, enc = gpt2_tokenizer(), gpt2_tiktoken()
    for text in TEXTS:
        assert tok(text, add_special_tokens=False)["input_ids"] == enc.encode(text, allowed_special="all"), text
        assert tok.decode(enc.encode(text, allowed_special="all")) == text


def test_gpt2_wrong_hash(tmp_path) -> None:
    bad = tmp_path / "gpt2.tiktoken"
    shutil.copy(_ranks_path(), bad)
    data = bytearray(bad.read_bytes())
    data[100] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(TokenizerError, match="sha256.*expected 306cd27f"):
        gpt2_tiktoken(bad)


def test_bpe_splits_digits_and_round_trips(tmp_path) -> None:
    from interp.data.corpus import generate_text

    tok = train_bpe(generate_text(30_000, seed=0), vocab_size=2000)
    assert tok.tokenize(" 1732") == ["Ġ", "1", "7", "3", "2"]
    assert len(tok.tokenize(" Mary")) == 1 and len(tok) <= 2000  # frequent word + leading space: one token
    save_tokenizer(tok, tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    for text in TEXTS:
        assert again(text)["input_ids"] == tok(text)["input_ids"]
        assert again.decode(again(text)["input_ids"]) == text
    assert tokenizer_hash(again) == tokenizer_hash(tok)
    assert tokenizer_hash(gpt2_tokenizer()) != tokenizer_hash(tok)


def test_transformer_lens_prepends_bos_once() -> None:
    from interp.models.tl import HookedTransformer, HookedTransformerConfig

    tok = gpt2_tokenizer()
    cfg = HookedTransformerConfig(n_layers=1, d_model=8, n_ctx=16, d_head=4, n_heads=2, d_vocab=len(tok),
                                  act_fn="gelu_new")
    model = HookedTransformer(cfg, tokenizer=tok)
    assert model.to_tokens("Hello world").tolist() == [[50256, 15496, 995]]


def test_missing_tokenizer_dir(tmp_path) -> None:
    with pytest.raises(TokenizerError, match="No tokenizer.json"):
        load_tokenizer(tmp_path)

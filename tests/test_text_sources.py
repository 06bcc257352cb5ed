"""User text: files, folders and JSONL; Hugging Face datasets fail clearly offline; data prep end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interp.data.text_sources import TextSourceError, iter_texts


def test_file_folder_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "a.txt").write_text("First story.\n\nSecond story.\n")
    (tmp_path / "books" / "sub").mkdir()
    (tmp_path / "books" / "sub" / "b.jsonl").write_text(json.dumps({"text": "Third."}) + "\n")
    (tmp_path / "books" / "skip.bin").write_bytes(b"\x00\x01")
    assert list(iter_texts(str(tmp_path / "books" / "a.txt"))) == ["First story.", "Second story."]
    assert list(iter_texts(str(tmp_path / "books"))) == ["First story.", "Second story.", "Third."]


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(TextSourceError, match="not 'builtin'"):
        next(iter_texts(str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextSourceError, match="has no"):
        next(iter_texts(str(tmp_path / "empty")))
    (tmp_path / "bad.jsonl").write_text('{"title": "x"}\n')
    with pytest.raises(TextSourceError, match="bad.jsonl:1 .* 'text' field"):
        next(iter_texts(str(tmp_path / "bad.jsonl")))


def test_hf_dataset_offline_says_so(monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TextSourceError, match="offline.*local file or folder"):
        next(iter_texts("hf:roneneldan/TinyStories:train:text"))


def test_prepare_data_from_a_folder(tmp_path: Path) -> None:
    from interp.data.prepare import DataConfig, prepare_data
    from interp.data.shards import TokenShards
    from interp.data.tokenizer import load_tokenizer

    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "t.txt").write_text("\n\n".join(f"Story {i} is about a cat named Tom." for i in range(500)))
    info = prepare_data(DataConfig(out_dir=str(tmp_path / "data"), source=str(tmp_path / "texts"), vocab_size=300,
                                   n_tokens=3000, val_tokens=500))
    train, val = TokenShards(tmp_path / "data" / "train"), TokenShards(tmp_path / "data" / "val")
    assert (train.n_tokens, val.n_tokens) == (3000, 500) == (info.n_train_tokens, info.n_val_tokens)
    tok = load_tokenizer(tmp_path / "data" / "tokenizer")
    text = tok.decode(val.window(0, 40).tolist())
    assert text.startswith("<|endoftext|>Story 0 is about a cat named Tom.<|endoftext|>Story 1")
    assert train.metadata["tokenizer_hash"] == info.tokenizer_hash

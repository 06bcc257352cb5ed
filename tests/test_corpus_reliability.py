"""`interp corpus` never mixes two data directories: it refuses to replace one without --overwrite, a run killed
midway leaves the old directory byte-identical (and its temp dir is removed by the next run), and a one-line
file of any length is tokenized in bounded memory without losing a character."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interp.data.prepare import DataConfig, prepare_data
from interp.data.shards import TokenShards
from interp.data.text_sources import iter_texts, split_long
from interp.data.tokenizer import load_tokenizer, save_tokenizer, train_bpe
from interp.errors import RunDirError
from interp.io import sha256_file
from interp.layout import DataLayout

ROOT = Path(__file__).resolve().parent.parent
SMALL = dict(n_tokens=30_000, val_tokens=3_000, vocab_size=300, bpe_train_chars=60_000)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_existing_data_needs_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = prepare_data(DataConfig(out_dir=str(data), seed=0, **SMALL))
    before = _hashes(data)
    with pytest.raises(RunDirError, match=rf"{data} already holds a data directory.*--overwrite.*another --out-dir"):
        prepare_data(DataConfig(out_dir=str(data), seed=1, **SMALL))
    assert _hashes(data) == before
    second = prepare_data(DataConfig(out_dir=str(data), seed=1, overwrite=True, **SMALL))
    assert second.tokenizer_hash != first.tokenizer_hash
    record = json.loads(DataLayout(data).config.read_text())["data"]
    assert record["tokenizer_hash"] == TokenShards(DataLayout(data).train).metadata["tokenizer_hash"]
    assert record["train"]["index_sha256"] == sha256_file(DataLayout(data).train / "index.json")
    assert record["val"]["n_tokens"] == 3_000 and len(record["data_hash"]) == 16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(RunDirError, match=r"not empty and is not a data directory \(it holds mine.txt\)"):
        prepare_data(DataConfig(out_dir=str(other), overwrite=True, **SMALL))
    assert (other / "mine.txt").read_text() == "keep me"


def test_killed_corpus_leaves_old_data_intact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare_data(DataConfig(out_dir=str(data), seed=0, **SMALL))
    before = _hashes(data)
    cmd = [sys.executable, "-m", "interp.app.cli", "corpus", "--out-dir", str(data), "--seed", "1", "--overwrite",
           "--n-tokens", "3000000", "--val-tokens", "3000", "--vocab-size", "300", "--bpe-train-chars", "60000"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started, deadline = time.time(), time.time() + 240

    def new_tokenizer_written() -> bool:  # in the temp dir (or, without the atomic swap, over the old one)
        old = DataLayout(data).tokenizer / "tokenizer.json"
        return bool(list(tmp_path.glob(".data.*/tokenizer/tokenizer.json"))) or (
            old.exists() and old.stat().st_mtime > started)

    while time.time() < deadline and proc.poll() is None and not new_tokenizer_written():
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the corpus run ended before it was killed: {err.decode()[-2000:]}"
    assert _hashes(data) == before  # the old data directory, byte for byte
    leftovers = list(tmp_path.glob(".data.*"))
    assert leftovers, "the killed run's temp dir should be there for the next run to remove"
    rerun = subprocess.run(cmd[:-8] + ["--n-tokens", "30000", "--val-tokens", "3000", "--vocab-size", "300",
                                       "--bpe-train-chars", "60000"], cwd=tmp_path, env=env, capture_output=True)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    assert not any(p.exists() for p in leftovers)
    assert json.loads(DataLayout(data).config.read_text())["config"]["seed"] == 1
    assert TokenShards(DataLayout(data).train).n_tokens == 30_000
    ref = tmp_path / "uninterrupted"  # the rerun equals an uninterrupted run, bit for bit
    prepare_data(DataConfig(out_dir=str(ref), seed=1, n_tokens=30_000, val_tokens=3_000, vocab_size=300,
                            bpe_train_chars=60_000))
    for part in ("tokenizer/tokenizer.json", "train/shard_00000.bin", "val/shard_00000.bin"):
        assert (data / part).read_bytes() == (ref / part).read_bytes(), part


def _words(n_chars: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(500)]
    words, size = [], 0
    while size < n_chars:
        words.append(rng.choice(vocab))
        size += len(words[-1]) + 1
    return words


def test_split_long_keeps_every_character_and_the_tokens() -> None:
    text = " ".join(_words(200_000)) + "  double  spaces\tand a tab"
    pieces = list(split_long(text, max_chars=20_000))
    assert "".join(pieces) == text and len(pieces) > 10 and all(len(p) <= 20_000 for p in pieces)
    assert all(p[0] == " " for p in pieces[1:])  # cut before a word's leading space
    tok = train_bpe([text[:50_000]], vocab_size=400).backend_tokenizer
    whole = tok.encode(text, add_special_tokens=False).ids
    assert [i for p in pieces for i in tok.encode(p, add_special_tokens=False).ids] == whole
    assert list(split_long("x" * 50, max_chars=20)) == ["x" * 20, "x" * 20, "x" * 10]  # no space: hard cut


def test_file_read_in_blocks_gives_the_same_documents(tmp_path: Path, monkeypatch) -> None:
    import interp.data.text_sources as ts

    text = "\n\n".join([" First  para. ", "\n", "x" * 45, " ".join(_words(300)), "last\n"]) + "\n\n\n"
    (tmp_path / "t.txt").write_text(text)
    monkeypatch.setattr(ts, "MAX_DOC_CHARS", 40)
    expected = [p for para in text.split("\n\n") for p in split_long(para.strip())]
    for block in (1, 3, 17, 1 << 20):
        monkeypatch.setattr(ts, "READ_CHARS", block)
        assert list(iter_texts(str(tmp_path / "t.txt"))) == expected, block


def _peak_growth_mb(source: Path, tokenizer: Path, out: Path) -> float:
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "text_memory_worker.py"), str(source),
                           str(tokenizer), str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return float(proc.stdout.strip().splitlines()[-1])


def test_one_line_file_memory_is_bounded_and_lossless(tmp_path: Path) -> None:
    """4 MB on one line used to peak at 3x the memory of the same text in paragraphs (24 MB: 4.6x, 2.5 GB)."""
    words = _words(4_000_000)
    (tmp_path / "line.txt").write_text(" ".join(words) + "\n")
    (tmp_path / "para.txt").write_text("\n\n".join(" ".join(words[i : i + 80]) for i in range(0, len(words), 80)))
    save_tokenizer(train_bpe([" ".join(words[:20_000])], vocab_size=400), tmp_path / "tok")
    line = _peak_growth_mb(tmp_path / "line.txt", tmp_path / "tok", tmp_path / "line-data")
    para = _peak_growth_mb(tmp_path / "para.txt", tmp_path / "tok", tmp_path / "para-data")
    assert line < 1.5 * para + 25, (line, para)
    tok = load_tokenizer(tmp_path / "tok")
    ids = [*TokenShards(tmp_path / "line-data" / "val").window(0, 1000)]
    train = TokenShards(tmp_path / "line-data" / "train")
    ids += [*train.window(0, train.n_tokens)]
    assert tok.decode(ids).replace("<|endoftext|>", "") == " ".join(words)

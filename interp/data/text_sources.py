"""Where text comes from: the built-in corpus, plain-text files and folders, or Hugging Face datasets by name.

>>> texts = iter_texts("builtin")                      # endless procedural stories
>>> texts = iter_texts("path/to/books/")               # *.txt, *.md, *.jsonl ("text" field) under a folder
>>> texts = iter_texts("hf:roneneldan/TinyStories:train:text")   # needs the internet

Files are read in blocks and documents longer than ``MAX_DOC_CHARS`` are cut before a word's leading space
(``split_long``), so memory stays bounded whatever the length of a line and no character is lost.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from interp.errors import WorkbenchError

TEXT_SUFFIXES = (".txt", ".md", ".jsonl")


class TextSourceError(WorkbenchError):
    """A text source that does not exist, is empty, or cannot be reached."""


MAX_DOC_CHARS = 20_000  # longer documents are cut (at whitespace) into pieces of at most this many characters
READ_CHARS = 1 << 20  # text files are read in blocks of this many characters: memory is bounded by line length
_CUT = re.compile(r"\s(?=\S)")  # a whitespace character that starts a word: cutting there keeps pre-tokens whole


def _cut_point(text: str, start: int, max_chars: int) -> int:
    """Where to cut ``text[start:]`` (longer than ``max_chars``): before the last word start in the second half
    of its first ``max_chars`` characters, else at ``start + max_chars`` (a run with no word start)."""
    last = deque(_CUT.finditer(text, start + max_chars // 2, start + max_chars + 1), maxlen=1)
    return last[0].start() if last and last[0].start() > start else start + max_chars


def split_long(doc: str, max_chars: int | None = None) -> Iterator[str]:
    """``doc`` in pieces of at most ``max_chars`` characters, cut before a word's leading space, so the pieces
    joined are ``doc`` exactly (no character lost) and tokenize as the whole would (GPT-2 style pre-tokens).

    >>> list(split_long("aaa bbb ccc", max_chars=8))
    ['aaa bbb', ' ccc']
    """
    max_chars, start = max_chars or MAX_DOC_CHARS, 0
    while len(doc) - start > max_chars:
        cut = _cut_point(doc, start, max_chars)
        yield doc[start:cut]
        start = cut
    if start < len(doc):
        yield doc[start:]


def _paragraphs(f) -> Iterator[str]:
    """Paragraphs (text between blank lines, stripped) of an open text file, read in bounded blocks; a paragraph
    longer than ``MAX_DOC_CHARS`` is yielded in pieces as soon as they are read, so a one-line file of any size
    needs memory for a block and a piece, not for the whole line."""
    pending, started, eof = "", False, False  # started: pieces of the open paragraph were yielded already
    while not eof:
        block = f.read(READ_CHARS)
        eof, pending, pos = not block, pending + block, 0
        while (end := pending.find("\n\n", pos)) >= 0 or (eof and pos < len(pending)):
            end = end if end >= 0 else len(pending)
            para = pending[pos:end]
            yield from split_long(para.rstrip() if started else para.strip())
            pos, started = end + 2, False
        pending = pending[pos:] if started else pending[pos:].lstrip()
        settled, start = len(pending.rstrip()), 0  # trailing spaces may end the paragraph: never cut them off
        while settled - start > 2 * MAX_DOC_CHARS:  # a long open paragraph: yield its settled pieces now
            cut = _cut_point(pending, start, MAX_DOC_CHARS)
            yield pending[start:cut]
            start, started = cut, True
        pending = pending[start:]


def _iter_file(path: Path) -> Iterator[str]:
    if path.suffix == ".jsonl":
        with open(path, "rb") as f:  # bytes, so that a line that is not UTF-8 is named with its number
            for line_no, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise TextSourceError(f"{path}:{line_no} is not UTF-8 ({err.reason} at byte {err.start}); JSON "
                                          "lines must be UTF-8: re-encode the file (e.g. iconv -t utf-8).") from err
                if line.strip():
                    try:
                        text = json.loads(line)["text"]
                    except (ValueError, KeyError, TypeError) as err:
                        raise TextSourceError(f"{path}:{line_no} is not a JSON object with a 'text' field.") from err
                    yield from split_long(text)
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from _paragraphs(f)  # documents are paragraphs; long ones are cut into pieces


def _iter_hf(spec: str) -> Iterator[str]:
    parts = spec.split(":")
    name, split, field = parts[0], parts[1] if len(parts) > 1 else "train", parts[2] if len(parts) > 2 else "text"
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split, streaming=True)
        for row in ds:
            yield from split_long(row[field])
    except TextSourceError:
        raise
    except Exception as err:  # datasets raises many kinds (ConnectionError, HfHubHTTPError, FileNotFound...)
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        raise TextSourceError(
            f"Could not load Hugging Face dataset {name!r} (split {split!r}, field {field!r}): {err}. "
            + ("This machine is set offline. " if offline else "The machine may be offline. ")
            + "Download the text elsewhere and point --source at a local file or folder of .txt/.jsonl files."
        ) from err


def iter_texts(source: str, seed: int = 0) -> Iterator[str]:
    """Documents from ``source``: 'builtin' (or 'builtin:MIX', a probe mix of ``corpus.stories.MIXES``), a file, a
    folder, or 'hf:NAME[:SPLIT[:FIELD]]'."""
    if source == "builtin" or source.startswith("builtin:"):
        from interp.data.corpus.stories import MIXES, iter_stories

        mix = source.partition(":")[2] or "default"
        if mix not in MIXES:
            raise TextSourceError(f"Unknown built-in corpus mix {mix!r} in {source!r}; use builtin or one of "
                                  f"{['builtin:' + m for m in MIXES]}.")
        yield from iter_stories(seed, mix)
        return
    if source.startswith("hf:"):
        yield from _iter_hf(source[3:])
        return
    path = Path(source)
    if path.is_file():
        yield from _iter_file(path)
        return
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
        if not files:
            raise TextSourceError(f"Folder {path} has no {'/'.join(TEXT_SUFFIXES)} files.")
        for f in files:
            yield from _iter_file(f)
        return
    raise TextSourceError(f"Text source {source!r} is not 'builtin', 'hf:NAME', or an existing file or folder.")

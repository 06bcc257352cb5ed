"""Where text comes from: the built-in corpus, plain-text files and folders, or Hugging Face datasets by name.

>>> texts = iter_texts("builtin")                      # endless procedural stories
>>> texts = iter_texts("path/to/books/")               # *.txt, *.md, *.jsonl ("text" field) under a folder
>>> texts = iter_texts("hf:roneneldan/TinyStories:train:text")   # needs the internet
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from interp.errors import WorkbenchError

TEXT_SUFFIXES = (".txt", ".md", ".jsonl")


class TextSourceError(WorkbenchError):
    """A text source that does not exist, is empty, or cannot be reached."""


def _iter_file(path: Path, max_doc_chars: int = 20_000) -> Iterator[str]:
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)["text"]
                    except (ValueError, KeyError, TypeError) as err:
                        raise TextSourceError(f"{path}:{line_no} is not a JSON object with a 'text' field.") from err
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    for doc in text.split("\n\n"):  # documents are paragraphs; long ones are cut into pieces
        doc = doc.strip()
        for i in range(0, len(doc), max_doc_chars):
            yield doc[i : i + max_doc_chars]


def _iter_hf(spec: str) -> Iterator[str]:
    parts = spec.split(":")
    name, split, field = parts[0], parts[1] if len(parts) > 1 else "train", parts[2] if len(parts) > 2 else "text"
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split, streaming=True)
        for row in ds:
            yield row[field]
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
    """Documents from ``source``: 'builtin', a file, a folder, or 'hf:NAME[:SPLIT[:FIELD]]'."""
    if source == "builtin":
        from interp.data.corpus import iter_stories

        yield from iter_stories(seed)
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

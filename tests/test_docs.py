"""The docs match the code: docs/ARCHITECTURE.md lists every folder and module that exists and nothing else, and
every test that docs/reliability.md cites exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("interp", "saes", "circuits")


def _tree() -> dict[str, set[str]]:
    """Each package folder -> its modules (``x.py``, not ``__init__.py``) and subfolders (``name/``)."""
    tree: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for init in sorted((ROOT / pkg).rglob("__init__.py")):
            folder = init.parent
            entries = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
            entries |= {p.name + "/" for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
            tree[folder.relative_to(ROOT).as_posix() + "/"] = entries
    return tree


def _documented() -> dict[str, set[str]]:
    """Each ``### `folder/``` heading of ARCHITECTURE.md -> the backticked names in its table's first column."""
    doc: dict[str, set[str]] = {}
    current = None
    for line in (ROOT / "docs" / "ARCHITECTURE.md").read_text().splitlines():
        heading = re.match(r"^###\s+`([\w/]+/)`", line)
        if heading:
            current = heading.group(1)
            doc[current] = set()
        elif current and line.startswith("|") and not set(line) <= set("|- "):
            first = line.split("|")[1]
            doc[current] |= set(re.findall(r"`([\w.]+/?)`", first))
    return doc


def test_architecture_doc_matches_the_tree() -> None:
    tree, doc = _tree(), _documented()
    assert sorted(set(tree) - set(doc)) == [], "folders missing from docs/ARCHITECTURE.md"
    assert sorted(set(doc) - set(tree)) == [], "docs/ARCHITECTURE.md names folders that do not exist"
    for folder, entries in tree.items():
        assert sorted(entries - doc[folder]) == [], f"{folder}: not described in docs/ARCHITECTURE.md"
        assert sorted(doc[folder] - entries) == [], f"{folder}: docs/ARCHITECTURE.md names what does not exist"


def test_reliability_doc_cites_real_tests() -> None:
    text = (ROOT / "docs" / "reliability.md").read_text()
    cited: list[tuple[str, str]] = []
    for cell in re.findall(r"\|([^|\n]*tests/[^|\n]*)\|\s*$", text, flags=re.M):
        current = None
        for ref in re.findall(r"`([^`]+)`", cell):
            path, _, name = ref.partition("::")
            current = path or current
            cited.append((current, name))
    assert len(cited) >= 20
    for path, name in cited:
        module = ROOT / path
        assert module.exists(), path
        names = {n.name for n in ast.walk(ast.parse(module.read_text())) if isinstance(n, ast.FunctionDef)}
        assert name in names, f"docs/reliability.md cites {path}::{name}, which does not exist"

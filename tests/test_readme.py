"""The README's test command is exactly what CI runs, and the quickstart command names a real subcommand."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command() -> None:
    readme_cmds = [c for c in _bash_blocks((ROOT / "README.md").read_text()) if "pytest" in c]
    assert len(readme_cmds) == 1, readme_cmds
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if "pytest" in ln]
    assert ci_lines == readme_cmds


def test_readme_quickstart_command_exists() -> None:
    from interp.app.cli import build_parser

    quick = [c for c in _bash_blocks((ROOT / "README.md").read_text()) if "interp quickstart" in c]
    assert quick, "README must show the quickstart command"
    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ("quickstart", "train", "corpus", "eval", "export"):
        assert name in sub

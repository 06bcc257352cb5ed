"""Shared pytest set-up: every module in tests/fixtures/ is a fixture plugin (small, seeded, built once)."""

from __future__ import annotations

from pathlib import Path

import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}" for p in (Path(__file__).parent / "fixtures").glob("*.py") if p.stem != "__init__"
)

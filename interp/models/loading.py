"""``interp.load(run_dir)``: a trained run as a TransformerLens ``HookedTransformer`` with its tokenizer.

>>> import interp
>>> model = interp.load("runs/quickstart/model")
>>> logits, cache = model.run_with_cache("Once upon a time")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from interp.errors import CheckpointError
from interp.io import read_json
from interp.models.tl import HookedTransformer

if TYPE_CHECKING:
    from interp.data.shards import TokenShards


def find_tokenizer_dir(run_dir: str | Path) -> Path | None:
    """The run's tokenizer: ``run_dir/tokenizer``, else the data directory's named in ``train_config.json``."""
    run_dir = Path(run_dir)
    if (run_dir / "tokenizer").is_dir():
        return run_dir / "tokenizer"
    cfg_path = run_dir / "train_config.json"
    if cfg_path.exists():
        data_dir = read_json(cfg_path).get("data_dir")
        if data_dir and (Path(data_dir) / "tokenizer").is_dir():
            return Path(data_dir) / "tokenizer"
    return None


def load_gpt_and_tokenizer(run_dir: str | Path, checkpoint: str | None = None, device: str = "cpu"):
    """The training model (``interp.models.gpt.GPT``) and tokenizer (or None) of a run directory."""
    from interp.data.tokenizer import load_tokenizer
    from interp.training.checkpoint import load_model

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"Run directory {run_dir} does not exist; train one with `interp train` first.")
    gpt = load_model(run_dir if checkpoint is None else run_dir / "checkpoints" / checkpoint, device=device)
    tok_dir = find_tokenizer_dir(run_dir)
    return gpt, (load_tokenizer(tok_dir) if tok_dir is not None else None)


def run_data(run_dir: str | Path, split: str = "train") -> TokenShards:
    """The token shards a run was trained (``"train"``) or validated (``"val"``) on, from its train_config.json."""
    from interp.data.shards import TokenShards

    return TokenShards(Path(read_json(Path(run_dir) / "train_config.json")["data_dir"]) / split)


def load(run_dir: str | Path, checkpoint: str | None = None, device: str | None = None) -> HookedTransformer:
    """Load a workbench run as a ``HookedTransformer`` (logits equal the training model's to ~1e-6)."""
    from interp.models.convert import to_hooked

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    gpt, tokenizer = load_gpt_and_tokenizer(run_dir, checkpoint, device="cpu")
    return to_hooked(gpt.eval(), tokenizer, device=device)

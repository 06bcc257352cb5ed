"""``interp.load(run_dir)``: a trained run as a TransformerLens ``HookedTransformer`` with its tokenizer.

>>> import interp
>>> model = interp.load("runs/quickstart/model")
>>> logits, cache = model.run_with_cache("Once upon a time")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from interp.devices import resolve_device
from interp.errors import CheckpointError
from interp.layout import DataLayout, RunLayout
from interp.models.tl import HookedTransformer

if TYPE_CHECKING:
    from interp.data.shards import TokenShards


def find_tokenizer_dir(run_dir: str | Path) -> Path | None:
    """The run's tokenizer: ``run_dir/tokenizer``, else its training data's (see ``RunLayout.data_dir``)."""
    run = RunLayout(run_dir)
    if run.tokenizer.is_dir():
        return run.tokenizer
    data = run.data_dir(required=False)
    return DataLayout(data).tokenizer if data is not None and DataLayout(data).tokenizer.is_dir() else None


def load_gpt_and_tokenizer(run_dir: str | Path, checkpoint: str | None = None, device: str = "cpu"):
    """The training model (``interp.models.gpt.GPT``) and tokenizer (or None) of a run directory."""
    from interp.data.tokenizer import load_tokenizer
    from interp.training.checkpoint import load_model

    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"Run directory {run_dir} does not exist; train one with `interp train` first.")
    gpt = load_model(run_dir if checkpoint is None else RunLayout(run_dir).checkpoint(checkpoint), device=device)
    tok_dir = find_tokenizer_dir(run_dir)
    return gpt, (load_tokenizer(tok_dir) if tok_dir is not None else None)


def run_data(run_dir: str | Path, split: str = "train") -> TokenShards:
    """The token shards a run was trained (``"train"``) or validated (``"val"``) on.

    The data directory is found relative to the run first, so a run copied together with its data works from
    any directory; when it is nowhere, the error lists every path tried.
    """
    from interp.data.shards import TokenShards

    return TokenShards(DataLayout(RunLayout(run_dir).data_dir()).split(split))


def load(run_dir: str | Path, checkpoint: str | None = None, device: str | None = None) -> HookedTransformer:
    """Load a workbench run as a ``HookedTransformer`` (logits equal the training model's to ~1e-6)."""
    from interp.models.convert import to_hooked

    device = str(resolve_device(device))
    gpt, tokenizer = load_gpt_and_tokenizer(run_dir, checkpoint, device="cpu")
    return to_hooked(gpt.eval(), tokenizer, device=device)

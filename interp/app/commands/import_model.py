"""``interp import``: a Hugging Face GPT-2 directory, or a TransformerLens model name (online), as a workbench
run directory that ``interp.load``, ``interp eval`` and ``interp train --resume``-style fine-tuning read."""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.app.args import add_renamed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a HF GPT-2 directory or a TransformerLens model", description=__doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf", help="a Hugging Face GPT-2 directory (config.json + weights)")
    src.add_argument("--tl-name", help="a TransformerLens model name such as 'gpt2' (needs the internet)")
    add_renamed_option(p, "--out-dir", "--out", required=True, help="run directory to write (new or empty)")
    p.set_defaults(func=run)


def import_to_run_dir(out: Path, hf: str | None = None, tl_name: str | None = None) -> Path:
    from interp.data.tokenizer import load_tokenizer
    from interp.errors import RunDirError
    from interp.models.convert import from_hooked, hooked_from_pretrained_name, import_hf
    from interp.training.checkpoint import write_model_run

    if out.exists() and any(out.iterdir()):
        raise RunDirError(f"{out} is not empty; choose a new --out-dir.")
    if hf is not None:
        gpt = import_hf(hf)
        tokenizer = load_tokenizer(hf) if (Path(hf) / "tokenizer.json").exists() else None
    else:
        hooked = hooked_from_pretrained_name(tl_name or "")
        gpt, tokenizer = from_hooked(hooked), hooked.tokenizer
    return write_model_run(out, gpt, tokenizer, state={"imported_from": hf or f"transformer_lens:{tl_name}"})


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, print_done

    out = import_to_run_dir(Path(args.out_dir), hf=args.hf, tl_name=args.tl_name)
    print_done({"run directory": out}, [f"python: interp.load({str(out)!r})   # a HookedTransformer",
                                        command("interp eval", out) + "   # probe-task scores"])
    return 0

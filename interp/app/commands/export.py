"""``interp export RUN_DIR --out-dir DIR``: a Hugging Face GPT-2 directory (``GPT2LMHeadModel.from_pretrained``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from interp.app.args import add_renamed_option


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run to a Hugging Face GPT-2 directory",
                       description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `interp train`")
    add_renamed_option(p, "--out-dir", "--out", required=True,
                       help="output directory (config.json, model.safetensors, tokenizer)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    p.add_argument("--checkpoint", default=None, help="checkpoint name under RUN_DIR/checkpoints (default latest)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, print_done
    from interp.models.convert import export_hf
    from interp.models.loading import load_gpt_and_tokenizer

    gpt, tokenizer = load_gpt_and_tokenizer(args.run_dir, args.checkpoint)
    out = export_hf(gpt, Path(args.out_dir), tokenizer, overwrite=args.overwrite)
    print_done({"Hugging Face GPT-2 directory": out},
               [f"python: transformers.GPT2LMHeadModel.from_pretrained({str(out)!r})",
                command("interp import --hf", out, "--out-dir", f"{out}-run") + "   # and back into a run"])
    return 0

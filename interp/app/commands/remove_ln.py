"""``interp remove-ln RUN_DIR --out-dir OUT``: fine-tune a trained model into a LayerNorm-free one (every
LNRemovalConfig field is a flag). OUT gets the LN-free run (``interp.load`` gives a ``normalization_type=None``
HookedTransformer), its eval.json, ln_removal.json (parent, LayerNorm-kept fine-tune and LN-free scores, the DLA
check) and report.html; the fine-tuning itself is OUT/removal, resumable with --resume.

    interp remove-ln runs/quickstart/model --out-dir runs/quickstart/model-noLN
    interp remove-ln HF_GPT2_DIR --text-source corpus.txt --out-dir runs/gpt2-noLN
"""

from __future__ import annotations

import argparse

from interp.app.args import DeprecatedAlias, add_dataclass_args, dataclass_from_args
from interp.ln_removal.config import LNRemovalConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("remove-ln", help="fine-tune a run into a LayerNorm-free model (exact DLA)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(p, LNRemovalConfig, positional=("run_dir",))
    p.add_argument("--out", dest="out_dir", action=DeprecatedAlias, new="--out-dir", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interp.app.messages import command, format_table, print_done
    from interp.layout import LNRemovalLayout
    from interp.ln_removal.run import remove_ln

    result = remove_ln(dataclass_from_args(LNRemovalConfig, args))
    frame = result.table()
    print(format_table({m: " / ".join(f"{v:.4g}" for v in row.iloc[:3]) for m, row in frame.iterrows()},
                       ("metric", " / ".join(frame.columns[:3]))))
    out = LNRemovalLayout(result.out)
    print_done({"LN-free run": out.root, "report": out.report, "comparison": out.summary, "scores": out.eval},
               [f"python: interp.load({str(out.root)!r})   # HookedTransformer, normalization_type=None",
                command("interp analyze", out.root, "--task", "ioi") + "   # exact direct logit attribution",
                command("interp export", out.root, "--out-dir", f"{out.root}-hf") + "   # Hugging Face GPT-2"])
    return 0

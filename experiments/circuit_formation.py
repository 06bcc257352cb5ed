"""When do the quickstart model's circuits form? A research harness for issue 2's IOI and induction targets.

Trains a workbench ``GPT`` on a corpus directory (``interp corpus``) with an optional curriculum and prints one
JSON line every ``--every`` steps: IOI accuracy on held-out templates (``ioi``) and on training templates with
held-out names (``ioi_train``), the induction gain on random ordinary tokens at two lengths (``ind50``,
``ind15``) and on repeated story words (``ind_words``), and the best previous-token / induction / duplicate-token
head scores (on 15 random tokens repeated, so that a short-context model is judged where it was trained).
Findings are written up in ``docs/circuit-formation.md``.

    interp corpus --out-dir /tmp/data --n-tokens 8000000
    OMP_NUM_THREADS=1 python experiments/circuit_formation.py --data /tmp/data --tag base
    OMP_NUM_THREADS=1 python experiments/circuit_formation.py --data /tmp/data --tag drill \
        --short-ctx 32 --short-steps 300 --drill-pure-steps 300 --drill-after 0.5

The curriculum: for the first ``--short-steps`` steps, windows are ``--short-ctx`` tokens long (the batch grows so
tokens per step stay the same); rows can be replaced by "copy drills" (random story words, each run said two or
three times, or ``--drill-format pairs``), all rows for the first ``--drill-pure-steps`` steps and a fraction
``--drill-after`` after that. ``--ctx-schedule`` grows the window in steps after the short phase.
Two single-threaded runs side by side use a 2-core machine best.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from interp.analysis.heads import head_scores
from interp.data.corpus import generate_text, probes, stories
from interp.data.corpus import splits as sp
from interp.data.prepare import DataConfig, prepare_data
from interp.data.shards import TokenShards
from interp.data.tokenizer import load_tokenizer
from interp.models.config import ModelConfig
from interp.models.convert import to_hooked
from interp.models.gpt import GPT
from interp.models.tl import HookedTransformer
from interp.tasks.induction import score_induction
from interp.tasks.ioi import score_ioi
from interp.training.config import TrainConfig
from interp.training.trainer import lr_at, make_optimizer

TRAIN_TEMPLATES = tuple(
    (i, a) for i in sp.TRAIN_IOI_INTROS for a in sp.TRAIN_IOI_ACTIONS if not i.startswith("{")
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--data", required=True, help="a directory written by `interp corpus` (or by --make-corpus)")
    a("--make-corpus", type=int, default=0, help="first write N training tokens of stories to --data")
    a("--ioi-share", type=float, default=0.0, help="with --make-corpus: IOI's share of story sentences")
    a("--tag", default="run")
    a("--layers", type=int, default=2)
    a("--d-model", type=int, default=128)
    a("--heads", type=int, default=4)
    a("--ctx", type=int, default=128)
    a("--init-std", type=float, default=0.07)
    a("--batch", type=int, default=32)
    a("--steps", type=int, default=1500)
    a("--lr", type=float, default=3e-3)
    a("--min-lr", type=float, default=3e-4)
    a("--warmup", type=int, default=100)
    a("--decay-steps", type=int, default=0,
      help="warm-up, then constant lr, then cosine to --min-lr over the last N steps (0: cosine over the whole run)")
    a("--weight-decay", type=float, default=0.1)
    a("--short-ctx", type=int, default=32)
    a("--short-steps", type=int, default=0, help="steps trained on short windows first")
    a("--ctx-schedule", default="", help="context growth after the short phase, e.g. '48:100,64:100,96:100' "
      "(context:steps, in order; then --ctx)")
    a("--drill-pure-steps", type=int, default=0, help="steps whose rows are all copy drills")
    a("--drill-after", type=float, default=0.0, help="fraction of rows that are copy drills afterwards")
    a(
        "--drill-words",
        choices=("list", "single"),
        default="list",
        help="'list': the corpus's word-list words; 'single': every story word that is one token",
    )
    a("--drill-format", choices=("runs", "pairs"), default="runs",
      help="'runs': runs of 3-16 words said 2-3 times; 'pairs': random words (up to half the window), "
           "then their repeat")
    a("--long-run", type=int, default=16, help="longest drill run (words) after the short-context phase")
    a("--drill-mask", action="store_true", help="pair drills: no loss on the first copy (unpredictable tokens)")
    a("--sin-pos", type=float, default=0.0, help="initialise the learned positions as sinusoids of this std")
    a("--every", type=int, default=100)
    a("--seed", type=int, default=0)
    return p.parse_args()


def drill_row(
    rng: random.Random, words: list[list[int]], bos: int, length: int, max_run: int = 16
) -> list[int]:
    """BOS, then runs of 3-``max_run`` random story words, each said two or three times, cut to ``length``."""
    ids = [bos]
    while len(ids) < length:
        run = [t for w in rng.choices(words, k=rng.randint(3, max_run)) for t in w]
        ids += run * rng.choice((2, 2, 3))
    return ids[:length]


def pair_row(rng: random.Random, words: list[list[int]], bos: int, length: int) -> tuple[list[int], list[bool]]:
    """BOS, then random story words followed by their exact repeat (up to half the row each), cut to ``length``;
    and for each token whether it is a repeat (predictable from the context)."""
    ids, repeat = [bos], [False]
    while len(ids) < length:
        seq = [t for w in rng.choices(words, k=rng.randint(5, length // 2)) for t in w]
        ids += seq + seq
        repeat += [False] * len(seq) + [True] * len(seq)
    return ids[:length], repeat[:length]


def wsd_lr(step: int, schedule: TrainConfig, decay_steps: int) -> float:
    """Warm-up, stable, decay: the trainer's warm-up, then ``lr`` until the last ``decay_steps`` steps, then the
    trainer's cosine to ``min_lr`` over those steps."""
    if step < schedule.warmup_steps:
        return lr_at(step, schedule)
    decay = replace(schedule, warmup_steps=0, max_steps=decay_steps)
    return lr_at(max(0, step - (schedule.max_steps - decay_steps)), decay)


def context_at(step: int, phases: list[tuple[int, int]], final: int) -> int:
    """The window length ``step`` steps after the short phase, under ``--ctx-schedule``."""
    for ctx, n in phases:
        if step < n:
            return ctx
        step -= n
    return final


def make_corpus(out: str, n_tokens: int, ioi_share: float) -> None:
    """``interp corpus`` with IOI given ``ioi_share`` of the middle sentences (the other probes scaled to fit)."""
    if ioi_share:
        rest = [(k, p) for k, p in stories.PROBE_MIX if k != "ioi"]
        old_ioi = dict(stories.PROBE_MIX)["ioi"]
        scale = (1 - ioi_share) / (1 - old_ioi)
        stories.PROBE_MIX = (("ioi", ioi_share), *((k, p * scale) for k, p in rest))
        stories._KINDS = tuple(k for k, _ in stories.PROBE_MIX)
        stories._CUM = [sum(p for _, p in stories.PROBE_MIX[: i + 1]) for i in range(len(stories.PROBE_MIX))]
    prepare_data(DataConfig(out_dir=out, n_tokens=n_tokens))


def drill_words(tok, kind: str) -> list[list[int]]:
    """Token ids of the words drills draw from (each with its leading space)."""
    if kind == "list":
        return [tok(" " + w, add_special_tokens=False)["input_ids"] for w in probes._LIST_WORDS]
    story_words = {w for doc in generate_text(50_000, seed=999) for w in doc.split()}
    ids = (tok(" " + w, add_special_tokens=False)["input_ids"] for w in sorted(story_words))
    return [list(t) for t in sorted({tuple(i) for i in ids if len(i) == 1})]


@torch.no_grad()
def word_induction(model: HookedTransformer, words: list[list[int]], bos: int) -> float:
    """Loss on 15 tokens of random story words minus the loss on their repeat (the drills' own distribution)."""
    rng = random.Random(777)
    rows = []
    for _ in range(64):
        run = [t for w in rng.choices(words, k=20) for t in w][:15]
        rows.append([bos, *run, *run])
    x = torch.tensor(rows)
    loss = F.cross_entropy(model(x)[:, :-1].transpose(1, 2), x[:, 1:], reduction="none")
    return float(loss[:, 1:15].mean() - loss[:, 16:].mean())


def evaluate(model: GPT, tok, words: list[list[int]], step: int, loss: float, t0: float, tag: str) -> dict:
    model.eval()
    h = to_hooked(model, tok)
    ioi = score_ioi(h, 200)
    heads = head_scores(h, n_seqs=16, half=15)
    out = {
        "tag": tag,
        "step": step,
        "seconds": round(time.time() - t0),
        "train_loss": round(loss, 3),
        "ioi": ioi["accuracy"],
        "ioi_logit_diff": round(ioi["mean_logit_diff"], 2),
        "ioi_train": score_ioi(h, 200, seed=1, templates=TRAIN_TEMPLATES)["accuracy"],
        "ind50": round(score_induction(h, 50)["induction_gain"], 2),
        "ind15": round(score_induction(h, 50, half=15)["induction_gain"], 2),
        "ind_words": round(word_induction(h, words, tok.bos_token_id), 2),
        **{f"max_{k}": round(float(v.max()), 2) for k, v in heads.items()},
    }
    model.train()
    return out


def main() -> None:
    args = parse_args()
    if args.make_corpus:
        make_corpus(args.data, args.make_corpus, args.ioi_share)
    torch.manual_seed(args.seed)
    tok = load_tokenizer(f"{args.data}/tokenizer")
    train = TokenShards(f"{args.data}/train")
    cfg = ModelConfig(
        n_layers=args.layers,
        d_model=args.d_model,
        n_heads=args.heads,
        n_ctx=args.ctx,
        d_vocab=len(tok),
        tie_embeddings=False,
        init_std=args.init_std,
    )
    model = GPT(cfg)
    if args.sin_pos:
        pos = torch.arange(cfg.n_ctx)[:, None].float()
        freq = torch.exp(-torch.arange(0, cfg.d_model, 2).float() / cfg.d_model * np.log(10_000.0))
        with torch.no_grad():
            model.wpe.weight[:, 0::2] = torch.sin(pos * freq) * args.sin_pos * 2**0.5
            model.wpe.weight[:, 1::2] = torch.cos(pos * freq) * args.sin_pos * 2**0.5
    schedule = TrainConfig(
        lr=args.lr,
        min_lr=args.min_lr,
        warmup_steps=args.warmup,
        max_steps=args.steps,
        weight_decay=args.weight_decay,
    )
    opt = make_optimizer(model, schedule, fused=False)
    words = drill_words(tok, args.drill_words)
    phases = [tuple(int(v) for v in p.split(":")) for p in args.ctx_schedule.split(",") if p]
    t0, ema = time.time(), None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = wsd_lr(step, schedule, args.decay_steps) if args.decay_steps else lr_at(step, schedule)
        short = step < args.short_steps
        ctx = args.short_ctx if short else context_at(step - args.short_steps, phases, args.ctx)
        bs = args.batch * args.ctx // ctx
        starts = np.random.default_rng([args.seed, step]).integers(0, len(train) - ctx - 1, size=bs)
        batch = train.batch(starts, ctx + 1)
        n_drill = bs if step < args.drill_pure_steps else round(args.drill_after * bs)
        rng = random.Random(10_000 + step)
        targets = batch[:, 1:].clone()
        for r in range(n_drill):
            max_run = 16 if short else args.long_run
            if args.drill_format == "runs":
                batch[r] = torch.tensor(drill_row(rng, words, tok.bos_token_id, ctx + 1, max_run))
                targets[r] = batch[r, 1:]
            else:
                ids, repeat = pair_row(rng, words, tok.bos_token_id, ctx + 1)
                batch[r] = torch.tensor(ids)
                keep = torch.tensor(repeat[1:]) if args.drill_mask else torch.ones(ctx, dtype=torch.bool)
                targets[r] = torch.where(keep, batch[r, 1:], -1)
        _, loss = model(batch[:, :-1], targets=targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            print(json.dumps(evaluate(model, tok, words, step + 1, ema, t0, args.tag)), flush=True)


if __name__ == "__main__":
    main()

"""Can dense "lookup drills" teach a trained model the lookback that colored objects and multiple choice need?

Both tasks ask for a token that sits *before* a key the question names: the colour before "cup" in "a blue cup",
the letter before the option in "B. green". A model must attend to the earlier key and read what precedes it
(a previous-token head's output carried by a second head's values), unlike induction, which reads what follows.
This harness fine-tunes a trained run (default: the ``studies`` model) with a share of each batch's rows replaced by
drills whose loss is on the answers only, and prints one JSON line every ``--every`` steps: the drills' own answer
accuracy (``drill_acc``; ``drill_acc_first`` on each group's first question alone, which elimination of the
values already asked cannot help), colored objects in distribution and on held-out families, multiple choice likewise and its
letter bias. Findings: docs/circuit-formation.md ("The lookback").

    OMP_NUM_THREADS=1 python experiments/lookup_drills.py --kind natural --frac 0.4 --lr 2e-3 --steps 1500

Kinds: ``natural`` (half the rows colour scenes of 3-5 objects, each object then asked in a training question form;
half multiple-choice items in the training layouts, half of them naming their answer), ``tokens`` (random tokens
in (value, key) pairs, then every key followed by its value), ``both`` (either, row by row).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch

from interp.data.corpus import lexicon as lx
from interp.data.corpus import probes
from interp.data.corpus import splits as sp
from interp.data.shards import TokenShards
from interp.models.convert import to_hooked
from interp.models.gpt import GPT
from interp.models.loading import load_gpt_and_tokenizer, run_data
from interp.tasks import colored_objects, heldout_families, multiple_choice
from interp.training.config import TrainConfig
from interp.training.copy_drills import drill_vocab
from interp.training.trainer import lr_at, make_optimizer

Row = tuple[list[int], list[int]]  # token ids; per token 0 (no loss), 1 (an answer) or FIRST (a group's first answer)
FIRST = 2  # the first question about a scene or a group of pairs: nothing answered before narrows it down


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--run", default="runs/studies/model", help="the trained run to fine-tune (its own data is used)")
    a("--kind", default="natural", choices=("natural", "tokens", "both"), help="what the drill rows hold")
    a("--frac", type=float, default=0.25, help="share of each batch's rows that are drills")
    a("--steps", type=int, default=600)
    a("--lr", type=float, default=1e-3, help="peak learning rate (20 warm-up steps, 100 with --scratch; cosine to a tenth)")
    a("--batch", type=int, default=32)
    a("--every", type=int, default=100)
    a("--scratch", action="store_true", help="re-initialise the run's model first: drills from the start of training")
    a("--tag", default="run")
    return p.parse_args()


def _segments(tok, segments: list[tuple[str, bool]]) -> Row:
    """Token ids of text pieces and, per token, whether it is an answer (the only tokens with a loss)."""
    ids, answer = [], []
    for text, is_answer in segments:
        t = tok.encode(text, add_special_tokens=False)
        ids += t
        answer += [is_answer] * len(t)
    return ids, answer


def color_segments(rng: random.Random) -> list[tuple[str, bool]]:
    """A scene of 3-5 coloured objects, then every object asked about in a training question form."""
    k = rng.randint(3, 5)
    items, pairs = probes.color_scene(rng, k)
    name, other = rng.sample(lx.NAMES, 2)
    segments = [(" " + rng.choice(sp.COLOR_SCENES).format(items=items, Name=name), False)]
    for color, obj in rng.sample(pairs, k):
        before, after = rng.choice(sp.TRAIN_COLOR_QUESTIONS).split("{color}")
        segments += [(" " + before.format(obj=obj, Name=name, Other=other).rstrip(), False), (" " + color, True),
                     (after.format(obj=obj, Name=name, Other=other), False)]
    return segments


def mc_segments(rng: random.Random) -> list[tuple[str, bool]]:
    """One multiple-choice item in a training layout (half of them naming their answer), the letter the answer."""
    question, letter = probes.multiple_choice(rng, layout=rng.choice(sp.TRAIN_MC_FORMATS), lookup=rng.random() < 0.5)
    return [("\n" + question, False), (" " + letter, True), ("\n", False)]


def natural_row(rng: random.Random, tok, length: int) -> Row:
    ids, answer = [tok.bos_token_id], [False]
    while len(ids) < length:
        i, a = _segments(tok, color_segments(rng) if rng.random() < 0.5 else mc_segments(rng))
        ids += i
        answer += a
    return ids[:length], answer[:length]


def token_row(rng: random.Random, vocab: list[int], bos: int, length: int) -> Row:
    """(value, key) pairs of random tokens (a fixed filler between them in half the rows), then each key, an
    optional filler, and its value: the lookback with nothing else to go on."""
    ids, answer = [bos], [False]
    while len(ids) < length:
        n = rng.randint(3, 8)
        drawn = rng.sample(vocab, 2 * n)
        values, keys = drawn[:n], drawn[n:]
        filler = [rng.choice(vocab)] if rng.random() < 0.5 else []
        for v, k in zip(values, keys, strict=True):
            ids += [v, *filler, k]
            answer += [False] * (2 + len(filler))
        for q, j in enumerate(rng.sample(range(n), n)):
            tail = [rng.choice(vocab)] if rng.random() < 0.5 else []
            ids += [keys[j], *tail, values[j]]
            answer += [False] * (1 + len(tail)) + [FIRST if q == 0 else True]
    return ids[:length], answer[:length]


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    gpt, tok = load_gpt_and_tokenizer(args.run)
    if args.scratch:
        gpt = GPT(gpt.cfg)
    train: TokenShards = run_data(args.run)
    vocab = [int(t) for t in drill_vocab(train)]
    ctx = gpt.cfg.n_ctx

    def make_row(rng: random.Random, length: int) -> Row:
        if args.kind == "natural" or (args.kind == "both" and rng.random() < 0.5):
            return natural_row(rng, tok, length)
        return token_row(rng, vocab, tok.bos_token_id, length)

    @torch.no_grad()
    def evaluate(step: int, loss: float) -> None:
        gpt.eval()
        rows = [make_row(random.Random(10**6 + i), ctx + 1) for i in range(48)]
        ids = torch.tensor([r for r, _ in rows])
        answer = torch.tensor([a for _, a in rows])[:, 1:]
        right = gpt(ids[:, :-1]).argmax(-1) == ids[:, 1:]
        drill_acc = float(right[answer > 0].float().mean())
        first = float(right[answer == FIRST].float().mean()) if (answer == FIRST).any() else float("nan")
        h = to_hooked(gpt, tok)
        mc_in = multiple_choice.score_multiple_choice(h, 200)
        print(json.dumps({
            "tag": args.tag, "step": step, "seconds": round(time.time() - t0), "loss": round(loss, 3),
            "drill_acc": round(drill_acc, 3), "drill_acc_first": round(first, 3),
            "colors_in": colored_objects.score_colored_objects(h, 200)["accuracy"],
            "colors_held": round(heldout_families.score_color_families(h, 200)["accuracy"], 3),
            "mc_in": mc_in["accuracy"], "mc_bias": round(mc_in["letter_bias"], 2),
            "mc_held": round(heldout_families.score_mc_families(h, 200)["accuracy"], 3),
        }), flush=True)
        gpt.train()

    schedule = TrainConfig(lr=args.lr, min_lr=args.lr / 10, warmup_steps=100 if args.scratch else 20, max_steps=args.steps, weight_decay=0.1)
    opt = make_optimizer(gpt, schedule, fused=False)
    t0, ema = time.time(), 0.0
    evaluate(0, 0.0)
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, schedule)
        starts = np.random.default_rng([1, step]).integers(0, len(train) - ctx - 1, size=args.batch)
        batch = train.batch(starts, ctx + 1)
        targets = batch[:, 1:].clone()
        rng = random.Random(step)
        for r in range(round(args.frac * args.batch)):
            ids, answer = make_row(rng, ctx + 1)
            batch[r] = torch.tensor(ids)
            targets[r] = torch.where(torch.tensor(answer[1:]) > 0, batch[r, 1:], -1)
        _, loss = gpt(batch[:, :-1], targets=targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), 1.0)
        opt.step()
        ema = loss.item() if step == 0 else 0.95 * ema + 0.05 * loss.item()
        if (step + 1) % args.every == 0:
            evaluate(step + 1, ema)


if __name__ == "__main__":
    main()

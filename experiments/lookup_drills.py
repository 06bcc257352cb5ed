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

The two stages that hooked the lookback up to colored objects (README: the same with ``interp train --init-from``):

    python experiments/lookup_drills.py --kind tokens --frac 1 --lr 2e-3 --steps 750 --save /tmp/lb.safetensors
    python experiments/lookup_drills.py --init /tmp/lb.safetensors --kind natural --questions one --frac 0.3 \
        --weight 2 --lr 1e-3 --steps 600

Kinds: ``natural`` (half the rows colour scenes of 3-5 objects, each asked about in a training question form:
every object in turn, or one with ``--questions one``; half multiple-choice items in the training layouts, half of
them naming their answer: ``interp.training.task_drills``), ``tokens`` (random tokens in (value, key) pairs, then
every key followed by its value), ``both`` (either, row by row).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import safetensors.torch
import torch

from interp.data.shards import TokenShards
from interp.models.convert import to_hooked
from interp.models.gpt import GPT
from interp.models.loading import load_gpt_and_tokenizer, run_data
from interp.tasks import colored_objects, heldout_families, multiple_choice
from interp.training.checkpoint import load_model
from interp.training.config import TrainConfig
from interp.training.copy_drills import drill_vocab, weighted_drill_loss
from interp.training.lookback_drills import lookback_rows
from interp.training.task_drills import task_row
from interp.training.trainer import lr_at, make_optimizer

Row = tuple[list[int], list[int]]  # token ids; per token 0 (no loss), 1 (an answer) or FIRST (a group's first answer)
FIRST = 2  # the first question about a scene or a group of pairs: nothing answered before narrows it down


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--run", default="runs/studies/model", help="the trained run to fine-tune (its own data is used)")
    a("--kind", default="natural", choices=("natural", "tokens", "both", "trainer"),
      help="what the drill rows hold (trainer: the trainer's lookback rows, interp.training.lookback_drills)")
    a("--frac", type=float, default=0.25, help="share of each batch's rows that are drills")
    a("--steps", type=int, default=600)
    a("--lr", type=float, default=1e-3, help="peak learning rate (20 warm-up steps, 100 with --scratch; cosine to a tenth)")
    a("--batch", type=int, default=32)
    a("--every", type=int, default=100)
    a("--scratch", action="store_true", help="re-initialise the run's model first: drills from the start of training")
    a("--weight", type=float, default=0.0,
      help="0: drill answers share the batch's mean loss with the corpus tokens; w > 0: loss = corpus tokens' mean "
           "+ w * drill answers' own mean (their gradient no longer diluted by the rows' other tokens)")
    a("--questions", default="all", choices=("all", "one"),
      help="natural colour scenes: ask every object in turn (elimination helps) or one object per scene")
    a("--checkpoint", help="a checkpoint directory of the run to start from instead of its latest")
    a("--init", help="a .safetensors file of the model's weights to start from (one written by --save)")
    a("--save", help="write the fine-tuned weights to this .safetensors file at the end (for a second stage)")
    a("--tag", default="run")
    return p.parse_args()


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
    if args.checkpoint:
        gpt = load_model(args.checkpoint)
    if args.scratch:
        gpt = GPT(gpt.cfg)
    if args.init:
        gpt.load_state_dict(safetensors.torch.load_file(args.init))
    train: TokenShards = run_data(args.run)
    vocab = [int(t) for t in drill_vocab(train)]
    ctx = gpt.cfg.n_ctx

    def make_row(rng: random.Random, length: int) -> Row:
        if args.kind == "trainer":  # no BOS token, unlike token_row
            ids, answer = lookback_rows(np.array(vocab), 1, length, (rng.randrange(2**31),))
            return ids[0].tolist(), answer[0].tolist()
        if args.kind == "natural" or (args.kind == "both" and rng.random() < 0.5):
            return task_row(rng, tok, length, 1 if args.questions == "one" else None)
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
        n_drill = round(args.frac * args.batch)
        for r in range(n_drill):
            ids, answer = make_row(rng, ctx + 1)
            batch[r] = torch.tensor(ids)
            targets[r] = torch.where(torch.tensor(answer[1:]) > 0, batch[r, 1:], -1)
        if args.weight > 0:  # the corpus rows' mean + weight * the drill answers' own mean
            logits = gpt(batch[:, :-1])
            ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1,
                                                   reduction="none").view_as(targets)
            loss = weighted_drill_loss(ce, targets, 0, n_drill, args.weight)
        else:
            _, loss = gpt(batch[:, :-1], targets=targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), 1.0)
        opt.step()
        ema = loss.item() if step == 0 else 0.95 * ema + 0.05 * loss.item()
        if (step + 1) % args.every == 0:
            evaluate(step + 1, ema)
    if args.save:
        safetensors.torch.save_file({k: v.contiguous() for k, v in gpt.state_dict().items()}, args.save)


if __name__ == "__main__":
    main()

"""Greater-than on the quickstart model through per-layer transcoders (issue 21): which features carry the start
year, which promote later years, what ablating them does, their de-embeddings and input-invariant connections
(Dunefsky, Chlenski & Nanda 2024). Findings: docs/greater-than-study.md.

    OMP_NUM_THREADS=1 python experiments/greater_than_features.py --run-dir runs/quickstart/model \\
        --out-dir runs/greater-than-study --fig-dir docs/figures/greater-than

The tokenizer splits years into digits, so after "... from 1732 to 17" the next token is the end year's decade
digit d, and the graphs explain that token. Decade metric: P(d > D) - P(d <= D) with D the start year's decade
(the task's probability difference exactly when the start year ends in 9, as ``greater_than_pairs`` uses it); the
task's own two-token probability difference (``score_greater_than``'s) is reported beside it. Two prompt families:
the task's templates, held out of the corpus (``EVAL_YEAR_TEMPLATES``), and the corpus's own year sentences cut
before the end year (``TRAIN_YEAR_TEMPLATES``, in distribution).

Steps: transcoders (topk, one per layer, trained into OUT/transcoders or reused from there); the model's and the
replacement model's scores; feature activations at the start year's decade digit, its units digit and the last
position against the start year (eta^2 of the decade, Spearman with the year); one attribution graph per prompt
(start years 02-89, the 10 digit logits as targets) and each node's direct greater-than effect (its edges to the
digits above D minus those up to D, mean logit); ablations with ``intervene``; de-embeddings of the layer-0
carriers; their connections to the layer-1 promoters through each layer-1 head. Writes OUT/results.json,
OUT/tracking.csv, OUT/promoters.csv, OUT/graph.html and the PNG figures in --fig-dir (plotly + kaleido:
``pip install kaleido==0.2.1``, the ``figures`` extra; without it the figures are written as HTML).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from circuits.attribution_graph import attribution_graph, graph_scores, influence, intervene, prune
from circuits.graph_run import load_transcoders
from circuits.graph_view import write_graph_page
from circuits.transcoder_weights import connection_matrix, de_embedding, de_embedding_scores
from interp.data.corpus import lexicon as lx
from interp.data.corpus import splits as sp
from interp.models.loading import run_data
from interp.tasks.greater_than import YEARS
from interp.tasks.scoring import continuation_logprobs, encode, next_token_logprobs
from saes.dashboard_data import feature_table
from saes.hooked import splice_hooks

sys.path.insert(0, str(Path(__file__).resolve().parent))
import greater_than_figures as F  # noqa: E402 - the figures, next to this script

FAMILIES = {"held-out": list(sp.EVAL_YEAR_TEMPLATES),
            "in-distribution": [t.split("{end}")[0] + "{century}" for t in sp.TRAIN_YEAR_TEMPLATES]}
ROLES = {"dec": -6, "unit": -5, "to": -4, "last": -1}  # "... from 17|3|2| to| 1|7": start digits, " to", last


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--run-dir", default="runs/quickstart/model", help="the model's run directory")
    a("--out-dir", default="runs/greater-than-study",
      help="transcoders (trained here or reused), results.json, tracking.csv, promoters.csv, graph.html")
    a("--fig-dir", default="docs/figures/greater-than", help="where the PNG figures go")
    a("--n-tokens", type=int, default=1_000_000, help="training tokens of the transcoders (if not reused)")
    a("--k", type=int, default=16, help="TopK transcoders: active features per token")
    a("--expansion", type=int, default=8, help="transcoder width = expansion x d_model")
    a("--per-year", type=int, default=2, help="prompts per start year and family (activations, scores)")
    a("--year-step", type=int, default=1, help="use every N-th start year of 02-97 (a quick run: 10)")
    a("--n-key", type=int, default=6, help="carriers and promoters studied closely (ablation, figures)")
    a("--seed", type=int, default=0, help="seed of the prompts (templates, centuries, names)")
    return p.parse_args()


@dataclass
class Prompt:
    text: str
    yy: int
    family: str
    century: int

    def with_start(self, yy: int) -> Prompt:
        """The same prompt with another start year (Hanna et al.'s corruption: 01)."""
        old, new = f"from {self.century}{self.yy:02d}", f"from {self.century}{yy:02d}"
        return Prompt(self.text.replace(old, new), yy, self.family, self.century)

    @property
    def decade(self) -> int:
        return self.yy // 10


def make_prompts(per_year: int, year_step: int, seed: int) -> list[Prompt]:
    rng, out = random.Random(seed), []
    for family, templates in FAMILIES.items():
        for yy in range(2, 98, year_step):
            for _ in range(per_year):
                century = rng.randint(11, 19)
                text = rng.choice(templates).format(start=f"{century}{yy:02d}", century=century,
                                                    Name=rng.choice(lx.NAMES))
                out.append(Prompt(text, yy, family, century))
    return out


def get_transcoders(model, args: argparse.Namespace) -> list:
    """The per-layer transcoders of OUT/transcoders, trained there first when missing."""
    from interp.errors import InputError
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    path = Path(args.out_dir) / "transcoders"
    try:
        tcs = load_transcoders(path, model.cfg.n_layers)
    except (InputError, FileNotFoundError):
        tcs = None
    if tcs is not None:
        saved = json.loads((path / "train_config.json").read_text())
        got = (saved["n_tokens"], {(s["k"], s["expansion"]) for s in saved["saes"]})
        if got != (args.n_tokens, {(args.k, args.expansion)}):
            raise SystemExit(f"{path} holds transcoders trained with n_tokens, (k, expansion) = {got}, not "
                             f"{args.n_tokens}, ({args.k}, {args.expansion}): use another --out-dir or remove it.")
        print(f"reusing the transcoders in {path}")
        return tcs
    specs = [{"name": f"tc{layer}", "hook": f"blocks.{layer}.ln2.hook_normalized", "architecture": "topk",
              "hook_out": f"blocks.{layer}.hook_mlp_out", "k": args.k, "expansion": args.expansion}
             for layer in range(model.cfg.n_layers)]
    result = train_saes(SAETrainConfig(run_dir=args.run_dir, out_dir=str(path), n_tokens=args.n_tokens, seed=0,
                                       batch_size=1024, lr=2e-3, buffer_size=16384, progress=False, saes=specs,
                                       device="cpu"), model=model)
    print(f"trained transcoders in {result.seconds:.0f} s: {result.final}")
    return load_transcoders(path, model.cfg.n_layers)


def tokens_of(model, prompt: Prompt) -> torch.Tensor:
    """The prompt's tokens, checked to end in the start year's digits, ' to', the century."""
    ids = encode(model, prompt.text)
    got = [model.tokenizer.decode([ids[ROLES["dec"]]]), model.tokenizer.decode([ids[ROLES["unit"]]])]
    if got != [str(prompt.yy // 10), str(prompt.yy % 10)]:
        raise SystemExit(f"{prompt.text!r}: expected the start year's digits at positions -6, -5, found {got}; "
                         "this study needs a digit-split tokenizer (the quickstart's).")
    return torch.tensor(ids)


def decade_metric(probs: torch.Tensor, decades: torch.Tensor) -> torch.Tensor:
    """P(d > D) - P(d <= D) per prompt from the digit probabilities [n, 10]."""
    later = torch.arange(10)[None] > decades[:, None]
    return (probs * later).sum(1) - (probs * ~later).sum(1)


def decade_slope(probs: torch.Tensor, decades: torch.Tensor) -> float:
    """How far the expected next decade digit moves per start decade (least squares over prompts; a model that
    spreads its mass evenly over the later decades: 0.5; one that ignores the start year: 0)."""
    expected = (probs * torch.arange(10)).sum(1) / probs.sum(1)
    d = decades.double() - decades.double().mean()
    return float((d * (expected.double() - expected.double().mean())).sum() / (d * d).sum())


def start_dependence(probs: torch.Tensor, decades: torch.Tensor) -> float:
    """How much of the decade metric needs the start year: the metric minus that of the average digit
    distribution (a model that ignores the start year but keeps this one's prior over decades)."""
    blind = probs.mean(0, keepdim=True).expand_as(probs)
    return float(decade_metric(probs, decades).mean() - decade_metric(blind, decades).mean())


def scores(model, prompts: list[Prompt], digit_ids: list[int], hooks: list | None = None) -> dict[str, float]:
    """The two-token probability difference (score_greater_than's); on the decade digit: the metric, the metric
    with the start year corrupted to 01 (greater_than_pairs' contrast), its start-year part, the slope."""
    with model.hooks(fwd_hooks=hooks or []):
        logp = continuation_logprobs(model, [p.text for p in prompts], [YEARS] * len(prompts)).exp()
        probs, corrupt = (next_token_logprobs(model, [encode(model, p.text) for p in ps])[:, digit_ids].exp()
                          for ps in (prompts, [p.with_start(1) for p in prompts]))
    yy = torch.tensor([p.yy for p in prompts])
    decades = yy // 10
    pd_ = [float(r[y + 1:].sum() - r[:y].sum()) for r, y in zip(logp, yy.tolist(), strict=True)]
    return {"prob_diff": float(np.mean(pd_)), "decade_metric": float(decade_metric(probs, decades).mean()),
            "decade_metric_start_01": float(decade_metric(corrupt, decades).mean()),
            "start_dependence": start_dependence(probs, decades), "decade_slope": decade_slope(probs, decades),
            "digit_mass": float(probs.sum(1).mean())}


@torch.no_grad()
def activations(model, tcs, prompts: list[Prompt]) -> torch.Tensor:
    """Feature activations [prompt, role (dec, unit, last), layer, feature]."""
    out = []
    names = [f"blocks.{layer}.ln2.hook_normalized" for layer in range(len(tcs))]
    for p in prompts:
        _, cache = model.run_with_cache(tokens_of(model, p)[None], names_filter=lambda n: n in names)
        feats = [tc.encode(cache[n][0]) for tc, n in zip(tcs, names, strict=True)]
        out.append(torch.stack([torch.stack([f[i] for f in feats]) for i in ROLES.values()]))
    return torch.stack(out)


def tracking(acts: torch.Tensor, yy: torch.Tensor) -> pd.DataFrame:
    """Per (role, layer, feature): how often it fires, eta^2 of the start decade, Spearman with the start year, and
    its mean activation per decade."""
    rows = []
    decades = yy // 10
    rank_y = yy.argsort().argsort().double()
    for r, role in enumerate(ROLES):
        for layer in range(acts.shape[2]):
            a = acts[:, r, layer].double()
            means = torch.stack([a[decades == d].mean(0) for d in range(10)])
            eta = ((means[decades] - a.mean(0)) ** 2).sum(0) / ((a - a.mean(0)) ** 2).sum(0).clamp(min=1e-12)
            ra = a.argsort(0).argsort(0).double()
            rho = torch.corrcoef(torch.cat([rank_y[None], ra.T]))[0, 1:]
            for f in torch.nonzero((a > 0).any(0)).flatten().tolist():
                rows.append(dict(role=role, layer=layer, feature=f, freq=float((a[:, f] > 0).double().mean()),
                                 eta2=float(eta[f]), spearman=float(rho[f]),
                                 by_decade=[round(float(x), 3) for x in means[:, f]]))
    return pd.DataFrame(rows)


def graph_nodes(fmodel, tcs, prompts: list[Prompt], digit_ids: list[int]) -> tuple[pd.DataFrame, dict]:
    """One graph per prompt (start years 02-89): every node with its 10 digit-logit edges and direct greater-than
    effect ``gt``; the mean graph scores per family; the first held-out graph (for the figure)."""
    rows, scored, first = [], [], None
    for i, p in enumerate(prompts):
        toks = tokens_of(fmodel, p)
        g = attribution_graph(fmodel, tcs, toks, n_logits=10)
        logit_rows = {int(r.feature): j for j, r in g.nodes[g.nodes.kind == "logit"].iterrows()}
        if sorted(logit_rows) != sorted(digit_ids):
            continue  # a prompt whose 10 likeliest tokens are not the digits (none in the measured run)
        scored.append(dict(family=p.family, **graph_scores(g)))
        first = first or (p, toks, g)
        edges = g.adjacency[[logit_rows[d] for d in digit_ids]].T  # [nodes, 10]
        later = torch.arange(10) > p.decade
        gt = edges[:, later].mean(1) - edges[:, ~later].mean(1)
        role = {len(toks) + v: k for k, v in ROLES.items()}
        inf = influence(g)
        for j, node in enumerate(g.nodes.itertuples()):
            if node.kind != "logit":
                rows.append(dict(prompt=i, family=p.family, yy=p.yy, decade=p.decade, kind=node.kind,
                                 layer=node.layer, pos=node.pos, role=role.get(node.pos, "other"),
                                 feature=node.feature if node.kind == "feature" else -1, value=node.value,
                                 influence=float(inf[j]), gt=float(gt[j]),
                                 **{f"e{d}": float(edges[j, d]) for d in range(10)}))
    frame = pd.DataFrame(scored)
    return pd.DataFrame(rows), {"graph_scores": frame.groupby("family").mean().to_dict("index"),
                                "n_graphs": len(frame), "first": first}


def promoters(nodes: pd.DataFrame) -> pd.DataFrame:
    """Feature nodes per (layer, role, feature) over the graphs: ``gt``, the mean direct greater-than effect per
    prompt (0 where inactive); ``shift``, how much its push towards high digits (the slope of its digit edges)
    grows per start decade (least squares over prompts; > 0: its effect moves with the start year as a
    greater-than mechanism's must); the share of prompts where active, mean activation and influence."""
    feats = nodes[nodes.kind == "feature"].assign(
        push=lambda f: sum((d - 4.5) * f[f"e{d}"] for d in range(10)) / 82.5)
    keys = ["layer", "role", "feature"]
    agg = feats.groupby(keys).agg(act=("value", "mean"), influence=("influence", "mean"))
    per_prompt = feats.groupby(keys + ["prompt"])[["gt", "push"]].sum()
    prompts = nodes.groupby("prompt").decade.first()
    n = len(prompts)
    agg["gt"] = per_prompt["gt"].groupby(keys).sum() / n
    agg["active"] = per_prompt["gt"].groupby(keys).size() / n
    push = per_prompt.push.unstack("prompt").reindex(columns=prompts.index, fill_value=0.0).fillna(0.0)
    d = prompts.to_numpy() - prompts.mean()
    agg["shift"] = (push.to_numpy() - push.to_numpy().mean(1, keepdims=True)) @ d / (d @ d)
    return agg.sort_values("gt", key=abs, ascending=False).reset_index()


def ablate(fmodel, tcs, prompts: list[Prompt], keys: list[tuple[int, str, int]], digit_ids: list[int],
           freeze: bool = False) -> dict[str, float]:
    """Set the features ``keys`` ((layer, role, feature); role "other": every other position) to 0 wherever
    active in each prompt (``intervene``, attention left to respond unless ``freeze``); the decade metric and its
    start-year part before and after."""
    base, after, n_edits = [], [], 0
    names = [f"blocks.{layer}.ln2.hook_normalized" for layer in range(len(tcs))]
    for p in prompts:
        toks = tokens_of(fmodel, p)
        with torch.no_grad():
            logits, cache = fmodel.run_with_cache(toks[None], names_filter=lambda n: n in names)
        feats = [tc.encode(cache[n][0]) for tc, n in zip(tcs, names, strict=True)]
        fixed = {len(toks) + v for v in ROLES.values()}
        others = [q for q in range(len(toks)) if q not in fixed]
        edits = {}
        for layer, role, f in keys:
            where = [len(toks) + ROLES[role]] if role in ROLES else others
            edits |= {(layer, q, f): 0.0 for q in where if feats[layer][q, f] > 0}
        n_edits += len(edits)
        base.append(logits[0, -1].softmax(-1)[digit_ids])
        after.append(intervene(fmodel, tcs, toks, edits, freeze_attention=freeze)[-1].softmax(-1)[digit_ids])
    base_t, after_t = torch.stack(base), torch.stack(after)
    dec = torch.tensor([p.decade for p in prompts])
    return {"metric_before": float(decade_metric(base_t, dec).mean()),
            "metric_after": float(decade_metric(after_t, dec).mean()),
            "slope_before": decade_slope(base_t, dec), "slope_after": decade_slope(after_t, dec),
            "start_dependence_before": start_dependence(base_t, dec),
            "start_dependence_after": start_dependence(after_t, dec), "n_edits": n_edits / len(prompts)}


@torch.no_grad()
def mean_ablate(model, prompts: list[Prompt], hooks: list[str], digit_ids: list[int],
                roles: tuple[str, ...] = ("dec", "unit")) -> dict[str, float]:
    """Replace the model's activations at ``hooks`` at the start year's digits by their mean over the prompts
    (every start year): the start year can no longer pass through them. Decade metric and slope after."""
    def where(n_tok: int) -> list[int]:
        return [n_tok + ROLES[r] for r in roles]

    sums: dict[str, torch.Tensor] = {}
    for p in prompts:
        toks = tokens_of(model, p)
        _, cache = model.run_with_cache(toks[None], names_filter=lambda n: n in hooks)
        for h in hooks:
            sums[h] = sums.get(h, 0) + cache[h][0, where(len(toks))] / len(prompts)
    probs = []
    for p in prompts:
        toks = tokens_of(model, p)

        def patch(act: torch.Tensor, hook, n_tok: int = len(toks)) -> torch.Tensor:
            act[0, where(n_tok)] = sums[hook.name].to(act.dtype)
            return act

        with model.hooks(fwd_hooks=[(h, patch) for h in hooks]):
            probs.append(model(toks[None])[0, -1].softmax(-1)[digit_ids])
    probs_t, dec = torch.stack(probs), torch.tensor([p.decade for p in prompts])
    return {"metric_after": float(decade_metric(probs_t, dec).mean()), "slope_after": decade_slope(probs_t, dec)}


@torch.no_grad()
def attention_and_scales(model, prompts: list[Prompt]) -> tuple[torch.Tensor, float, float]:
    """Each layer's attention from the last position to the start year's decade digit per head [layer, head]
    (mean over prompts), and the mean LayerNorm scales of layer 1 (ln1 at the decade digit, ln2 at the last
    position)."""
    pattern, s1, s2 = [], [], []
    for p in prompts:
        _, cache = model.run_with_cache(tokens_of(model, p)[None])
        pattern.append(torch.stack([cache[f"blocks.{layer}.attn.hook_pattern"][0, :, -1, ROLES["dec"]]
                                    for layer in range(model.cfg.n_layers)]))
        s1.append(float(cache["blocks.1.ln1.hook_scale"][0, ROLES["dec"]]))
        s2.append(float(cache["blocks.1.ln2.hook_scale"][0, -1]))
    return torch.stack(pattern).mean(0), float(np.mean(s1)), float(np.mean(s2))


@torch.no_grad()
def digits_through_layer0(model, tc1, features: list[int], digit_ids: list[int], attention: torch.Tensor,
                          s2: float) -> torch.Tensor:
    """Weights only: what each digit's embedding (normalised by its own RMS, as the de-embeddings are) adds to
    layer-1 ``features`` at the last position through layer 0's heads, each weighted by its mean attention from
    the last position to the decade digit, over layer 1's mean ln2 scale there [10, n_features]."""
    x = model.W_E[digit_ids].float()
    x = x - x.mean(-1, keepdim=True)
    x = x / (x.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt() * model.blocks[0].ln1.w.float()
    moved = sum(a * (x @ model.W_V[0, h].float() @ model.W_O[0, h].float()) for h, a in enumerate(attention[0]))
    moved = moved - moved.mean(-1, keepdim=True)
    return moved @ tc1.W_enc[:, features].float() / s2


def feature_edges(fmodel, tcs, prompts: list[Prompt], sources: list[int], targets: list[int]) -> torch.Tensor:
    """The graphs' mean edge per unit of source activation from layer-0 ``sources`` at the decade digit to
    layer-1 ``targets`` at the last position [n_sources, n_targets] (NaN where never both active)."""
    total, count = torch.zeros(len(sources), len(targets)), torch.zeros(len(sources), len(targets))
    for p in prompts:
        toks = tokens_of(fmodel, p)
        g = attribution_graph(fmodel, tcs, toks, n_logits=1)
        n = g.nodes
        src = {int(r.feature): (j, r.value) for j, r in n[(n.kind == "feature") & (n.layer == 0)
                                                           & (n.pos == len(toks) + ROLES["dec"])].iterrows()}
        tgt = {int(r.feature): j for j, r in n[(n.kind == "feature") & (n.layer == 1)
                                                & (n.pos == len(toks) - 1)].iterrows()}
        for a, f in enumerate(sources):
            for b, t in enumerate(targets):
                if f in src and t in tgt:
                    total[a, b] += float(g.adjacency[tgt[t], src[f][0]]) / src[f][1]
                    count[a, b] += 1
    return total / count


def group_shifts(nodes: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per node group (kind, layer, role): the mean greater-than effect per prompt and the shift (how much the
    group's push towards high digits grows per start decade). The logits are the sum of all edges plus biases,
    so the groups' shifts add up to the logits' own."""
    nodes = nodes.assign(push=sum((d - 4.5) * nodes[f"e{d}"] for d in range(10)) / 82.5)
    per_prompt = nodes.groupby(["kind", "layer", "role", "prompt"])[["gt", "push"]].sum().unstack(
        ["kind", "layer", "role"]).fillna(0.0)
    decades = nodes.groupby("prompt").decade.first().to_numpy()
    d = decades - decades.mean()
    push = per_prompt["push"].to_numpy()
    shift = d @ (push - push.mean(0)) / (d @ d)
    gt = per_prompt["gt"].sum(axis=0) / len(decades)
    return {" ".join(map(str, k)): {"gt": round(float(g), 4), "shift": round(float(sh), 4)}
            for k, g, sh in zip(per_prompt["push"].columns, gt, shift, strict=True)}


def ablation_plan(prom: pd.DataFrame, key_prom: list, carriers: list, shifters: list, seed: int) -> list:
    """(name, keys, freeze attention) of every feature ablation: each key feature, the groups, random controls
    (a feature of the same layer and position active in > 20% of prompts), every feature at the start year."""
    rng = random.Random(seed)
    pool = prom[~prom.feature.isin([k[2] for k in key_prom]) & (prom.active > 0.2)]
    plan = [(F.label(k), [k], False) for k in key_prom + carriers + shifters]
    plan += [("all promoters", key_prom, False), ("all promoters, frozen attention", key_prom, True),
             ("all carriers", carriers, False), ("top 3 shifters", shifters, False)]
    for k in key_prom[:3]:
        choice = rng.choice(pool[(pool.layer == k[0]) & (pool.role == k[1])].feature.tolist())
        plan.append((f"control for {F.label(k)}: #{choice}", [(k[0], k[1], int(choice))], False))
    at_start = prom[prom.role.isin(["dec", "unit"])]
    plan.append(("every feature at the start year's digits",
                 [(int(r.layer), r.role, int(r.feature)) for r in at_start.itertuples()], False))
    return plan


def by_decade_of(track: pd.DataFrame, key: tuple) -> list[float]:
    return next(r.by_decade for r in track.itertuples() if (r.layer, r.role, r.feature) == key)


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    import interp

    out, fig_dir = Path(args.out_dir), Path(args.fig_dir)
    model = interp.load(args.run_dir, device="cpu")
    # Graphs and ablations run on a copy with every LayerNorm's weight and bias folded into the next weights
    # (TransformerLens' fold_ln): the same function (logits agree to 2e-5), and the transcoders read ln2's
    # normalised input, which the fold leaves as it is.
    fmodel = copy.deepcopy(model)
    fmodel.process_weights_(fold_ln=True, center_writing_weights=False, center_unembed=False)
    tcs = get_transcoders(model, args)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    digit_ids = [encode(model, str(d), prepend_bos=False)[0] for d in range(10)]
    prompts = make_prompts(args.per_year, args.year_step, args.seed)
    res: dict = {"settings": vars(args), "n_prompts": len(prompts), "scores": {}}

    # 1. scores of the model and the replacement model, per family
    for fam in FAMILIES:
        sub = [p for p in prompts if p.family == fam]
        res["scores"][fam] = {name: scores(model, sub, digit_ids, splice_hooks(model, chosen) if chosen else None)
                              for name, chosen in (("model", []), ("replacement", tcs), ("layer 0 replaced", tcs[:1]),
                                                   ("layer 1 replaced", tcs[1:]))}
    probs = next_token_logprobs(model, [encode(model, p.text) for p in prompts])[:, digit_ids].exp()
    yy = torch.tensor([p.yy for p in prompts])
    model_probs = torch.stack([probs[yy // 10 == d].mean(0) for d in range(10)])

    # 2. features whose activation tracks the start year
    acts = activations(model, tcs, prompts)
    track = tracking(acts, yy)
    track.to_csv(out / "tracking.csv", index=False)
    common = track[track.freq >= 0.05].sort_values("eta2", ascending=False)
    carriers = [(0, "dec", int(f)) for f in common[(common.role == "dec") & (common.layer == 0)].feature[: args.n_key]]
    trackers = [(int(r.layer), "last", int(r.feature))
                for r in common[(common.role == "last") & (common.layer == 1)].head(args.n_key).itertuples()]
    res["tracking"] = {role: common[common.role == role].head(12).to_dict("records") for role in ROLES}

    # 3. attribution graphs: direct greater-than effects and their dependence on the start year
    gprompts = [p for p in prompts if p.yy <= 89]
    nodes, ginfo = graph_nodes(fmodel, tcs, gprompts, digit_ids)
    first = ginfo.pop("first")
    res |= ginfo
    res["by_group"] = group_shifts(nodes)
    prom = promoters(nodes)
    prom.to_csv(out / "promoters.csv", index=False)
    res["promoters"] = prom.head(15).to_dict("records")
    by_shift = prom[prom.active >= 0.05].sort_values("shift", ascending=False)
    res["shifters"] = by_shift.head(8).to_dict("records")
    shifters = [(int(r.layer), r.role, int(r.feature)) for r in by_shift.head(3).itertuples()]
    key_prom = [(int(r.layer), r.role, int(r.feature)) for r in prom.head(args.n_key).itertuples()]

    # 4. ablations: features (intervene) and components (mean over start years at the start year's digits)
    res["ablations"] = {}
    for name, keys, freeze in ablation_plan(prom, key_prom, carriers, shifters, args.seed):
        res["ablations"][name] = ablate(fmodel, tcs, gprompts, keys, digit_ids, freeze)
        print(f"ablate {name}: {res['ablations'][name]}")
    res["component_ablations"] = {name: mean_ablate(model, gprompts, hooks, digit_ids) for name, hooks in (
        ("MLP 0 output", ["blocks.0.hook_mlp_out"]), ("layer-0 values", ["blocks.0.attn.hook_v"]),
        ("layer-1 values", ["blocks.1.attn.hook_v"]),
        ("values of both layers", ["blocks.0.attn.hook_v", "blocks.1.attn.hook_v"]),
        ("the residual stream (embeddings)", ["blocks.0.hook_resid_pre"]))}
    print(f"component ablations: {res['component_ablations']}")

    # 5. weights only: de-embeddings, digits through layer 0's heads, connections through layer 1's heads
    res["de_embeddings"] = {F.label(k): {side: de_embedding(model, tcs[0], k[2], k=8).query("side == @side")
                                         .token.tolist() for side in ("top", "bottom")} for k in carriers}
    deemb = de_embedding_scores(model, tcs[0], [k[2] for k in carriers])[digit_ids]  # [10, n]
    res["de_embedding_vs_activation_r"] = {F.label(k): float(np.corrcoef(deemb[:, i], by_decade_of(track, k))[0, 1])
                                           for i, k in enumerate(carriers)}
    attention, s1, s2 = attention_and_scales(model, gprompts)
    res["attention_last_to_decade"] = attention.round(decimals=4).tolist()
    via_l0 = digits_through_layer0(model, tcs[1], [k[2] for k in trackers], digit_ids, attention, s2)
    res["digits_through_layer0_r"] = {F.label(k): float(np.corrcoef(via_l0[:, i], by_decade_of(track, k))[0, 1])
                                      for i, k in enumerate(trackers)}
    targets = [k for k in key_prom if k[:2] == (1, "last")]
    per_head = torch.stack([connection_matrix(model, tcs[0], tcs[1], [k[2] for k in carriers], [k[2] for k in targets],
                                              via_head=(1, h)) for h in range(model.cfg.n_heads)])
    predicted = (attention[1][:, None, None] * per_head).sum(0) / (s1 * s2)
    measured = feature_edges(fmodel, tcs, [p for p in gprompts if p.family == "held-out"],
                             [k[2] for k in carriers], [k[2] for k in targets])
    ok = ~measured.isnan()
    res["connections"] = {"predicted": predicted.tolist(), "measured": measured.nan_to_num().tolist(),
                          "r": float(np.corrcoef(predicted[ok], measured[ok])[0, 1]) if ok.sum() > 2 else None,
                          "sources": [F.label(k) for k in carriers], "targets": [F.label(k) for k in targets]}

    # 6. the key features as the dashboards see them, on validation windows
    val = run_data(args.run_dir, "val").first_windows(64, model.cfg.n_ctx)
    keys = sorted(set(carriers + trackers + key_prom + shifters))
    res["dashboards"] = {}
    for layer in range(len(tcs)):
        chosen = sorted({k[2] for k in keys if k[0] == layer})
        table = feature_table(model, tcs[layer], val, features=chosen)
        res["dashboards"] |= {f"L{layer} #{f}": {"density": round(float(r.density), 4), "top_tokens": r.top_tokens,
                                                 "promotes": r.promotes} for f, r in table.iterrows()}

    # 7. figures and files
    words = [model.tokenizer.decode([int(t)]) for t in first[1]]
    write_graph_page(prune(first[2]), out / "graph.html", words, scores=graph_scores(first[2]),
                     title=f"Attribution graph: {first[0].text!r}")
    years = sorted(set(yy.tolist()))
    mean_acts = {role: np.array([[float(acts[yy == y, list(ROLES).index(role), layer, f].mean()) for y in years]
                                 for layer, _, f in keys]) for role, keys in (("dec", carriers), ("last", trackers))}
    feats = nodes.kind == "feature"
    effect_panels = [(F.label(k), feats & (nodes.layer == k[0]) & (nodes.role == k[1]) & (nodes.feature == k[2]))
                     for k in (key_prom[:2] + shifters[:1])] + [("every feature at the last position",
                                                                  feats & (nodes.role == "last"))]
    figs = {"model_decades": F.model_decades(model_probs),
            "carriers": F.activation_by_year([("at the start year's decade digit (layer 0)", carriers, mean_acts["dec"]),
                                              ("at the last position (layer 1)", trackers, mean_acts["last"])], years),
            "effects": F.effects_by_decade(nodes, effect_panels),
            "digit_weights": F.digit_weights(deemb, carriers, via_l0, trackers),
            "connections": F.connections(predicted, measured, carriers, targets),
            "graph": F.pruned_graph(first[2], [repr(w)[1:-1] for w in words], first[0].text)}
    res["figures"] = [str(F.save_figure(fig, fig_dir / f"{name}.png")) for name, fig in figs.items()]
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps({k: res[k] for k in ("scores", "graph_scores", "by_group", "de_embeddings", "shifters",
                                          "de_embedding_vs_activation_r", "digits_through_layer0_r")},
                     indent=1, default=str))
    print(prom.head(12).to_string())
    print(f"wrote {out / 'results.json'} and {len(figs)} figures in {fig_dir}")


if __name__ == "__main__":
    main()

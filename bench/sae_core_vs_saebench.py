"""Our SAE core metrics (saes/evaluate.py) against SAEBench's core eval (sae-bench 0.6.0), same model, SAEs, tokens.

    python bench/sae_core_vs_saebench.py                                  # tiny example run, 3 SAEs trained here
    python bench/sae_core_vs_saebench.py --run-dir RUN --sae-dir SAE_DIR --sae-dir ...

sae-bench runs in its own virtual environment (``bench/peers/setup_sae_bench.sh``; it pins numpy<2 and
datasets<4, which would downgrade the project's) through ``bench/peers/sae_bench_core_side.py``, on what this
script saves: the model (HookedTransformerConfig + state dict), each SAE in SAELens' format (saes/format.py) and
the tokens. Its docstring says which of sae-bench's functions are called and how.

Tokens: ``--n-seq`` rows of ``[BOS] + the first ctx-1 tokens of a validation document`` (documents long enough, no
BOS/EOS inside), so "position 0" (what evaluate_sae leaves out of l0 / fvu / cosine / density) and "tokens equal
to BOS/EOS/PAD" (what sae-bench's ignore_tokens leaves out) are the same positions.

Definitions (ours <- theirs; sae-bench = sae_bench.evals.core.main):
  l0            <- sparsity.l0: mean over non-BOS tokens of #(f != 0)                       (ours: f > 0)
  cosine        <- reconstruction_quality.cossim: mean over non-BOS tokens of cos(x, x_hat)
  fvu           <- 1 - explained_variance of sae_lens.evals (SAELens 6.54, sae-bench's dependency):
                   E||x - x_hat||^2 / (E||x||^2 - ||E x||^2), pooled over all non-BOS tokens; ours is the same
  (fvu)         vs 1 - explained_variance of sae-bench 0.6.0: E||x - x_hat||^2 / (E||x||^2 - m^2), m = mean over
                   batches and dims of E[x_d^2] -- the formula SAELens fixed in PR #665 (issue #659); not FVU, so
                   it is compared with that formula applied to OUR activations ("fvu [sae-bench formula]")
  ce_clean / ce_spliced / ce_zero
                <- ce_loss_without_sae / ce_loss_with_sae / ce_loss_with_ablation: TransformerLens per-token
                   next-token loss, mean over every prediction (BOS position included), the SAE (or zeros) in
                   place of the hook activation at every position
  ce_recovered  <- ce_loss_score = (ce_zero - ce_spliced) / (ce_zero - ce_clean)
  kl            <- kl_div_with_sae: KL(clean || spliced) of the next-token distribution, mean over every position
  dead / dense  <- feature_density (per-feature firing rate over non-BOS tokens): share == 0 / > 0.1
The "official" column is run_evals with ignore_tokens={pad, eos, bos}, as sae-bench's multiple_evals calls it: same
as above except that BOS positions are also left out of the CE and KL means (ours keeps them), so ce_* and kl
differ there by design.

The last line: ``max_abs_diff=... l0_diff=... fvu_diff=... fvu_saebench_diff=... ce_recovered_diff=... kl_diff=...``
(worst SAE; max_abs_diff over the rows with the same definition; fvu_saebench_diff is our fvu against sae-bench
0.6.0's 1 - explained_variance, different formula).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine  # noqa: E402

import interp  # noqa: E402
from interp.data.shards import TokenShards  # noqa: E402
from interp.io import atomic_save_safetensors, atomic_write_json  # noqa: E402
from interp.layout import DataLayout  # noqa: E402
from interp.models.tl import HookedTransformer  # noqa: E402
from saes.base import SAE  # noqa: E402
from saes.evaluate import evaluate_sae  # noqa: E402
from saes.format import load_sae, save_sae  # noqa: E402
from saes.hooked import _flat  # noqa: E402

PEER_PYTHON = Path(__file__).resolve().parent / ".venvs" / "sae-bench" / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "sae_bench_core_side.py"
HOOK = "blocks.1.hook_resid_pre"
DEFAULT_SAES = [  # one per SAELens inference class: topk, standard (ReLU), jumprelu (BatchTopK's threshold)
    {"name": "topk", "hook": HOOK, "architecture": "topk", "k": 8, "expansion": 4},
    {"name": "relu", "hook": HOOK, "architecture": "standard", "expansion": 4, "l1_coefficient": 1.0},
    {"name": "batchtopk", "hook": HOOK, "architecture": "batchtopk", "k": 8, "expansion": 4},
]


def doc_start_tokens(data_dir: Path, bos: int, n_seq: int, ctx: int) -> torch.Tensor:
    """``[n_seq, ctx]``: BOS + the first ctx-1 tokens of validation documents with no BOS among them."""
    val = TokenShards(DataLayout(data_dir).val)
    stream = torch.from_numpy(val.window(0, val.n_tokens).astype("int64"))
    starts = (stream == bos).nonzero().flatten() + 1
    rows = []
    for s in starts.tolist():
        body = stream[s : s + ctx - 1]
        if len(body) == ctx - 1 and not (body == bos).any():
            rows.append(torch.cat([torch.tensor([bos]), body]))
        if len(rows) == n_seq:
            break
    if len(rows) < n_seq:
        raise SystemExit(f"only {len(rows)} validation documents have >= {ctx - 1} tokens; lower --n-seq or --ctx")
    return torch.stack(rows)


def train_default_saes(run_dir: Path, model: HookedTransformer, out: Path) -> list[Path]:
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    cfg = SAETrainConfig(run_dir=str(run_dir), out_dir=str(out), n_tokens=65_536, batch_size=512, lr=2e-3,
                         progress=False, buffer_size=8192, ckpt_interval=10_000, log_interval=32, dead_tokens=20_000,
                         saes=DEFAULT_SAES)
    return [Path(p) for p in train_saes(cfg, model=model).sae_dirs.values()]


def save_inputs(model: HookedTransformer, saes: dict[str, SAE], tokens: torch.Tensor, meta: dict, folder: Path) -> None:
    """What the peer script reads (see its docstring)."""
    cfg = {k: v for k, v in model.cfg.to_dict().items() if isinstance(v, (str, int, float, bool, type(None)))}
    atomic_write_json(folder / "model" / "config.json", cfg)
    atomic_save_safetensors(folder / "model" / "model.safetensors",
                            {k: v.detach().float().contiguous() for k, v in model.state_dict().items()})
    for name, sae in saes.items():
        save_sae(sae, folder / "saes" / name)
    atomic_save_safetensors(folder / "tokens.safetensors", {"tokens": tokens.contiguous()})
    atomic_write_json(folder / "meta.json", meta)


def run_peer(folder: Path) -> dict:
    if not PEER_PYTHON.exists():
        raise SystemExit(f"sae-bench's venv is missing ({PEER_PYTHON}): run bench/peers/setup_sae_bench.sh first.")
    out = folder / "peer.json"
    subprocess.run([str(PEER_PYTHON), str(PEER_SCRIPT), "--inputs", str(folder), "--out", str(out),
                    "--threads", str(torch.get_num_threads())], check=True,
                   env={**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    return json.loads(out.read_text())


@torch.no_grad()
def saebench_fvu_formula(model: HookedTransformer, sae: SAE, tokens: torch.Tensor, batch_size: int) -> float:
    """1 - sae-bench 0.6.0's explained_variance, computed from OUR model and SAE (BOS position left out)."""
    mss, mad, rss = [], [], []
    for i in range(0, len(tokens) - batch_size + 1, batch_size):
        _, cache = model.run_with_cache(tokens[i : i + batch_size], names_filter=lambda n: n == sae.cfg.hook_name)
        x = _flat(cache[sae.cfg.hook_name])[:, 1:].float().flatten(0, 1)
        x_hat = sae.decode(sae.encode(x))
        mss.append(x.pow(2).sum(-1).mean(0))
        mad.append(x.pow(2).mean(0))
        rss.append((x - x_hat).pow(2).sum(-1).mean(0))
    total = torch.stack(mss).mean(0) - torch.cat(mad).mean(0) ** 2
    return float(torch.stack(rss).mean(0) / total)


def compare(ours: dict, peer: dict, fvu_saebench_ours: float) -> list[tuple[str, float, float, float | None, bool]]:
    """Rows (metric, ours, theirs, theirs in the official convention, same definition?)."""
    mine, off, sl = peer["ours_convention"], peer["official"]["metrics"], peer["sae_lens_evals"]
    dens = torch.tensor(mine["feature_density"])
    dens_off = torch.tensor(peer["official"]["feature_density"])
    rq, mp, mb = off["reconstruction_quality"], off["model_performance_preservation"], off["model_behavior_preservation"]
    return [
        ("l0", ours["l0"], mine["l0"], off["sparsity"]["l0"], True),
        ("cosine", ours["cosine"], mine["cossim"], rq["cossim"], True),
        ("fvu [vs sae_lens.evals EV]", ours["fvu"], 1 - sl["explained_variance"], None, True),
        ("fvu [vs sae-bench EV]", ours["fvu"], 1 - mine["explained_variance"], 1 - rq["explained_variance"], False),
        ("fvu [sae-bench formula]", fvu_saebench_ours, 1 - mine["explained_variance"], 1 - rq["explained_variance"],
         False),
        ("ce_clean", ours["ce_clean"], mine["ce_loss_without_sae"], mp["ce_loss_without_sae"], True),
        ("ce_spliced", ours["ce_spliced"], mine["ce_loss_with_sae"], mp["ce_loss_with_sae"], True),
        ("ce_zero", ours["ce_zero"], mine["ce_loss_with_ablation"], mp["ce_loss_with_ablation"], True),
        ("ce_recovered", ours["ce_recovered"], mine["ce_loss_score"], mp["ce_loss_score"], True),
        ("kl", ours["kl"], mine["kl_div_with_sae"], mb["kl_div_with_sae"], True),
        ("dead", ours["dead"], float((dens == 0).float().mean()), float((dens_off == 0).float().mean()), True),
        ("dense", ours["dense"], float((dens > 0.1).float().mean()), float((dens_off > 0.1).float().mean()), True),
        ("density [max over features]", 0.0, float((ours["density"] - dens).abs().max()),
         float((ours["density"] - dens_off).abs().max()), True),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, help="a workbench run (default: the tiny example run, built if missing)")
    p.add_argument("--data-dir", type=Path, help="its data directory (default: the run's train_config data_dir)")
    p.add_argument("--sae-dir", type=Path, action="append", help="an SAE directory (repeatable; default: train "
                   "topk, ReLU and BatchTopK SAEs on blocks.1.hook_resid_pre here)")
    p.add_argument("--n-seq", type=int, default=64)
    p.add_argument("--ctx", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--keep", type=Path, help="write the inputs and peer.json here instead of a temporary directory")
    args = p.parse_args()
    torch.manual_seed(0)
    print(f"machine: {machine()}")

    if args.run_dir is None:
        from interp.app.examples import example_run

        args.run_dir = example_run("tiny")
        args.data_dir = args.data_dir or args.run_dir.parent / "tiny-data"
    data_dir = args.data_dir or Path(json.loads((args.run_dir / "train_config.json").read_text())["data_dir"])
    model = interp.load(args.run_dir, device="cpu")
    tok = model.tokenizer
    bos = tok.bos_token_id
    special = sorted({t for t in (tok.pad_token_id, tok.eos_token_id, bos) if t is not None})
    tokens = doc_start_tokens(data_dir, bos, args.n_seq, min(args.ctx, model.cfg.n_ctx))
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        sae_dirs = args.sae_dir or train_default_saes(args.run_dir, model, Path(tmp) / "sae-run")
        saes = {d.name: load_sae(d).eval() for d in sae_dirs}
        save_inputs(model, saes, tokens, {"batch_size": args.batch_size, "bos": bos, "special_tokens": special},
                    folder)
        t0 = time.perf_counter()
        peer = run_peer(folder)
        peer_s = time.perf_counter() - t0
    print(f"model {args.run_dir}, tokens {tuple(tokens.shape)} (BOS + document start), batch {args.batch_size}, "
          f"special tokens {special}; peer: sae-bench {peer['versions']['sae-bench']}, sae-lens "
          f"{peer['versions']['sae-lens']}, transformer-lens {peer['versions']['transformer-lens']}, torch "
          f"{peer['versions']['torch']} ({peer_s:.1f} s incl. start-up)")

    worst = {k: 0.0 for k in ("max_abs_diff", "l0_diff", "fvu_diff", "fvu_saebench_diff", "ce_recovered_diff",
                              "kl_diff", "fvu_saebench_formula_diff")}
    key_of = {"l0": "l0_diff", "fvu [vs sae_lens.evals EV]": "fvu_diff", "fvu [vs sae-bench EV]": "fvu_saebench_diff",
              "ce_recovered": "ce_recovered_diff", "kl": "kl_diff", "fvu [sae-bench formula]": "fvu_saebench_formula_diff"}
    for name, sae in saes.items():
        ours = evaluate_sae(model, sae, tokens, batch_size=args.batch_size)
        mine = peer["saes"][name]
        rows = compare(ours, mine, saebench_fvu_formula(model, sae, tokens, args.batch_size))
        print(f"\n{name} ({sae.cfg.architecture} -> SAELens {mine['architecture']}, {sae.cfg.hook_name}, "
              f"d_sae={sae.cfg.d_sae}, {ours['n_tokens']} non-BOS tokens)")
        print(f"  {'metric':<30}{'ours':>12}{'sae-bench':>12}{'|diff|':>11}{'official':>12}  same definition")
        for metric, a, b, o, same in rows:
            diff = abs(a - b)
            if same:
                worst["max_abs_diff"] = max(worst["max_abs_diff"], diff)
            if metric in key_of:
                worst[key_of[metric]] = max(worst[key_of[metric]], diff)
            o_txt = f"{o:>12.6f}" if o is not None else f"{'-':>12}"
            print(f"  {metric:<30}{a:>12.6f}{b:>12.6f}{diff:>11.2e}{o_txt}  {'yes' if same else 'NO'}")
        only = mine["ours_convention"]
        print("  sae-bench only: " + ", ".join(f"{k}={only[k]:.6g}" for k in (
            "kl_div_score", "kl_div_with_ablation", "explained_variance_legacy", "mse", "l1", "l2_ratio",
            "relative_reconstruction_bias")))
    print(f"\nsame definition: {'agree within 1e-3' if worst['max_abs_diff'] < 1e-3 else 'DISAGREE beyond 1e-3'}")
    print(" ".join(f"{k}={v:.3g}" for k, v in worst.items()))


if __name__ == "__main__":
    main()

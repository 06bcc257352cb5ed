"""A cross-layer transcoder against per-layer transcoders at equal L0 (issue 21): TopK, k latents per layer and
token for both, the same width per layer, the same training tokens, trained from one pass each.

Measured: CE loss recovered with every MLP replaced (``(ce_zero - ce_spliced) / (ce_zero - ce_clean)``, MLPs
zero-ablated for ce_zero) on validation windows, and the attribution graphs' replacement and completeness scores
averaged over held-out IOI prompts.

Last line: ``ce_recovered_clt=... ce_recovered_plt=... replacement_clt=... replacement_plt=...
completeness_clt=... completeness_plt=... replacement_ratio=...``

    python bench/clt_vs_transcoders.py --run-dir runs/quickstart/model
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository first: bench/circuits.py is a script
from _common import machine  # noqa: E402


def _ce(logits: torch.Tensor, tokens: torch.Tensor) -> float:
    return float(F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--n-tokens", type=int, default=300_000)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--expansion", type=int, default=4)
    p.add_argument("--n-prompts", type=int, default=5)
    args = p.parse_args()
    torch.manual_seed(0)
    import tempfile

    import interp
    from circuits.attribution_graph import attribution_graph, graph_scores
    from interp.models.loading import run_data
    from interp.tasks.ioi import ioi_prompts
    from saes.clt import CLTConfig, run_with_clt
    from saes.clt_train import CLTTrainConfig, train_clt
    from saes.format import load_sae
    from saes.hooked import run_with_saes
    from saes.train import train_saes
    from saes.train_config import SAETrainConfig

    model = interp.load(args.run_dir, device="cpu")
    n_layers, d = model.cfg.n_layers, model.cfg.d_model
    work = Path(tempfile.mkdtemp(prefix="clt-vs-plt-"))
    specs = [{"name": f"tc{layer}", "hook": f"blocks.{layer}.ln2.hook_normalized",
              "hook_out": f"blocks.{layer}.hook_mlp_out", "architecture": "topk", "k": args.k,
              "expansion": args.expansion} for layer in range(n_layers)]
    result = train_saes(SAETrainConfig(run_dir=args.run_dir, out_dir=str(work / "tcs"), n_tokens=args.n_tokens,
                                       batch_size=1024, lr=2e-3, buffer_size=16384, progress=False, saes=specs),
                        model=model)
    plt = [load_sae(result.sae_dirs[f"tc{layer}"]) for layer in range(n_layers)]
    clt = train_clt(model, args.run_dir, CLTConfig(n_layers=n_layers, d_model=d, d_sae=args.expansion * d,
                                                   activation="topk", k=args.k),
                    CLTTrainConfig(n_tokens=args.n_tokens, batch_size=1024, lr=2e-3, progress=False)).clt
    tokens = run_data(args.run_dir, "val").first_windows(32, model.cfg.n_ctx)
    with torch.no_grad():
        clean = _ce(model(tokens), tokens)
        zero_hooks = [(f"blocks.{layer}.hook_mlp_out", lambda a, hook: torch.zeros_like(a)) for layer in range(n_layers)]
        with model.hooks(fwd_hooks=zero_hooks):
            zero = _ce(model(tokens), tokens)
        spliced = {"clt": _ce(run_with_clt(model, tokens, clt)[0], tokens),
                   "plt": _ce(run_with_saes(model, tokens, plt)[0], tokens)}
    recovered = {k: (zero - v) / (zero - clean) for k, v in spliced.items()}
    prompts = ioi_prompts(args.n_prompts, seed=1).prompts
    scores = {"clt": [], "plt": []}
    for text in prompts:
        toks = model.to_tokens(text)[0]
        for name, dicts in (("clt", clt), ("plt", plt)):
            scores[name].append(graph_scores(attribution_graph(model, dicts, toks, n_logits=3)))
    mean = {name: {k: sum(s[k] for s in v) / len(v) for k in v[0]} for name, v in scores.items()}
    print(f"CE clean {clean:.3f}, MLPs zeroed {zero:.3f}, CLT spliced {spliced['clt']:.3f}, per-layer {spliced['plt']:.3f}")
    print(f"machine: {machine()}")
    print(f"ce_recovered_clt={recovered['clt']:.3f} ce_recovered_plt={recovered['plt']:.3f} "
          f"replacement_clt={mean['clt']['replacement']:.3f} replacement_plt={mean['plt']['replacement']:.3f} "
          f"completeness_clt={mean['clt']['completeness']:.3f} completeness_plt={mean['plt']['completeness']:.3f} "
          f"replacement_ratio={mean['clt']['replacement'] / mean['plt']['replacement']:.3f}")


if __name__ == "__main__":
    main()

"""Run SAEBench's core-eval metric functions on a saved HookedTransformer, SAE and tokens; write the numbers as JSON.

Run with the peer venv (bench/peers/setup_sae_bench.sh), never with the project's:

    bench/.venvs/sae-bench/bin/python bench/peers/sae_bench_core_side.py --inputs DIR --out peer.json

DIR (written by bench/sae_core_vs_saebench.py):
    model/config.json        HookedTransformerConfig kwargs (JSON-serialisable fields of cfg.to_dict())
    model/model.safetensors  the HookedTransformer state dict
    saes/<name>/             each SAE in SAELens' format (cfg.json + sae_weights.safetensors, saes/format.py)
    tokens.safetensors       "tokens": int64 [n_seq, ctx], BOS first in every row
    meta.json                {"batch_size": int, "bos": int, "special_tokens": [pad, eos, bos ids]}

Nothing is downloaded: sae-bench's top level (``multiple_evals``) loads the model, the SAE and the dataset from the
Hugging Face hub (HookedTransformer.from_pretrained_no_processing, SAE.from_pretrained, ActivationsStore.from_sae
with dataset="Skylion007/openwebtext"), so this script calls the functions below it with local objects and a
stand-in for the ActivationsStore (sae-bench only calls ``get_batch_tokens(n)``, ``reset_input_dataset()`` and
reads ``context_size`` / ``store_batch_size_prompts``).

Per SAE, three peer readings (all on the same tokens, batches of meta.batch_size prompts, in order):
  "ours_convention": sae_bench.evals.core.main.get_sparsity_and_variance_metrics with ignore_tokens={bos}
      (BOS rows out of l0 / cossim / explained variance / density, as our evaluate_sae drops position 0) and
      get_downstream_reconstruction_metrics with ignore_tokens=set() (CE and KL over every position, the SAE spliced
      at every position, as ours does);
  "official": sae_bench.evals.core.main.run_evals with every metric on and ignore_tokens={pad, eos, bos}, the call
      multiple_evals makes (BOS also left out of the CE / KL averages; the SAE still replaces the BOS activation,
      exclude_special_tokens_from_reconstruction=False);
  "sae_lens_evals": sae_lens.evals.get_sparsity_and_variance_metrics (sae-bench's dependency, SAELens 6.54.x) with
      ignore_tokens=[bos]: its explained_variance uses the corrected formula (SAELens PR #665), which sae-bench 0.6.0
      does not have.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import warnings  # noqa: E402

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


class TokenStore:
    """The part of sae_lens' ActivationsStore that sae-bench's core metrics use: fixed tokens, served in order."""

    def __init__(self, tokens: torch.Tensor, batch_size: int) -> None:
        self.tokens, self.pos = tokens, 0
        self.context_size = tokens.shape[1]
        self.store_batch_size_prompts = batch_size

    def get_batch_tokens(self, batch_size: int | None = None) -> torch.Tensor:
        n = batch_size or self.store_batch_size_prompts
        if self.pos + n > len(self.tokens):
            raise ValueError(f"TokenStore: asked for rows {self.pos}..{self.pos + n} of {len(self.tokens)}")
        out = self.tokens[self.pos : self.pos + n]
        self.pos += n
        return out

    def reset_input_dataset(self) -> None:
        self.pos = 0


def load_model(model_dir: Path):
    warnings.filterwarnings("ignore", "HookedTransformer is deprecated", DeprecationWarning)
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    raw = json.loads((model_dir / "config.json").read_text())
    known = {f.name for f in fields(HookedTransformerConfig)}
    cfg = HookedTransformerConfig(**{k: v for k, v in raw.items() if k in known})
    model = HookedTransformer(cfg)
    missing, unexpected = model.load_state_dict(load_file(str(model_dir / "model.safetensors")), strict=False)
    params = {n for n, _ in model.named_parameters()}
    if set(missing) & params or unexpected:
        raise SystemExit(f"state dict does not fit: missing {sorted(set(missing) & params)}, unexpected {unexpected}")
    return model.eval()


def load_sae(sae_dir: Path):
    from sae_bench.sae_bench_utils import general_utils
    from sae_lens import SAE

    sae = SAE.load_from_disk(str(sae_dir), device="cpu")
    if getattr(sae.cfg.metadata, "model_name", None) is None:  # sae-bench's cfg standardiser insists on one
        sae.cfg.metadata.model_name = "interp-workbench"
    _, sae, _ = general_utils.load_and_format_sae("custom", sae, "cpu")  # what multiple_evals does to a custom SAE
    return sae.eval()


def _density(feature_metrics: dict) -> list[float]:
    return [float(v) for v in feature_metrics["feature_density"]]


def peer_metrics(model, sae, tokens: torch.Tensor, meta: dict) -> dict:
    from sae_bench.evals.core import main as core
    from sae_bench.evals.core.eval_config import CoreEvalConfig
    from sae_lens import evals as sl_evals
    from sae_lens.training.activation_scaler import ActivationScaler

    bs, bos = meta["batch_size"], meta["bos"]
    n_batches = len(tokens) // bs
    store = TokenStore(tokens[: n_batches * bs], bs)
    out: dict = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        store.reset_input_dataset()
        sv, feat = core.get_sparsity_and_variance_metrics(
            sae, model, store, n_batches=n_batches, compute_l2_norms=True, compute_sparsity_metrics=True,
            compute_variance_metrics=True, compute_featurewise_density_statistics=True, eval_batch_size_prompts=bs,
            model_kwargs={}, ignore_tokens={bos})
        store.reset_input_dataset()
        rc = core.get_downstream_reconstruction_metrics(
            sae, model, store, compute_kl=True, compute_ce_loss=True, n_batches=n_batches,
            eval_batch_size_prompts=bs, ignore_tokens=set())
        out["ours_convention"] = {**sv, **rc, "feature_density": _density(feat)}

        store.reset_input_dataset()
        cfg = CoreEvalConfig(batch_size_prompts=bs, n_eval_reconstruction_batches=n_batches,
                             n_eval_sparsity_variance_batches=n_batches, compute_kl=True, compute_ce_loss=True,
                             compute_l2_norms=True, compute_sparsity_metrics=True, compute_variance_metrics=True,
                             compute_featurewise_density_statistics=True,
                             compute_featurewise_weight_based_metrics=False)
        scalar, feat = core.run_evals(sae, store, model, eval_config=cfg, ignore_tokens=set(meta["special_tokens"]))
        out["official"] = {"metrics": scalar, "feature_density": _density(feat)}

        store.reset_input_dataset()
        sl, _ = sl_evals.get_sparsity_and_variance_metrics(
            sae, model, store, ActivationScaler(), n_batches=n_batches, compute_l2_norms=False,
            compute_sparsity_metrics=True, compute_variance_metrics=True, compute_featurewise_density_statistics=False,
            eval_batch_size_prompts=bs, model_kwargs={}, ignore_tokens=[bos])
        out["sae_lens_evals"] = sl
        out["seconds"] = time.perf_counter() - t0
    out["n_tokens_eval"] = int(n_batches * bs * tokens.shape[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    meta = json.loads((args.inputs / "meta.json").read_text())
    tokens = load_file(str(args.inputs / "tokens.safetensors"))["tokens"].long()
    model = load_model(args.inputs / "model")
    result = {"versions": {p: md.version(p) for p in ("sae-bench", "sae-lens", "transformer-lens", "torch")},
              "python": sys.version.split()[0], "saes": {}}
    for sae_dir in sorted(p for p in (args.inputs / "saes").iterdir() if p.is_dir()):
        sae = load_sae(sae_dir)
        result["saes"][sae_dir.name] = {"architecture": sae.cfg.architecture(), "hook_name": sae.cfg.metadata.hook_name,
                                        **peer_metrics(model, sae, tokens, meta)}
    args.out.write_text(json.dumps(result, indent=1))
    print(f"sae-bench {result['versions']['sae-bench']}: {len(result['saes'])} SAE(s) -> {args.out}")


if __name__ == "__main__":
    main()

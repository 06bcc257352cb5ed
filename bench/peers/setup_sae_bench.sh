#!/usr/bin/env bash
# Build an isolated venv for the peer library sae-bench 0.6.0 (SAEBench): bench/.venvs/sae-bench (git-ignored).
# It is NEVER a dependency of interp-workbench.
#
# Why its own venv: sae-bench 0.6.0 requires numpy<2 and datasets<4 (the project's venv has numpy 2.x,
# datasets 5.x, pandas 3.x, which needs numpy>=2); it also pulls sae-probes, xgboost, openai, wandb, ...
# Its pins do NOT conflict with the project's (transformer-lens 3.9.0 and sae-lens 6.54.12 resolve in both).
#
# torch: pinned to the project venv's exact version (2.13.0+cpu here), installed first and alone.
# torchvision: sae-bench lists it unpinned but never imports it. Unpinned, pip takes torchvision 0.29.x, which
# requires torch>=2.14 and so REPLACES the CPU torch with a CUDA torch 2.14.1 (+ ~3 GB of nvidia-* wheels). The
# torch-2.13 partner (0.28.0) from PyPI is a CUDA build whose C ops do not load against torch+cpu ("operator
# torchvision::nms does not exist"), and that error breaks `import transformers` model classes, hence
# transformer_lens and sae_bench. So: install torchvision==0.28.* to satisfy the resolver, then uninstall it.
# `pip check` then reports only "sae-bench 0.6.0 requires torchvision, which is not installed" (expected).
#
# Usage: bash bench/peers/setup_sae_bench.sh   [env: PROJECT_VENV=/path/to/.venv PYTHON=python3]
set -euo pipefail
source "$(dirname "$0")/peer_env.sh"
PEER="$ROOT/bench/.venvs/sae-bench"
TV_VER="${PEER_TORCHVISION:-0.28.*}"
echo "peer venv: $PEER  (torch==$TORCH_VER, sae-bench==0.6.0, torchvision==$TV_VER installed then removed)"

make_peer_venv "$PEER"
"$PEER/bin/python" -m pip install "torch==$TORCH_VER" "torchvision==$TV_VER" "sae-bench==0.6.0" safetensors
"$PEER/bin/python" -m pip uninstall -y torchvision
"$PEER/bin/python" -m pip check || true   # expected: sae-bench requires torchvision, which is not installed
cd "$PEER"   # not the repository root: its *.egg-info would show up in importlib.metadata
HF_HUB_OFFLINE=1 "$PEER/bin/python" - <<'PY'
import importlib.metadata as m
for p in ["sae-bench", "sae-lens", "transformer-lens", "torch", "transformers", "numpy", "datasets"]:
    print(f"{p}=={m.version(p)}")
import torch
assert "+cpu" in torch.__version__ or not torch.version.cuda, f"a CUDA torch got in: {torch.__version__}"
import sae_bench.evals.core.main, sae_lens.evals  # noqa: F401
print("sae-bench peer venv OK")
PY

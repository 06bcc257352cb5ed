#!/usr/bin/env bash
# Build an isolated venv for the peer library circuit-tracer 0.5.0: bench/.venvs/circuit-tracer (git-ignored).
# It is NEVER a dependency of interp-workbench.
#
# Why its own venv: circuit-tracer 0.5.0 requires transformers>=4.56,<=4.57.3 (the project has transformers 5.x and
# transformer-lens 3.9.0); pip's resolver then settles on transformer-lens 3.2.1 (the newer 3.x need transformers
# 5), and it pulls nnsight, huggingface-hub<1, wandb, datasets, ... Those three are pinned here to what the resolver
# chose, so the install does not backtrack through every transformer-lens release.
#
# torch: pinned to the project venv's exact version (2.13.0+cpu here), installed first and alone, so the resolver
# only sees the CPU build. circuit-tracer asks for torch>=2.0 and nothing pulls another torch or torchvision: the
# check below fails if a CUDA torch got in. (Some transformer-lens releases list torchvision<0.23, which would
# replace torch; 3.2.1, the one resolved, does not.)
#
# Usage: bash bench/peers/setup_circuit_tracer.sh   [env: PROJECT_VENV=/path/to/.venv PYTHON=python3 PEER=dir]
set -euo pipefail
source "$(dirname "$0")/peer_env.sh"
PEER="${PEER:-$ROOT/bench/.venvs/circuit-tracer}"
echo "peer venv: $PEER  (torch==$TORCH_VER, circuit-tracer==0.5.0, transformer-lens==3.2.1, transformers==4.57.3)"

make_peer_venv "$PEER"
"$PEER/bin/python" -m pip install "torch==$TORCH_VER" "circuit-tracer==0.5.0" "transformer-lens==3.2.1" \
    "transformers==4.57.3" safetensors
"$PEER/bin/python" -m pip check
cd "$PEER"   # not the repository root: its *.egg-info would show up in importlib.metadata
HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 "$PEER/bin/python" - <<'PY'
import importlib.metadata as m
for p in ["circuit-tracer", "transformer-lens", "transformers", "torch", "nnsight", "numpy", "safetensors"]:
    print(f"{p}=={m.version(p)}")
import torch
assert "+cpu" in torch.__version__ or not torch.version.cuda, f"a CUDA torch got in: {torch.__version__}"
try:
    m.version("torchvision")
    raise SystemExit("torchvision got in: it would need a matching torch; uninstall it")
except m.PackageNotFoundError:
    pass
from circuit_tracer import ReplacementModel, attribute  # noqa: F401
from circuit_tracer.transcoder import load_transcoder_set  # noqa: F401
from circuit_tracer.transcoder.cross_layer_transcoder import load_clt  # noqa: F401
print("circuit-tracer peer venv OK")
PY

#!/usr/bin/env bash
# Build an isolated venv for the peer library auto-circuit 1.0.1 (pulls jax, dm-haiku, tracr-pypi).
# It is NEVER a dependency of interp-workbench: it lives in bench/.venvs/auto-circuit (git-ignored).
#
# torch is pinned to the exact version of the project's venv (e.g. 2.13.0+cpu) so that pip does
# not pull a multi-GB CUDA build.
# transformer-lens is pinned to 2.18.0 (the last 2.x), NOT the project's 3.x: auto-circuit 1.0.1
# imports transformer_lens.past_key_value_caching, which TransformerLens 3.x removed. TL 2.18 needs
# numpy<2, and pyarrow (pulled by datasets) >= 19 refuses numpy 1.x, hence "numpy<2" "pyarrow<19".
# The HookedTransformer forward math is the same in 2.18 and 3.9 (the self-test checks the graph
# and the EAP scores against the project's own implementation).
#
# Usage: bash bench/peers/setup_auto_circuit.sh   [env: PROJECT_VENV=/path/to/.venv PYTHON=python3]
set -euo pipefail
source "$(dirname "$0")/peer_env.sh"
PEER="$ROOT/bench/.venvs/auto-circuit"
TL_VER="${PEER_TL_VERSION:-2.18.0}"
echo "peer venv: $PEER  (torch==$TORCH_VER, transformer-lens==$TL_VER, auto-circuit==1.0.1)"

make_peer_venv "$PEER"
"$PEER/bin/python" -m pip install "torch==$TORCH_VER" "transformer-lens==$TL_VER" "auto-circuit==1.0.1" \
    "numpy<2" "pyarrow<19" safetensors
"$PEER/bin/python" -m pip check
"$PEER/bin/python" - <<'PY'
import importlib.metadata as m
for p in ["auto-circuit", "torch", "transformer-lens", "tracr-pypi", "jax", "dm-haiku", "numpy"]:
    print(f"{p}=={m.version(p)}")
import auto_circuit.utils.patchable_model, auto_circuit.prune_algos.ACDC  # noqa: F401
import tracr.compiler.compiling  # noqa: F401
print("auto-circuit peer venv OK")
PY

#!/usr/bin/env bash
# Self-test of bench/peers/auto_circuit_side.py: a random 2-layer, 4-head model (d_model 32, d_mlp 64,
# d_vocab 50, n_ctx 16, LN) and random aligned pairs are built with the project venv, auto-circuit runs on them in
# the peer venv, and the project venv checks the edge names equal Graph.from_model(model).edges and that the EAP
# scores correlate with attribute(..., method="eap"). Needs bench/peers/setup_auto_circuit.sh to have run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OURS="${PROJECT_PYTHON:-$ROOT/.venv/bin/python}"
PEER="$ROOT/bench/.venvs/auto-circuit/bin/python"
[ -x "$PEER" ] || { echo "no peer venv: run bench/peers/setup_auto_circuit.sh first" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
"$OURS" bench/peers/check_auto_circuit_side.py make "$WORK"
"$PEER" bench/peers/auto_circuit_side.py --model "$WORK" --pairs "$WORK/pairs.safetensors" \
    --out "$WORK/peer.json" --acdc-threshold "${ACDC_THRESHOLD:-0.01}" --repeats "${REPEATS:-2}" 2>"$WORK/peer.err" \
    || { cat "$WORK/peer.err" >&2; exit 1; }
"$OURS" bench/peers/check_auto_circuit_side.py compare "$WORK"

#!/usr/bin/env bash
# The prepared GPU check (issue 16), for the device tool's `run` on a lent GPU (one call, <= 10 minutes):
#
#   run(command="bash bench/gpu.sh", carry=[".whl"], timeout_s=600)
#
# The device image has torch (CUDA), transformers, tokenizers, safetensors, pandas and tqdm but not the rest of
# our dependencies: `bash bench/gpu_wheels.sh` here downloads those into .whl/ (ignored by git, carried by the
# call; among them eai-sparsify and its natsort, schedulefree, simple-parsing and datasets, for bench/sae_train.py).
# Results: $OUT/gpu_results.json and one log per stage (bench/gpu_check.py says what each stage measures). The whole
# check keeps to 570 s (gpu_check.py --budget); arguments pass through, e.g. a call that runs only the SAE stages
# (on the quickstart model a previous call left in /tmp/gpu-check if the machine is still warm, else the tiny one):
#
#   run(command="bash bench/gpu.sh --stages sae_train,sae_scaling,sae_dist --budget 300", carry=[".whl"], timeout_s=330)
set -u
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "error: installing the carried wheels failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec python3 bench/gpu_check.py "$@"

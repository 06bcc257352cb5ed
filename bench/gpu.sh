#!/usr/bin/env bash
# The prepared GPU check (issue 16), for the device tool's `run` on a lent GPU (one call, <= 10 minutes):
#
#   run(command="bash bench/gpu.sh", carry=[".whl"], timeout_s=600)
#
# The device image has torch (CUDA), transformers, tokenizers, safetensors, pandas and tqdm but not the rest of
# our dependencies: `bash bench/gpu_wheels.sh` here downloads those into .whl/ (ignored by git, carried by the
# call). Results: $OUT/gpu_results.json and one log per stage (bench/gpu_check.py says what each stage measures).
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

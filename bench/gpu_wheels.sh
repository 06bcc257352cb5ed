#!/usr/bin/env bash
# Download, into .whl/, the wheels of our dependencies that the device machine's image lacks (bench/gpu.sh installs
# them there). The image's packages are listed in /work/.library/device/KINDS.md; torch and the other big ones
# are already there and are not downloaded. Python 3.12, x86-64 manylinux wheels.
set -eu
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
PLAT=(--python-version 3.12 --implementation cp --only-binary=:all: --platform manylinux_2_28_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
# Dependencies published only as source: built into wheels here (pure Python), then found by the download below.
python3 -m pip wheel -q --no-deps -w .whl "transformers-stream-generator>=0.0.5,<0.1"
# Ours, minus what the image has (torch, transformers, tokenizers, tiktoken, safetensors, numpy, pandas, tqdm,
# jaxtyping), with their own dependencies resolved by pip against the same platform.
# eai-sparsify: the peer of bench/sae_train.py (--only sparsify); its natsort, schedulefree, simple-parsing and
# datasets are not on the image.
python3 -m pip download -q -d .whl --find-links .whl "${PLAT[@]}" "transformer-lens>=3.9,<3.10" "sae-lens>=6.54,<6.55" \
  "plotly>=5.18" "eai-sparsify==1.3.3"
# Drop what the image already has (its package list in the device tool's KINDS.md, when this machine has it), so
# that its CUDA builds are the ones used and the carried folder stays under the 64 MiB a call may carry.
KINDS=/work/.library/device/KINDS.md
python3 - "$KINDS" <<'PY'
import re, sys
from pathlib import Path
have = {"torch", "triton", "numpy", "pandas", "transformers", "tokenizers", "safetensors", "tqdm", "jaxtyping",
        "huggingface-hub", "scipy", "pyarrow"}
kinds = Path(sys.argv[1])
if kinds.exists():
    m = re.search(r"Packages: (.*?)\.\s*$", kinds.read_text(), re.M)
    have |= {x.strip().lower() for x in m.group(1).split(",")} if m else set()
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
have = {norm(h) for h in have}
for whl in Path(".whl").glob("*.whl"):
    if norm(whl.name.split("-")[0]) in have or whl.name.startswith("nvidia_"):
        whl.unlink()
PY
for need in eai_sparsify natsort schedulefree simple_parsing datasets; do
  compgen -G ".whl/${need}-*.whl" > /dev/null || { echo "error: no ${need} wheel in .whl/"; exit 1; }
done
du -sh .whl

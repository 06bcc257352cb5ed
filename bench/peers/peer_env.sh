# Sourced by the setup_*.sh scripts of peer venvs: the repository root, the project's venv, the Python to build the
# peer venv with, and the torch version to pin there (the project's, so pip takes the local CPU wheel).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROJECT_VENV="${PROJECT_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VER="$("$PROJECT_VENV/bin/python" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null \
    || echo 2.13.0)"
TORCH_VER="${TORCH_VER%%+*}"   # 2.13.0+cpu -> 2.13.0 (the local wheel is found by pip's find-links)

# make_peer_venv DIR: the venv at DIR (made if missing) with the project's torch installed first and alone, so the
# resolver can only see the CPU build when the peer's own requirements come next.
make_peer_venv() {
    if [ ! -x "$1/bin/python" ]; then
        "$PYTHON" -m venv "$1"
    fi
    "$1/bin/python" -m pip install "torch==$TORCH_VER"
}

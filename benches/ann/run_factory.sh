#!/usr/bin/env bash
# Runs factory_peers.py (FAISS index_factory strings beside
# `unidb vector bench --factory`) in a Python virtual environment with
# faiss-cpu from PyPI, created on first use outside the repository (set
# UNIDB_ANN_VENV to choose where). Arguments go to factory_peers.py, e.g.
#   benches/ann/run_factory.sh --unidb target/release/unidb
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${UNIDB_ANN_VENV:-${TMPDIR:-/tmp}/unidb-ann-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import faiss, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "faiss-cpu==1.15.1" "numpy>=1.24"
fi
export OMP_NUM_THREADS=1
cd "$here"
exec "$venv/bin/python" "$here/factory_peers.py" "$@"

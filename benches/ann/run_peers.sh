#!/usr/bin/env bash
# Runs peers.py in a Python virtual environment with hnswlib and faiss-cpu
# from PyPI, created on first use outside the repository (set
# UNIDB_ANN_VENV to choose where). Arguments go to peers.py, e.g.
#   benches/ann/run_peers.sh --base B.fvecs --query Q.fvecs --gt G.ivecs
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${UNIDB_ANN_VENV:-${TMPDIR:-/tmp}/unidb-ann-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import hnswlib, faiss, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    # hnswlib ships a source package: building it needs a C++ compiler.
    "$venv/bin/pip" install --quiet "hnswlib==0.8.0" "faiss-cpu==1.15.1" "numpy>=1.24"
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$venv/bin/python" "$here/peers.py" "$@"

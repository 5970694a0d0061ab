#!/usr/bin/env bash
# Opt-in: the Ray Data recipe's test on a local Ray (ray.init(num_cpus=2)).
# Ray's wheel is large (about 100 s to install here), so CI leaves it out;
# run this after `maturin develop --release` in the package's environment:
#   python/examples/test-ray.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python -c "import ray" 2>/dev/null || python -m pip install --quiet "ray[data]==2.60.0"
exec python -m pytest -q "$here/../tests/test_ray_example.py"

#!/usr/bin/env bash
# Opt-in: the Spark mapInPandas recipe's test on a local Spark (local[2]);
# needs a Java 17 runtime (Debian's openjdk-17-jre-headless). PySpark's
# package is large, so CI leaves it out; run this after
# `maturin develop --release` in the package's environment:
#   python/examples/test-spark.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python -c "import pyspark" 2>/dev/null || python -m pip install --quiet "pyspark==4.1.0"
exec python -m pytest -q "$here/../tests/test_spark_example.py"

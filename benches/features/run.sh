#!/bin/sh
# The feature-store join side by side with pandas, on the same data, in one
# run: unidb generates the seeded data, joins it (timed), writes the data
# and its output as .npy; pandas joins the same data with merge_asof
# (timed) and checks every value against unidb's. Prints both reports and
# the ratio.
#
#   benches/features/run.sh [unidb binary] [extra `features bench` flags]
#
# Needs Python 3 with numpy and pandas (a venv: `python3 -m venv venv &&
# venv/bin/pip install numpy pandas`; set PYTHON to its python).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
unidb=${1:-"$here/../../target/release/unidb"}
[ $# -gt 0 ] && shift
python=${PYTHON:-python3}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
ours=$("$unidb" --json features bench --write-npy "$data" "$@")
theirs=$("$python" "$here/pandas_join.py" "$data")
echo "$ours"
echo "$theirs"
"$python" - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"join wall: unidb {ours['join_s']:.3f} s, pandas {theirs['join_s']:.3f} s: "
      f"{theirs['join_s'] / ours['join_s']:.1f}x")
if ours.get("join_cpu_s"):
    print(f"join CPU: unidb {ours['join_cpu_s']:.3f} s, pandas {theirs['join_cpu_s']:.3f} s: "
          f"{theirs['join_cpu_s'] / ours['join_cpu_s']:.1f}x")
print(f"online p50 {ours['online_p50_us']:.0f} us, p99 {ours['online_p99_us']:.0f} us; "
      f"values compared {theirs['values_compared']}, mismatches {theirs['mismatches']}")
PY

"""Aggregation of an experiment's event log into per-variant sufficient
statistics: unidb (`unidb experiment bench`, every core) against numpy's
grouped sums (`np.bincount` with weights), in the same run.

Both sides aggregate the same shape of data: N events, a variant drawn
uniformly from K, a value, and with --pre a pre-period value; each side
generates its own seeded events first and times only the aggregation
(best of --repeat runs). numpy computes n, Σx, Σx² (and Σy, Σy², Σxy)
per variant; unidb computes the same moments in centred form.

    python -m venv venv && venv/bin/pip install numpy
    (cd .. && cargo build --release)
    venv/bin/python experiments/aggregate_vs_numpy.py --events 100000000 --pre

Run from `benches/`; --unidb points at the binary (default
../target/release/unidb).
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np


def numpy_aggregate(variant, x, y, k):
    n = np.bincount(variant, minlength=k)
    sx = np.bincount(variant, weights=x, minlength=k)
    sxx = np.bincount(variant, weights=x * x, minlength=k)
    out = [n, sx, sxx]
    if y is not None:
        out += [
            np.bincount(variant, weights=y, minlength=k),
            np.bincount(variant, weights=y * y, minlength=k),
            np.bincount(variant, weights=x * y, minlength=k),
        ]
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--pre", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--unidb", default=os.path.join(here, "..", "..", "target", "release", "unidb"))
    a = ap.parse_args()

    rng = np.random.default_rng(42)
    variant = rng.integers(0, a.variants, a.events, dtype=np.int64)
    base = 10.0 + 3.0 * rng.random(a.events)
    x = base + 0.1 * variant + rng.random(a.events)
    y = base if a.pre else None
    best = float("inf")
    for _ in range(a.repeat):
        t = time.perf_counter()
        res = numpy_aggregate(variant, x, y, a.variants)
        best = min(best, time.perf_counter() - t)
    assert int(res[0].sum()) == a.events
    numpy_rate = a.events / best
    del variant, base, x, y, res

    cmd = [a.unidb, "--json", "experiment", "bench", f"--events={a.events}",
           f"--variants={a.variants}", f"--repeat={a.repeat}"] + (["--pre"] if a.pre else [])
    unidb = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    assert unidb["counted"] == a.events

    print(json.dumps({
        "events": a.events,
        "variants": a.variants,
        "pre": a.pre,
        "numpy_version": np.__version__,
        "numpy_events_per_s": numpy_rate,
        "unidb_events_per_s": unidb["events_per_s"],
        "unidb_threads": unidb["threads"],
        "ratio": unidb["events_per_s"] / numpy_rate,
    }))


if __name__ == "__main__":
    main()

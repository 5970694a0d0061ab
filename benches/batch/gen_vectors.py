"""Writes SIFT-like vectors as .fvecs, in chunks (constant memory): integer
values in [0, 255] around seeded cluster centres, as SIFT descriptors are.

    python gen_vectors.py --rows 1000000 --dim 128 --seed 2 --out q.fvecs
    python gen_vectors.py --bytes 2GiB --dim 128 --seed 1 --out base.fvecs

The same --seed and --clusters give the same centres, so a query file
generated with another --row-seed comes from the same distribution as
the base file.
"""

import argparse

import numpy as np

UNITS = {"": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


def parse_bytes(text):
    t = text.strip().lower()
    digits = len(t) - len(t.lstrip("0123456789"))
    return int(t[:digits]) * UNITS[t[digits:].strip()]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int)
    p.add_argument("--bytes", help="file size instead of --rows (e.g. 2GiB)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--clusters", type=int, default=256)
    p.add_argument("--seed", type=int, default=1, help="cluster centres")
    p.add_argument("--row-seed", type=int, default=None, help="rows (default --seed)")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    record = 4 + 4 * a.dim
    rows = a.rows if a.rows is not None else parse_bytes(a.bytes) // record
    centres = np.random.default_rng(a.seed).uniform(0, 120, (a.clusters, a.dim))
    rng = np.random.default_rng(a.seed if a.row_seed is None else a.row_seed)
    header = np.full((1,), a.dim, dtype="<i4").view("<f4")
    with open(a.out, "wb") as f:
        for start in range(0, rows, 65536):
            n = min(65536, rows - start)
            c = centres[rng.integers(0, a.clusters, n)]
            x = np.clip(np.rint(c + rng.normal(0, 18, (n, a.dim))), 0, 255).astype("<f4")
            f.write(np.hstack([np.repeat(header[None, :], n, 0), x]).tobytes())
    print(f"{a.out}: {rows} rows of dim {a.dim}, {rows * record} bytes")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""FAISS index_factory strings side by side with `unidb vector bench --factory`.

For each case (a factory string and FAISS ParameterSpace search
parameters), FAISS (faiss-cpu, one thread) trains, adds and searches one
query per call (best of three passes), then the unidb binary runs the
same string with the same parameters (`--nprobe`, `--ef`, `--k-factor`)
on the same files, in the same run. One JSON object per line per side:

    {"side": "faiss", "factory": "IVF64,PQ16x8,RFlat",
     "params": "nprobe=16,k_factor_rf=16", "recall_at_10": 0.88,
     "qps": 14000.0, "train_s": 0.5, "add_s": 0.1, "bytes_per_vector": 16}

and a summary line per case with unidb/FAISS ratios. Bytes per vector
count the encoding held in the index (codes), not the originals RFlat
keeps for re-scoring. train_s is FAISS's `train` (coarse k-means and
quantizer); unidb's train_s is its quantizer training and its build_s
holds IVF's coarse k-means, so compare train_s + build_s with train_s +
add_s.

Data: sift5k (.fvecs/.ivecs) from --data, else $UNIDB_SIFT_DIR, else
../shared/data next to the repository. Run through run_factory.sh, which
installs faiss-cpu in a virtual environment outside the repository.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from peers import read_vecs, recall_at

CASES = [
    ("IVF64,PQ16x8,RFlat", "nprobe=16,k_factor_rf=16"),
    ("IVF64,PQ16x4fs,RFlat", "nprobe=16,k_factor_rf=8"),
    ("HNSW16,SQ8", "efSearch=160"),
    ("HNSW16,Flat", "efSearch=160"),
    ("IVF64,SQ8", "nprobe=16"),
    ("IVF64,PQ16x4fs,RFlat", "nprobe=64,k_factor_rf=32"),
    ("IVF64,SQ4", "nprobe=16"),
    ("HNSW16,SQ4", "efSearch=160"),
    ("IVF64,SQ4,RFlat", "nprobe=16,k_factor_rf=4"),
]


def code_bytes(index):
    """Bytes per vector of the innermost encoding (not RFlat's originals)."""
    import faiss
    idx = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexRefine):
        return code_bytes(idx.base_index)
    if isinstance(idx, faiss.IndexPreTransform):
        return code_bytes(idx.index)
    if isinstance(idx, faiss.IndexHNSW):
        return code_bytes(idx.storage)
    if hasattr(idx, "code_size"):
        return int(idx.code_size)
    return int(idx.sa_code_size())


def run_faiss(base, query, gt, factory, params, k):
    import faiss
    faiss.omp_set_num_threads(1)
    index = faiss.index_factory(base.shape[1], factory)
    t = time.perf_counter()
    index.train(base)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    index.add(base)
    add_s = time.perf_counter() - t
    if params:
        faiss.ParameterSpace().set_index_parameters(index, params)
    best, found = 0.0, None
    for _ in range(3):
        out = []
        t = time.perf_counter()
        for i in range(len(query)):
            out.append(index.search(query[i:i + 1], k)[1][0])
        best = max(best, len(query) / (time.perf_counter() - t))
        found = out
    return {"side": "faiss", "factory": factory, "params": params,
            "recall_at_10": round(recall_at(found, gt, k), 4), "qps": round(best, 1),
            "train_s": round(train_s, 4), "add_s": round(add_s, 4),
            "bytes_per_vector": code_bytes(index)}


def run_unidb(binary, files, factory, params, k):
    args = [binary, "--json", "vector", "bench", "--base", files[0], "--query", files[1],
            "--gt", files[2], "--factory", factory, "--k", str(k), "--threads", "1"]
    for item in filter(None, params.split(",")):
        name, value = item.split("=")
        flag = {"nprobe": "--nprobe", "efSearch": "--ef", "k_factor_rf": "--k-factor"}[name]
        args += [flag, value]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return {"side": "unidb", "factory": row["factory"], "params": params,
            "recall_at_10": round(row["recall_at_10"], 4), "qps": round(row["qps"], 1),
            "train_s": round(row["train_s"], 4), "build_s": round(row["build_s"], 4),
            "bytes_per_vector": row["bytes_per_vector"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--unidb", required=True, help="the unidb binary (a release build)")
    p.add_argument("--data", help="directory holding sift5k_{base,query}.fvecs and "
                   "sift5k_groundtruth.ivecs")
    p.add_argument("--case", action="append", default=[],
                   help="FACTORY|PARAMS, e.g. 'IVF64,PQ16x8,RFlat|nprobe=16,k_factor_rf=16' "
                        "(repeatable; default: the built-in list)")
    p.add_argument("--k", type=int, default=10)
    a = p.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    data = a.data or os.environ.get("UNIDB_SIFT_DIR") or os.path.join(
        here, "..", "..", "..", "shared", "data")
    files = [os.path.join(data, f) for f in
             ("sift5k_base.fvecs", "sift5k_query.fvecs", "sift5k_groundtruth.ivecs")]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        sys.exit(f"missing data files: {', '.join(missing)}")
    base = read_vecs(files[0], np.float32)
    query = read_vecs(files[1], np.float32)
    gt = read_vecs(files[2], np.int32)
    cases = [tuple(c.split("|", 1)) if "|" in c else (c, "") for c in a.case] or CASES
    for factory, params in cases:
        f = run_faiss(base, query, gt, factory, params, a.k)
        print(json.dumps(f), flush=True)
        u = run_unidb(a.unidb, files, factory, params, a.k)
        print(json.dumps(u), flush=True)
        print(json.dumps({"summary": factory, "params": params,
                          "recall_diff": round(u["recall_at_10"] - f["recall_at_10"], 4),
                          "qps_ratio": round(u["qps"] / f["qps"], 2),
                          "train_ratio": round((u["train_s"] + u["build_s"])
                                               / max(f["train_s"] + f["add_s"], 1e-9), 2),
                          "bytes": [u["bytes_per_vector"], f["bytes_per_vector"]]}), flush=True)


if __name__ == "__main__":
    main()

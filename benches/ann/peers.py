#!/usr/bin/env python3
"""ANN peers for `unidb vector bench`: hnswlib and FAISS (HNSW and exact flat).

Builds each index on the same base vectors with the same parameters as
`unidb vector bench` (single thread, M=16, ef_construction=200 by default),
searches one query per call for each ef, and prints one JSON object per
line in the same shape:

    {"index": "hnswlib", "ef": 80, "recall_at_10": 0.92, "qps": 12000.0,
     "build_s": 0.7, "threads": 1}

Inputs are .fvecs/.ivecs files (as in the SIFT corpora) or .npy arrays.
Without --base, a seeded clustered data set is generated and its ground
truth computed by brute force.

Run through run_peers.sh, which installs the Python packages in a virtual
environment outside the repository.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def read_vecs(path, dtype):
    """Reads .fvecs (float32) / .ivecs (int32) files, or a 2-D .npy array."""
    if path.endswith(".npy"):
        arr = np.load(path)
        if arr.ndim != 2:
            sys.exit(f"{path}: expected a 2-D array, got shape {arr.shape}")
        return np.ascontiguousarray(arr.astype(dtype, copy=False))
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        sys.exit(f"{path}: empty file")
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1) != 0:
        sys.exit(f"{path}: not a vecs file (dimension {dim}, {raw.size} words)")
    rows = raw.reshape(-1, dim + 1)
    if not np.all(rows[:, 0] == dim):
        sys.exit(f"{path}: rows of different dimensions")
    return np.ascontiguousarray(rows[:, 1:].view(dtype))


def synthetic(n, nq, dim, k, metric, seed=42):
    """Clustered data (Gaussian blobs) with brute-force ground truth."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 1.0, size=(64, dim)).astype(np.float32)
    def draw(m):
        return (centers[rng.integers(0, len(centers), m)]
                + rng.normal(0.0, 0.35, size=(m, dim))).astype(np.float32)
    base, query = draw(n), draw(nq)
    gt = brute_force(base, query, k, metric)
    return base, query, gt


def brute_force(base, query, k, metric):
    if metric == "l2":
        d = (query ** 2).sum(1)[:, None] - 2.0 * query @ base.T + (base ** 2).sum(1)[None, :]
    elif metric == "ip":
        d = -(query @ base.T)
    else:
        bn = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        qn = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-30)
        d = -(qn @ bn.T)
    return np.argsort(d, axis=1, kind="stable")[:, :k].astype(np.int64)


def recall_at(found, gt, k):
    hits = 0
    for f, g in zip(found, gt):
        hits += len(set(int(x) for x in f[:k]) & set(int(x) for x in g[:k]))
    return hits / (k * len(gt))


def search_loop(search_one, query, k):
    """One query per call; returns (ids per query, queries per second)."""
    warm = min(len(query), 100)
    for i in range(warm):
        search_one(query[i:i + 1], k)
    found = []
    t = time.perf_counter()
    for i in range(len(query)):
        found.append(search_one(query[i:i + 1], k))
    elapsed = time.perf_counter() - t
    return found, len(query) / elapsed


def emit(index, ef, recall, qps, build_s, threads):
    print(json.dumps({"index": index, "ef": ef, "recall_at_10": round(recall, 4),
                      "qps": round(qps, 1), "build_s": round(build_s, 4),
                      "threads": threads}), flush=True)


def run_hnswlib(base, query, gt, a):
    import hnswlib
    space = {"l2": "l2", "ip": "ip", "cosine": "cosine"}[a.metric]
    index = hnswlib.Index(space=space, dim=base.shape[1])
    t = time.perf_counter()
    index.init_index(max_elements=len(base), ef_construction=a.ef_construction, M=a.m,
                     random_seed=a.seed)
    index.set_num_threads(a.threads)
    index.add_items(base, np.arange(len(base)), num_threads=a.threads)
    build_s = time.perf_counter() - t
    for ef in a.ef:
        index.set_ef(max(ef, a.k))
        found, qps = search_loop(lambda q, k: index.knn_query(q, k=k, num_threads=1)[0][0],
                                 query, a.k)
        emit("hnswlib", ef, recall_at(found, gt, a.k), qps, build_s, a.threads)


def faiss_data(base, query, metric):
    if metric == "cosine":
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        query = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-30)
    return np.ascontiguousarray(base, dtype=np.float32), np.ascontiguousarray(query, dtype=np.float32)


def run_faiss_hnsw(base, query, gt, a):
    import faiss
    faiss.omp_set_num_threads(a.threads)
    base, query = faiss_data(base, query, a.metric)
    mt = faiss.METRIC_L2 if a.metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexHNSWFlat(base.shape[1], a.m, mt)
    index.hnsw.efConstruction = a.ef_construction
    t = time.perf_counter()
    index.add(base)
    build_s = time.perf_counter() - t
    for ef in a.ef:
        index.hnsw.efSearch = max(ef, a.k)
        found, qps = search_loop(lambda q, k: index.search(q, k)[1][0], query, a.k)
        emit("faiss-hnsw", ef, recall_at(found, gt, a.k), qps, build_s, a.threads)


def run_faiss_flat(base, query, gt, a):
    import faiss
    faiss.omp_set_num_threads(a.threads)
    base, query = faiss_data(base, query, a.metric)
    t = time.perf_counter()
    index = faiss.IndexFlatL2(base.shape[1]) if a.metric == "l2" else faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    build_s = time.perf_counter() - t
    found, qps = search_loop(lambda q, k: index.search(q, k)[1][0], query, a.k)
    emit("faiss-flat", None, recall_at(found, gt, a.k), qps, build_s, a.threads)


PEERS = {"hnswlib": run_hnswlib, "faiss-hnsw": run_faiss_hnsw, "faiss-flat": run_faiss_flat}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", help=".fvecs or .npy base vectors (omit for generated data)")
    p.add_argument("--query", help=".fvecs or .npy queries")
    p.add_argument("--gt", help=".ivecs or .npy ground truth (computed by brute force if omitted)")
    p.add_argument("--metric", choices=["l2", "ip", "cosine"], default="l2")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef", default="10,20,40,80,160",
                   type=lambda s: [int(x) for x in s.split(",") if x])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--peers", default=",".join(PEERS),
                   type=lambda s: [x for x in s.split(",") if x])
    p.add_argument("--synthetic", default="5000,100,128",
                   help="n,queries,dim of the generated data set when --base is absent")
    a = p.parse_args()
    for name in a.peers:
        if name not in PEERS:
            p.error(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    # Single-threaded BLAS/OpenMP everywhere, as the unidb side runs.
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

    if a.base:
        if not a.query:
            p.error("--base needs --query")
        base = read_vecs(a.base, np.float32)
        query = read_vecs(a.query, np.float32)
        if base.shape[1] != query.shape[1]:
            p.error(f"dimensions differ: base {base.shape[1]}, query {query.shape[1]}")
        gt = read_vecs(a.gt, np.int32) if a.gt else brute_force(base, query, a.k, a.metric)
        if len(gt) != len(query) or gt.shape[1] < a.k:
            p.error(f"ground truth has shape {gt.shape}, need {len(query)} rows of >= {a.k}")
    else:
        n, nq, dim = (int(x) for x in a.synthetic.split(","))
        base, query, gt = synthetic(n, nq, dim, a.k, a.metric)

    for name in a.peers:
        PEERS[name](base, query, gt, a)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The `unidb` Python package against hnswlib and FAISS from Python, on the
same data with the same HNSW parameters, in one run:

* one query per call (single thread, as `benches/ann/peers.py` measures
  the peers): QPS and recall@10 per ef;
* per-call overhead of the Python binding: wall time per call from
  Python minus the search latency the collection records inside Rust
  (its p50), on the same collection and queries;
* one batch call with every query (multi-threaded: unidb's rayon,
  hnswlib's and FAISS's threads), QPS.

    benches/python/run.sh --base sift5k_base.fvecs --query sift5k_query.fvecs --gt sift5k_groundtruth.ivecs
    benches/python/run.sh --synthetic 100000,1000,128

Prints one JSON object per line.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ann"))
import peers  # noqa: E402  (read_vecs, synthetic, brute_force, recall_at, search_loop)


def emit(**row):
    print(json.dumps(row), flush=True)


def bench_unidb(base, query, gt, a):
    import unidb

    c = unidb.Collection(base.shape[1], metric=a.metric)
    t = time.perf_counter()
    c.add(np.arange(len(base)), base)
    c.create_index("hnsw", m=a.m, ef_construction=a.ef_construction, seed=a.seed)
    build_s = time.perf_counter() - t
    for ef in a.ef:
        found, qps = peers.search_loop(lambda q, k: c.search(q, k, ef=ef)[0][0], query, a.k)
        emit(index="unidb-py", mode="one-per-call", ef=ef, recall_at_10=round(peers.recall_at(found, gt, a.k), 4),
             qps=round(qps, 1), build_s=round(build_s, 3), threads=1)
    # Overhead per call: Python wall time minus the Rust-side latency.
    ef = a.ef[len(a.ef) // 2]
    reps = max(1, 20_000 // len(query))
    c.stats()  # drop nothing; reset by reopening the figure window below
    times = []
    for _ in range(reps):
        for i in range(len(query)):
            q = query[i:i + 1]
            t = time.perf_counter_ns()
            c.search(q, a.k, ef=ef)
            times.append(time.perf_counter_ns() - t)
    py_p50 = float(np.median(times))
    rust_p50 = float(c.stats()["p50_ns"])
    emit(index="unidb-py", mode="overhead", ef=ef, python_p50_ns=py_p50, rust_p50_ns=rust_p50,
         overhead_ns=round(py_p50 - rust_p50, 1), calls=len(times))
    for ef in a.ef:
        t = time.perf_counter()
        ids, _ = c.search(query, a.k, ef=ef)
        el = time.perf_counter() - t
        emit(index="unidb-py", mode="batch", ef=ef, recall_at_10=round(peers.recall_at(ids, gt, a.k), 4),
             qps=round(len(query) / el, 1), threads=os.cpu_count())


def bench_hnswlib(base, query, gt, a):
    import hnswlib

    index = hnswlib.Index(space=a.metric, dim=base.shape[1])
    t = time.perf_counter()
    index.init_index(max_elements=len(base), ef_construction=a.ef_construction, M=a.m, random_seed=a.seed)
    index.add_items(base, np.arange(len(base)), num_threads=1)
    build_s = time.perf_counter() - t
    for ef in a.ef:
        index.set_ef(max(ef, a.k))
        found, qps = peers.search_loop(lambda q, k: index.knn_query(q, k=k, num_threads=1)[0][0], query, a.k)
        emit(index="hnswlib", mode="one-per-call", ef=ef, recall_at_10=round(peers.recall_at(found, gt, a.k), 4),
             qps=round(qps, 1), build_s=round(build_s, 3), threads=1)
    for ef in a.ef:
        index.set_ef(max(ef, a.k))
        t = time.perf_counter()
        ids, _ = index.knn_query(query, k=a.k, num_threads=os.cpu_count())
        el = time.perf_counter() - t
        emit(index="hnswlib", mode="batch", ef=ef, recall_at_10=round(peers.recall_at(ids, gt, a.k), 4),
             qps=round(len(query) / el, 1), threads=os.cpu_count())


def bench_faiss(base, query, gt, a):
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.IndexHNSWFlat(base.shape[1], a.m)
    index.hnsw.efConstruction = a.ef_construction
    t = time.perf_counter()
    index.add(base)
    build_s = time.perf_counter() - t
    for ef in a.ef:
        index.hnsw.efSearch = max(ef, a.k)
        found, qps = peers.search_loop(lambda q, k: index.search(q, k)[1][0], query, a.k)
        emit(index="faiss-hnsw", mode="one-per-call", ef=ef, recall_at_10=round(peers.recall_at(found, gt, a.k), 4),
             qps=round(qps, 1), build_s=round(build_s, 3), threads=1)
    faiss.omp_set_num_threads(os.cpu_count())
    for ef in a.ef:
        index.hnsw.efSearch = max(ef, a.k)
        t = time.perf_counter()
        _, ids = index.search(query, a.k)
        el = time.perf_counter() - t
        emit(index="faiss-hnsw", mode="batch", ef=ef, recall_at_10=round(peers.recall_at(ids, gt, a.k), 4),
             qps=round(len(query) / el, 1), threads=os.cpu_count())


RUNS = {"unidb-py": bench_unidb, "hnswlib": bench_hnswlib, "faiss-hnsw": bench_faiss}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base")
    p.add_argument("--query")
    p.add_argument("--gt")
    p.add_argument("--metric", choices=["l2", "ip"], default="l2")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef", default="20,40,80,160", type=lambda s: [int(x) for x in s.split(",") if x])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--runs", default=",".join(RUNS), type=lambda s: [x for x in s.split(",") if x])
    p.add_argument("--synthetic", default="5000,100,128")
    a = p.parse_args()
    if a.base:
        base = peers.read_vecs(a.base, np.float32)
        query = peers.read_vecs(a.query, np.float32)
        gt = peers.read_vecs(a.gt, np.int32) if a.gt else peers.brute_force(base, query, a.k, a.metric)
    else:
        n, nq, dim = (int(x) for x in a.synthetic.split(","))
        base, query, gt = peers.synthetic(n, nq, dim, a.k, a.metric)
    for name in a.runs:
        try:
            RUNS[name](base, query, gt, a)
        except ImportError as e:
            emit(index=name, skipped=f"not installed: {e}")


if __name__ == "__main__":
    main()

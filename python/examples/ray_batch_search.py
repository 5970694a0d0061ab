"""Batch vector search on Ray Data: build index shards once, then search a
Parquet dataset of queries with one memory-mapped copy of the shards per
worker, and write the hits as Parquet.

    python ray_batch_search.py --demo --out /path/to/dir     # generated data
    python ray_batch_search.py --base base.npy --queries q.parquet --out dir

The queries dataset has a `query_id` column and a `vector` column (a list
of float32). Each worker (a Ray actor) opens every shard with
`unidb.open(path, mmap=True)` once: the operating system's page cache
holds one copy of a shard's vectors for all workers on a machine. Each
batch of queries is searched on every shard (the GIL is released inside,
rayon runs the queries of a batch in parallel) and the per-shard top k
are merged. The output has `query_id`, `ids` (list of int64) and
`distances` (list of float32).
"""

import argparse
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import unidb


def build_shards(base, out_dir, shards=2, factory="HNSW32", metric="l2", ids=None):
    """Splits `base` (n, dim) into `shards` collections saved under
    `out_dir`; row `i` gets id `ids[i]` (default `i`). Returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    base = np.ascontiguousarray(base, dtype=np.float32)
    ids = np.arange(len(base), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    paths = []
    for s, part in enumerate(np.array_split(np.arange(len(base)), shards)):
        c = unidb.Collection(base.shape[1], metric=metric, factory=factory)
        c.add(ids[part], base[part])
        path = os.path.join(out_dir, f"shard-{s}.udb")
        c.save(path)
        paths.append(path)
    return paths


def write_queries(queries, path, ids=None):
    """Writes (nq, dim) float32 queries as a Parquet file of `query_id`,
    `vector` (fixed-size list of float32)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    nq, dim = queries.shape
    ids = np.arange(nq, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(queries.reshape(-1)), dim)
    pq.write_table(pa.table({"query_id": ids, "vector": vec}), path)


class ShardSearcher:
    """A Ray Data actor: the shards opened once, memory-mapped."""

    def __init__(self, paths, k=10, params=None):
        self.shards = [unidb.open(p, mmap=True) for p in paths]
        self.k = k
        self.params = params or {}

    def __call__(self, batch):
        vectors = batch["vector"]
        queries = np.ascontiguousarray(np.stack(list(vectors)), dtype=np.float32)
        all_ids, all_dist = [], []
        for shard in self.shards:
            ids, dist = shard.search(queries, self.k, **self.params)
            all_ids.append(ids)
            all_dist.append(dist)
        ids = np.concatenate(all_ids, axis=1)
        dist = np.concatenate(all_dist, axis=1)
        order = np.argsort(dist, axis=1, kind="stable")[:, : self.k]
        ids = np.take_along_axis(ids, order, axis=1)
        dist = np.take_along_axis(dist, order, axis=1)
        return {
            "query_id": np.asarray(batch["query_id"]),
            "ids": list(ids),
            "distances": list(dist),
        }


def run(queries_path, shard_paths, out_dir, k=10, workers=2, batch_size=256, params=None,
        cpus_per_worker=0.5):
    """Searches the Parquet queries on Ray Data and writes Parquet under
    `out_dir`; returns the output directory.

    `cpus_per_worker` is what Ray reserves per search actor. Keep the
    actors' total below the cluster's CPUs: the read and write tasks
    need a CPU of their own, and actors holding every CPU stall the
    pipeline (each actor's searches spread over the machine's cores
    through rayon anyway)."""
    import ray

    ds = ray.data.read_parquet(queries_path)
    hits = ds.map_batches(
        ShardSearcher,
        fn_constructor_kwargs={"paths": shard_paths, "k": k, "params": params},
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=workers,
        num_cpus=cpus_per_worker,
    )
    hits.write_parquet(out_dir)
    return out_dir


def read_results(out_dir):
    """The written hits as `(query_id, ids, distances)` arrays sorted by query."""
    t = pq.read_table(out_dir).sort_by("query_id")
    qid = t.column("query_id").to_numpy()
    ids = np.stack(t.column("ids").to_numpy(zero_copy_only=False))
    dist = np.stack(t.column("distances").to_numpy(zero_copy_only=False))
    return qid, ids, dist


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="base vectors (.npy, float32)")
    ap.add_argument("--queries", help="queries (Parquet: query_id, vector)")
    ap.add_argument("--out", required=True, help="output directory (shards and hits)")
    ap.add_argument("--demo", action="store_true", help="generate 20k base vectors and 2k queries")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--factory", default="HNSW32")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--num-cpus", type=int, default=2)
    args = ap.parse_args(argv)
    import ray

    os.makedirs(args.out, exist_ok=True)
    if args.demo:
        rng = np.random.default_rng(0)
        base = rng.standard_normal((20_000, 64), dtype=np.float32)
        queries_path = os.path.join(args.out, "queries.parquet")
        write_queries(rng.standard_normal((2_000, 64), dtype=np.float32), queries_path)
    else:
        if not (args.base and args.queries):
            ap.error("give --base and --queries, or --demo")
        base = np.load(args.base, mmap_mode="r")
        queries_path = args.queries
    paths = build_shards(base, os.path.join(args.out, "shards"), args.shards, args.factory)
    ray.init(num_cpus=args.num_cpus, include_dashboard=False)
    try:
        out = run(queries_path, paths, os.path.join(args.out, "hits"), args.k, args.workers,
                  params={"ef": args.ef} if args.factory.startswith("HNSW") else None)
    finally:
        ray.shutdown()
    qid, ids, _ = read_results(out)
    print(f"{len(qid)} queries searched on {len(paths)} shards; hits in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

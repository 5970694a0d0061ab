"""Batch vector search on Spark with `mapInPandas`: each Python worker opens
the index shards once, memory-mapped, and searches its partitions' queries.

    python spark_batch_search.py --demo --out /path/to/dir

Shards are built as in `ray_batch_search.py` (`build_shards`); the queries
are a Parquet dataset of `query_id` and `vector` (array<float>). The
output Parquet has `query_id`, `ids` (array<bigint>) and `distances`
(array<float>).
"""

import argparse
import os
import sys

import numpy as np

import unidb

_SHARDS = {}


def _open(paths):
    """The shards, opened once per Python worker process (mmap)."""
    key = tuple(paths)
    if key not in _SHARDS:
        _SHARDS[key] = [unidb.open(p, mmap=True) for p in paths]
    return _SHARDS[key]


def searcher(paths, k=10, params=None):
    """A `mapInPandas` function searching every shard and merging the top k."""
    params = params or {}

    def search(frames):
        import pandas as pd

        shards = _open(paths)
        for df in frames:
            if len(df) == 0:
                continue
            queries = np.ascontiguousarray(np.stack(df["vector"].to_numpy()), dtype=np.float32)
            found = [s.search(queries, k, **params) for s in shards]
            ids = np.concatenate([f[0] for f in found], axis=1)
            dist = np.concatenate([f[1] for f in found], axis=1)
            order = np.argsort(dist, axis=1, kind="stable")[:, :k]
            yield pd.DataFrame({
                "query_id": df["query_id"].to_numpy(),
                "ids": list(np.take_along_axis(ids, order, 1)),
                "distances": list(np.take_along_axis(dist, order, 1)),
            })

    return search


SCHEMA = "query_id long, ids array<long>, distances array<float>"


def run(spark, queries_path, shard_paths, out_dir, k=10, params=None):
    """Searches the Parquet queries and writes Parquet under `out_dir`."""
    df = spark.read.parquet(queries_path)
    df.mapInPandas(searcher(shard_paths, k, params), SCHEMA).write.mode("overwrite").parquet(out_dir)
    return out_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--demo", action="store_true", help="generate 20k base vectors and 2k queries")
    ap.add_argument("--base")
    ap.add_argument("--queries")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--factory", default="HNSW32")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ray_batch_search import build_shards, write_queries
    from pyspark.sql import SparkSession

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
    spark = SparkSession.builder.master("local[2]").appName("unidb-batch-search").getOrCreate()
    try:
        out = run(spark, queries_path, paths, os.path.join(args.out, "hits"), args.k)
    finally:
        spark.stop()
    print(f"hits in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

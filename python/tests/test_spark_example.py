"""The Spark mapInPandas recipe (python/examples/spark_batch_search.py) on a
local Spark (local[2], Java 17), against brute-force NumPy search. PySpark
is large, so this runs only where it is installed
(`python/examples/test-spark.sh`)."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip("pyspark")

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_spark_batch_search_equals_brute_force(tmp_path):
    from pyspark.sql import SparkSession
    import pyarrow.parquet as pq

    ray_ex, ex = load("ray_batch_search"), load("spark_batch_search")
    rng = np.random.default_rng(11)
    base = rng.standard_normal((2_000, 8), dtype=np.float32)
    queries = rng.standard_normal((200, 8), dtype=np.float32)
    qpath = str(tmp_path / "q.parquet")
    ray_ex.write_queries(queries, qpath)
    paths = ray_ex.build_shards(base, str(tmp_path / "shards"), shards=2, factory="Flat")
    spark = SparkSession.builder.master("local[2]").appName("unidb-test").getOrCreate()
    try:
        out = ex.run(spark, qpath, paths, str(tmp_path / "hits"), k=5)
    finally:
        spark.stop()
    t = pq.read_table(out).sort_by("query_id")
    assert t.column("query_id").to_pylist() == list(range(200))
    ids = np.stack(t.column("ids").to_numpy(zero_copy_only=False))
    d = ((queries[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ids, np.argsort(d, axis=1, kind="stable")[:, :5])

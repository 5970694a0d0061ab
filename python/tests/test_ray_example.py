"""The Ray Data recipe (python/examples/ray_batch_search.py) on a local Ray
with 2 CPUs, against brute-force NumPy search. Ray's wheel is large, so
this runs only where Ray is installed (`python/examples/test-ray.sh`)."""

import importlib.util
import pathlib

import numpy as np
import pytest

ray = pytest.importorskip("ray")

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "ray_batch_search.py"


def load():
    spec = importlib.util.spec_from_file_location("ray_batch_search", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ray_batch_search_equals_brute_force(tmp_path):
    ex = load()
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3_000, 16), dtype=np.float32)
    queries = rng.standard_normal((300, 16), dtype=np.float32)
    qpath = str(tmp_path / "q.parquet")
    ex.write_queries(queries, qpath)
    # Flat shards: exact, so the merge of per-shard top k must equal NumPy.
    paths = ex.build_shards(base, str(tmp_path / "shards"), shards=3, factory="Flat")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        out = ex.run(qpath, paths, str(tmp_path / "hits"), k=5, workers=2, batch_size=64)
    finally:
        ray.shutdown()
    qid, ids, dist = ex.read_results(out)
    assert qid.tolist() == list(range(300))
    d = ((queries[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1)
    want = np.argsort(d, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(dist, np.take_along_axis(d, want, 1), rtol=1e-4, atol=1e-4)

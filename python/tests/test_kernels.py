"""Kernels from Python against NumPy in float64 (the oracle)."""

import numpy as np
import pytest

import unidb
from unidb import kernels


@pytest.mark.parametrize("dim", [1, 7, 16, 33, 128])
def test_one_to_many_against_numpy(rng, dim):
    q = rng.standard_normal(dim).astype(np.float32)
    rows = rng.standard_normal((50, dim)).astype(np.float32)
    q64, r64 = q.astype(np.float64), rows.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(kernels.dot(q, rows), r64 @ q64, **tol)
    np.testing.assert_allclose(kernels.l2sq(q, rows), ((r64 - q64) ** 2).sum(1), **tol)
    cos = 1 - (r64 @ q64) / (np.linalg.norm(r64, axis=1) * np.linalg.norm(q64))
    np.testing.assert_allclose(kernels.cosine(q, rows), cos, **tol)


def test_every_available_path_agrees(rng):
    info = kernels.info()
    names = [p["name"] for p in info["paths"]]
    assert info["active"] in names and info["selection"] in ("detected", "forced")
    assert {"scalar", "portable", "avx2", "avx512", "neon"} == set(names)
    q = rng.standard_normal(37).astype(np.float32)
    rows = rng.standard_normal((9, 37)).astype(np.float32)
    ref = kernels.l2sq(q, rows, path="scalar")
    for p in info["paths"]:
        if p["available"]:
            np.testing.assert_allclose(kernels.l2sq(q, rows, path=p["name"]), ref, rtol=1e-5)
        else:
            with pytest.raises(unidb.InvalidArgument, match="not available"):
                kernels.l2sq(q, rows, path=p["name"])


def test_shape_errors():
    with pytest.raises(unidb.InvalidArgument, match="columns"):
        kernels.dot(np.zeros(3, np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(unidb.InvalidArgument, match="one vector"):
        kernels.dot(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(unidb.UnidbError):
        kernels.dot(np.zeros(3, np.float32), np.zeros((2, 3), np.float32), path="sse9")

"""The SIMD distance kernels, one query against many rows.

    >>> import numpy as np
    >>> from unidb import kernels
    >>> kernels.l2sq(np.zeros(3, np.float32), np.ones((2, 3), np.float32)).tolist()
    [3.0, 3.0]
"""

from . import _native


def dot(query, rows, path=None):
    """`out[i] = query · rows[i]` (float32). `path` forces a kernel path (see `info()`)."""
    return _native.kernel_dot(query, rows, path)


def l2sq(query, rows, path=None):
    """`out[i] = |query - rows[i]|²` (float32)."""
    return _native.kernel_l2sq(query, rows, path)


def cosine(query, rows, path=None):
    """`out[i] = 1 - cos(query, rows[i])`, clamped to [0, 2] (float32)."""
    return _native.kernel_cosine(query, rows, path)


def info():
    """`{"active": path, "selection": "detected" | "forced", "paths": [{"name", "available"}]}`."""
    return _native.kernel_info()


__all__ = ["cosine", "dot", "info", "l2sq"]

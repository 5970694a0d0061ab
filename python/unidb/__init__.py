"""unidb: vector collections, a feature store, A/B experiment statistics and
SIMD distance kernels, from Python.

    >>> import numpy as np, unidb
    >>> c = unidb.Collection(4, metric="l2", factory="HNSW16")
    >>> c.add(np.arange(3), np.eye(3, 4, dtype=np.float32))
    >>> ids, dist = c.search(np.eye(1, 4, dtype=np.float32), k=2)
    >>> int(ids[0, 0])
    0
"""

from . import _native
from ._native import (
    Collection,
    Conflict,
    CorruptFile,
    InvalidArgument,
    InvalidConfig,
    IoError,
    NotFound,
    SerializationError,
    UnidbError,
    Unsupported,
    __version__,
    indexes,
    metrics,
    open,
    transforms,
)

# Each exception class names the kind of `unidb_common::ErrorKind` it stands for.
UnidbError.kind = None
InvalidArgument.kind = "validation"
InvalidConfig.kind = "configuration"
SerializationError.kind = "serialization"
NotFound.kind = "not found"
Conflict.kind = "conflict"
CorruptFile.kind = "corrupt data"
IoError.kind = "I/O"
Unsupported.kind = "unsupported"

from . import experiment, features, kernels  # noqa: E402

__all__ = [
    "Collection",
    "Conflict",
    "CorruptFile",
    "InvalidArgument",
    "InvalidConfig",
    "IoError",
    "NotFound",
    "SerializationError",
    "UnidbError",
    "Unsupported",
    "__version__",
    "experiment",
    "features",
    "indexes",
    "kernels",
    "metrics",
    "open",
    "transforms",
]

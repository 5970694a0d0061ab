"""Array conversions the native module falls back on: lossless only."""

import numpy as np

from ._native import InvalidArgument

# Dtypes every value of which is a float32 exactly.
_EXACT = {np.dtype(t) for t in ("float16", "int8", "uint8", "int16", "uint16")}


def as_f32_matrix(obj, what, one_row):
    """`obj` as a C-contiguous float32 matrix, or InvalidArgument."""
    if not isinstance(obj, np.ndarray):
        try:
            obj = np.asarray(obj)
        except Exception as e:  # ragged lists and the like
            raise InvalidArgument(f"{what}: not an array ({e})") from None
    if obj.ndim == 1 and one_row:
        obj = obj.reshape(1, -1)
    if obj.ndim != 2:
        raise InvalidArgument(
            f"{what}: expected a 2-D array (rows, dim), got shape {obj.shape}"
        )
    dt = obj.dtype
    if dt == np.float32:
        return np.ascontiguousarray(obj)
    if dt in _EXACT:
        return np.ascontiguousarray(obj, dtype=np.float32)
    if dt.kind in "fiu" and dt != np.bool_:
        # float64 and wider integers: only when every value survives.
        with np.errstate(over="ignore", invalid="ignore"):
            conv = obj.astype(np.float32)
        back = conv.astype(dt)
        same = (back == obj) | (np.isnan(obj) & np.isnan(conv)) if dt.kind == "f" else back == obj
        if not np.all(same):
            bad = np.argwhere(~same)[0]
            raise InvalidArgument(
                f"{what}: dtype {dt} value {obj[tuple(bad)]!r} at {tuple(int(i) for i in bad)} "
                "is not exactly a float32; convert with .astype(np.float32) to accept the rounding"
            )
        return np.ascontiguousarray(conv)
    raise InvalidArgument(
        f"{what}: unsupported dtype {dt} (float32, float16, int8 or an exact conversion to float32)"
    )


def as_f64_vector(obj, what):
    """`obj` as a 1-D float64 array, or InvalidArgument."""
    arr = np.asarray(obj)
    if arr.ndim != 1:
        raise InvalidArgument(f"{what}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise InvalidArgument(f"{what}: unsupported dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)

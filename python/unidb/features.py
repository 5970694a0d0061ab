"""The feature store: views registered from pandas, Polars or pyarrow
tables, online lookups, and the point-in-time join returned as a pyarrow
Table (Arrow C data interface, no copy of the buffers at the boundary).

    >>> import pandas as pd
    >>> from unidb import features
    >>> fs = features.FeatureStore()
    >>> fs.define_entity("user", {"user_id": "int"})
    >>> fs.register_view("clicks", "user", pd.DataFrame({
    ...     "user_id": [1, 1], "event_timestamp": [10, 10],
    ...     "created_timestamp": [10, 50], "count": [3, 4]}), unit="ns")
    >>> labels = pd.DataFrame({"user_id": [1], "event_timestamp": [20]})
    >>> fs.join(labels, known_at="label", unit="ns").column("clicks__count").to_pylist()
    [3]
"""

import datetime
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from . import _native


def _arrow(table):
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    if hasattr(table, "to_arrow"):  # Polars
        return table.to_arrow()
    if hasattr(table, "__arrow_c_stream__") and hasattr(pa, "table"):
        try:
            return pa.table(table)
        except Exception:
            pass
    try:
        import pandas as pd

        if isinstance(table, pd.DataFrame):
            return pa.Table.from_pandas(table, preserve_index=False)
    except ImportError:
        pass
    return pa.table(table)


def _batches(table):
    t = _arrow(table).combine_chunks()
    return t.schema, t.to_batches()


def _ns(t) -> int:
    if isinstance(t, datetime.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=datetime.timezone.utc)
        delta = t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(t, datetime.timedelta):
        return (t.days * 86_400 + t.seconds) * 1_000_000_000 + t.microseconds * 1000
    if hasattr(t, "value") and hasattr(t, "to_datetime64"):  # pandas Timestamp / Timedelta
        return int(t.value)
    return int(t)


class FeatureStore:
    """Features of entities over time, for training sets and online serving."""

    def __init__(self, _native_store=None):
        self._s = _native_store if _native_store is not None else _native.FeatureStore()

    @classmethod
    def open(cls, path) -> "FeatureStore":
        """Opens a snapshot saved by `save` (validated: CorruptFile when damaged)."""
        return cls(_native.FeatureStore.open(str(path)))

    def save(self, path) -> None:
        """Saves a checksummed snapshot, atomically."""
        self._s.save(str(path))

    def define_entity(self, name: str, keys: Mapping[str, str]) -> None:
        """An entity keyed by columns: `{"user_id": "int"}` or `"text"`."""
        self._s.define_entity(name, list(keys.items()))

    def register_view(self, name: str, entity: str, table, ttl=None, unit: str = "s") -> None:
        """Appends the rows of `table` (pandas, Polars, pyarrow) to view
        `name`, defining it from the table's columns the first time:
        `<entity keys>, event_timestamp, created_timestamp, <features>`.
        Arrow timestamps are exact; integer times are in `unit` ("s",
        "ms", "us", "ns"). `ttl`: a timedelta or nanoseconds."""
        schema, batches = _batches(table)
        self._s.register_view(name, entity, schema, batches, None if ttl is None else _ns(ttl), unit)

    def views(self) -> List[str]:
        """The views' names."""
        return self._s.views()

    def get_online(self, views, keys: Iterable, at) -> List[Dict[str, object]]:
        """Each key's features (`view__feature` → value, None when
        missing or expired) in `views` at time `at` (datetime or ns)."""
        if isinstance(views, str):
            views = [views]
        return self._s.get_online(list(views), list(keys), _ns(at))

    def join(self, entity_df, views: Optional[Sequence[str]] = None, known_at: str = "latest", unit: str = "s", to_pandas: bool = False):
        """Point-in-time join of `entity_df` (`<keys>, event_timestamp,
        <labels>`) with `views` (all by default). `known_at="label"`
        counts only rows recorded by each row's time (leak-free training
        sets). Returns a pyarrow Table, or pandas with `to_pandas=True`."""
        import pyarrow as pa

        schema, batches = _batches(entity_df)
        if isinstance(views, str):
            views = [views]
        out_schema, out = self._s.join(schema, batches, list(views or []), known_at, unit)
        table = pa.Table.from_batches(out, schema=out_schema)
        return table.to_pandas() if to_pandas else table


__all__ = ["FeatureStore"]

"""The feature store from Python against the `unidb features join`
command on the same CSV files, and against a naive pandas as-of join."""

import datetime
import json

import numpy as np
import pandas as pd
import pytest

pa = pytest.importorskip("pyarrow")

import unidb
from unidb import features


def make_view(rng, n_users=30, rows=400):
    user = rng.integers(0, n_users, rows)
    event = rng.integers(0, 1000, rows)
    created = event + rng.integers(0, 50, rows)
    return pd.DataFrame({
        "entity_id": user.astype(np.int64),
        "event_timestamp": event.astype(np.int64),
        "created_timestamp": created.astype(np.int64),
        "clicks": rng.integers(0, 100, rows).astype(np.int64),
        "score": rng.standard_normal(rows),
    })


def make_entities(rng, n_users=35, rows=200):
    return pd.DataFrame({
        "entity_id": rng.integers(0, n_users, rows).astype(np.int64),
        "event_timestamp": rng.integers(0, 1100, rows).astype(np.int64),
        "label": rng.integers(0, 2, rows).astype(np.int64),
    })


def naive_asof(view, ents, ttl, known_at):
    """The lookup rule by brute force: latest event <= t (ties: latest
    created), only rows created by t with known_at, None past the TTL."""
    out = []
    for k, t in zip(ents.entity_id, ents.event_timestamp):
        c = view[(view.entity_id == k) & (view.event_timestamp <= t)]
        if known_at:
            c = c[c.created_timestamp <= t]
        if len(c) == 0:
            out.append(None)
            continue
        best = c.sort_values(["event_timestamp", "created_timestamp"]).iloc[-1]
        out.append(None if t - best.event_timestamp > ttl else int(best.clicks))
    return out


@pytest.mark.parametrize("known_at", ["latest", "label"])
def test_join_equals_naive_asof(rng, known_at):
    view, ents = make_view(rng), make_entities(rng)
    fs = features.FeatureStore()
    fs.define_entity("user", {"entity_id": "int"})
    fs.register_view("v", "user", view, ttl=datetime.timedelta(seconds=300), unit="s")
    table = fs.join(ents, known_at=known_at, unit="s")
    assert isinstance(table, pa.Table)
    assert table.column_names == ["entity_id", "event_timestamp", "label", "v__clicks", "v__score"]
    want = naive_asof(view, ents, ttl=300, known_at=known_at == "label")
    assert table.column("v__clicks").to_pylist() == want
    df = fs.join(ents, views=["v"], known_at=known_at, to_pandas=True)
    assert list(df["label"]) == list(ents["label"])


def test_join_equals_cli_on_same_files(rng, cli, tmp_path):
    view, ents = make_view(rng), make_entities(rng)
    view.to_csv(tmp_path / "v.csv", index=False)
    ents.to_csv(tmp_path / "e.csv", index=False)
    out = cli("--json", "features", "join", "--entities", tmp_path / "e.csv",
              "--view", f"v={tmp_path / 'v.csv'}", "--ttl", "v=300s", "--known-at")
    want = [json.loads(l) for l in out.splitlines()]
    fs = features.FeatureStore()
    fs.define_entity("user", {"entity_id": "int"})
    fs.register_view("v", "user", pd.read_csv(tmp_path / "v.csv"), ttl=300 * 10**9)
    got = fs.join(ents, known_at="label").to_pylist()
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g["v__clicks"] == w["v__clicks"]
        assert (g["v__score"] is None) == (w["v__score"] is None)
        if g["v__score"] is not None:
            assert g["v__score"] == pytest.approx(w["v__score"], rel=1e-15)


def test_online_equals_join_and_timestamps(rng, tmp_path):
    import datetime as dt
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    view = pd.DataFrame({
        "driver": ["a", "a", "b"],
        "event_timestamp": pd.to_datetime([base, base + dt.timedelta(hours=1), base]),
        "created_timestamp": pd.to_datetime([base, base + dt.timedelta(hours=1), base]),
        "rate": [1.5, 2.5, 9.0],
        "emb": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]],
    })
    view["emb"] = view["emb"].apply(lambda v: np.asarray(v, np.float32))
    tbl = pa.Table.from_pandas(view, preserve_index=False)
    tbl = tbl.set_column(4, "emb", pa.array(view["emb"].tolist(), type=pa.list_(pa.float32(), 2)))
    fs = features.FeatureStore()
    fs.define_entity("driver", {"driver": "text"})
    fs.register_view("stats", "driver", tbl, ttl=dt.timedelta(hours=2))
    at = base + dt.timedelta(minutes=90)
    got = fs.get_online("stats", ["a", "b", "zz"], at)
    assert got[0]["stats__rate"] == 2.5 and got[1]["stats__rate"] == 9.0
    assert got[2]["stats__rate"] is None
    assert got[0]["stats__emb"].tolist() == [1.0, 0.0]
    late = fs.get_online(["stats"], ["b"], base + dt.timedelta(hours=3))
    assert late[0]["stats__rate"] is None  # expired
    ents = pa.table({"driver": ["a", "b"], "event_timestamp": pa.array([at, at], pa.timestamp("ns", tz="UTC"))})
    joined = fs.join(ents).to_pylist()
    assert [r["stats__rate"] for r in joined] == [2.5, 9.0]
    path = tmp_path / "fs.snap"
    fs.save(path)
    again = features.FeatureStore.open(path)
    assert again.get_online("stats", ["a"], at)[0]["stats__rate"] == 2.5
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x55
    path.write_bytes(bytes(raw))
    with pytest.raises(unidb.CorruptFile):
        features.FeatureStore.open(path)


def test_polars_if_installed(rng):
    pl = pytest.importorskip("polars")
    fs = features.FeatureStore()
    fs.define_entity("user", {"entity_id": "int"})
    fs.register_view("v", "user", pl.from_pandas(make_view(rng)), unit="s")
    assert fs.views() == ["v"]


def test_bad_tables_are_typed_errors(rng):
    fs = features.FeatureStore()
    fs.define_entity("user", {"entity_id": "int"})
    with pytest.raises(unidb.UnidbError, match="created_timestamp"):
        fs.register_view("v", "user", pd.DataFrame({"entity_id": [1], "event_timestamp": [1]}))
    with pytest.raises(unidb.NotFound):
        fs.register_view("v", "nobody", make_view(rng))
    with pytest.raises(unidb.UnidbError):
        fs.register_view("v", "user", make_view(rng).assign(entity_id=["x"] * 400))
    fs.register_view("v", "user", make_view(rng))
    with pytest.raises(unidb.UnidbError):
        fs.join(pd.DataFrame({"entity_id": [1], "event_timestamp": [1]}), views=["nope"])
    with pytest.raises(unidb.InvalidArgument):
        fs.join(pd.DataFrame({"entity_id": [1], "event_timestamp": [1]}), known_at="yesterday")

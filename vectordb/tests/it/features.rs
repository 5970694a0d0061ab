//! The feature store against independent oracles: hand-worked cases, a
//! naive join (a linear scan of every row per entity row) on seeded
//! random data with many ties and late rows, brute-force neighbours, and
//! hostile snapshot bytes.

use std::time::Duration;

use unidb_common::rng::SplitMix64;
use unidb_common::value::{ColumnType, Value};
use unidb_common::ErrorKind;
use unidb_vectordb::features::*;

fn ints(v: &[i64]) -> Column {
    Column::new(ColumnData::Int(v.to_vec()))
}

/// A store with entity `user` (`user_id` i64) and view `v` (`x` int).
fn store_with(ttl: Option<i64>) -> FeatureStore {
    let mut s = FeatureStore::new();
    s.define_entity(EntityDef::new("user", "user_id", ColumnType::I64))
        .unwrap();
    let mut def = ViewDef::new("v", "user").feature("x", FeatureType::Int);
    def.ttl = ttl;
    s.define_view(def).unwrap();
    s
}

fn batch(users: &[i64], event: &[i64], created: &[i64], x: &[i64]) -> RowBatch {
    RowBatch {
        keys: vec![("user_id".into(), KeyColumn::Int(users.to_vec()))],
        event_timestamps: event.to_vec(),
        created_timestamps: created.to_vec(),
        features: vec![("x".into(), ints(x))],
    }
}

/// What a lookup gave, comparable across paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Found(i64),
    Expired,
    Missing,
}

fn got(l: Lookup<'_>) -> Got {
    match l {
        Lookup::Found(r) => match r.value(0) {
            FeatureValue::Int(x) => Got::Found(x),
            other => panic!("{other:?}"),
        },
        Lookup::Expired(_) => Got::Expired,
        Lookup::Missing => Got::Missing,
    }
}

/// The join of `(user, at)` rows with every view; `Null` as `None`.
fn join_all(
    s: &FeatureStore,
    rows: &[(i64, i64)],
    known: KnownAt,
    chunk: usize,
) -> Vec<Vec<Option<i64>>> {
    let table = EntityTable {
        keys: vec![(
            "user_id".into(),
            KeyColumn::Int(rows.iter().map(|r| r.0).collect()),
        )],
        timestamps: rows.iter().map(|r| r.1).collect(),
        labels: vec![],
    };
    let opts = JoinOptions {
        known_at: known,
        chunk_rows: chunk,
        ..JoinOptions::default()
    };
    let mut out = vec![Vec::new(); rows.len()];
    let mut next = 0;
    s.join(&table, &opts, |b| {
        assert_eq!(b.start, next, "chunks arrive in order");
        next += b.len;
        for i in 0..b.len {
            for c in &b.columns {
                out[b.start + i].push(match c.get(i) {
                    FeatureValue::Int(x) => Some(x),
                    FeatureValue::Null => None,
                    other => panic!("{other:?}"),
                });
            }
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(next, rows.len());
    out
}

#[test]
fn ttl_boundary_is_inclusive_on_every_path() {
    let mut s = store_with(Some(50));
    s.append("v", batch(&[1], &[100], &[100], &[7])).unwrap();
    let key = [Value::I64(1)];
    assert_eq!(got(s.get("v", &key, 150, None).unwrap()), Got::Found(7));
    assert_eq!(got(s.get("v", &key, 151, None).unwrap()), Got::Expired);
    assert_eq!(got(s.get("v", &key, 99, None).unwrap()), Got::Missing);
    let j = join_all(&s, &[(1, 150), (1, 151), (1, 99)], KnownAt::Latest, 2);
    assert_eq!(j, [vec![Some(7)], vec![None], vec![None]]);
    let keys = vec![vec![Value::I64(1)]];
    assert_eq!(
        got(s.online(&["v"], &keys, 150).unwrap().get(0, 0)),
        Got::Found(7)
    );
    assert_eq!(
        got(s.online(&["v"], &keys, 151).unwrap().get(0, 0)),
        Got::Expired
    );
    assert_eq!(s.online_latency().count, 2);
}

#[test]
fn equal_event_times_are_broken_by_created_time() {
    let mut s = store_with(None);
    // Appended newest first: order of arrival must not matter.
    s.append("v", batch(&[1, 1], &[100, 100], &[120, 100], &[2, 1]))
        .unwrap();
    let key = [Value::I64(1)];
    assert_eq!(got(s.get("v", &key, 100, None).unwrap()), Got::Found(2));
    assert_eq!(
        got(s.get("v", &key, 100, Some(110)).unwrap()),
        Got::Found(1)
    );
    assert_eq!(got(s.get("v", &key, 100, Some(99)).unwrap()), Got::Missing);
    assert_eq!(
        join_all(&s, &[(1, 100)], KnownAt::Latest, 8),
        [vec![Some(2)]]
    );
    // Known at the label's time (100): only the row created at 100.
    assert_eq!(
        join_all(&s, &[(1, 100)], KnownAt::AtLabel, 8),
        [vec![Some(1)]]
    );
}

#[test]
fn a_late_correction_is_used_only_without_known_at() {
    let mut s = store_with(None);
    s.append("v", batch(&[1], &[100], &[100], &[1])).unwrap();
    // Recorded at 300, after the label at 200, about event 100.
    s.append("v", batch(&[1], &[100], &[300], &[2])).unwrap();
    assert_eq!(
        join_all(&s, &[(1, 200)], KnownAt::Latest, 8),
        [vec![Some(2)]]
    );
    assert_eq!(
        join_all(&s, &[(1, 200)], KnownAt::AtLabel, 8),
        [vec![Some(1)]]
    );
    // A label after the correction was recorded sees it either way.
    assert_eq!(
        join_all(&s, &[(1, 300)], KnownAt::AtLabel, 8),
        [vec![Some(2)]]
    );
}

#[test]
fn entities_without_rows_and_views_entirely_after_the_label_are_missing() {
    let mut s = store_with(Some(1000));
    s.define_view(ViewDef::new("later", "user").feature("x", FeatureType::Int))
        .unwrap();
    s.append("v", batch(&[1], &[10], &[10], &[5])).unwrap();
    s.append("later", batch(&[1, 2], &[500, 600], &[500, 600], &[8, 9]))
        .unwrap();
    assert_eq!(
        got(s.get("v", &[Value::I64(3)], 50, None).unwrap()),
        Got::Missing
    );
    assert_eq!(
        got(s.get("later", &[Value::I64(1)], 50, None).unwrap()),
        Got::Missing
    );
    let table = EntityTable {
        keys: vec![("user_id".into(), KeyColumn::Int(vec![1, 3, 2]))],
        timestamps: vec![50, 50, 50],
        labels: vec![],
    };
    let mut cols = Vec::new();
    let plan = s
        .join(&table, &JoinOptions::default(), |b| {
            cols = b.columns;
            Ok(())
        })
        .unwrap();
    assert_eq!(plan.columns, ["v__x", "later__x"]);
    assert_eq!(cols[0].get(0), FeatureValue::Int(5));
    assert_eq!(cols[0].get(1), FeatureValue::Null);
    assert_eq!(cols[1].get(0), FeatureValue::Null);
    assert_eq!(cols[1].get(2), FeatureValue::Null);
    assert_eq!(
        (
            plan.counts[0].found,
            plan.counts[0].missing,
            plan.counts[1].missing
        ),
        (2 - 1, 2, 3)
    );
}

/// The oracle: per entity row and view, a linear scan over every row
/// appended (in arrival order), written from the definition alone.
fn naive(
    rows: &[(i64, i64, i64, i64)],
    user: i64,
    at: i64,
    known_at: Option<i64>,
    ttl: Option<i64>,
) -> Got {
    let mut best: Option<&(i64, i64, i64, i64)> = None;
    for r in rows {
        let (u, e, c, _) = *r;
        if u != user || e > at || known_at.is_some_and(|k| c > k) {
            continue;
        }
        if best.is_none_or(|b| (e, c) > (b.1, b.2)) {
            best = Some(r);
        }
    }
    match best {
        None => Got::Missing,
        Some(b) if ttl.is_some_and(|t| at - b.1 > t) => Got::Expired,
        Some(b) => Got::Found(b.3),
    }
}

#[test]
// Views are indexed in three parallel tables (truth, TTLs, names).
#[allow(clippy::needless_range_loop)]
fn join_get_and_online_agree_with_a_naive_join_on_random_data() {
    for seed in 0..24u64 {
        let mut rng = SplitMix64::new(seed);
        let mut s = FeatureStore::new();
        s.define_entity(EntityDef::new("user", "user_id", ColumnType::I64))
            .unwrap();
        let n_views = 1 + rng.index(3);
        let mut truth: Vec<Vec<(i64, i64, i64, i64)>> = vec![Vec::new(); n_views];
        let mut ttls = Vec::new();
        for v in 0..n_views {
            let ttl = match rng.below(3) {
                0 => None,
                _ => Some(rng.below(8) as i64),
            };
            ttls.push(ttl);
            let mut def = ViewDef::new(format!("v{v}"), "user").feature("x", FeatureType::Int);
            def.ttl = ttl;
            s.define_view(def).unwrap();
            // Several batches, out of order, with many equal event times
            // and rows created long after their event (late).
            for _ in 0..1 + rng.index(4) {
                let n = rng.index(30);
                let mut b = batch(&[], &[], &[], &[]);
                let mut users = Vec::new();
                let mut xs = Vec::new();
                for _ in 0..n {
                    let u = rng.below(6) as i64;
                    let e = rng.below(20) as i64;
                    let c = e + if rng.chance(0.3) {
                        rng.below(30)
                    } else {
                        rng.below(2)
                    } as i64;
                    let x = rng.below(1000) as i64;
                    let dup = truth[v].iter().any(|r| (r.0, r.1, r.2) == (u, e, c))
                        || users
                            .iter()
                            .zip(&b.event_timestamps)
                            .zip(&b.created_timestamps)
                            .any(|((uu, ee), cc)| (*uu, *ee, *cc) == (u, e, c));
                    if dup {
                        continue;
                    }
                    users.push(u);
                    b.event_timestamps.push(e);
                    b.created_timestamps.push(c);
                    xs.push(x);
                }
                for i in 0..users.len() {
                    truth[v].push((
                        users[i],
                        b.event_timestamps[i],
                        b.created_timestamps[i],
                        xs[i],
                    ));
                }
                b.keys = vec![("user_id".into(), KeyColumn::Int(users))];
                b.features = vec![("x".into(), ints(&xs))];
                s.append(&format!("v{v}"), b).unwrap();
            }
        }
        let rows: Vec<(i64, i64)> = (0..40)
            .map(|_| (rng.below(8) as i64, rng.below(45) as i64 - 5))
            .collect();
        for known in [KnownAt::Latest, KnownAt::AtLabel] {
            let chunk = 1 + rng.index(9);
            let joined = join_all(&s, &rows, known, chunk);
            for (i, &(u, at)) in rows.iter().enumerate() {
                let known_at = (known == KnownAt::AtLabel).then_some(at);
                for v in 0..n_views {
                    let want = naive(&truth[v], u, at, known_at, ttls[v]);
                    let from_join = match joined[i][v] {
                        Some(x) => Got::Found(x),
                        None => Got::Missing,
                    };
                    let flat = |g: Got| if g == Got::Expired { Got::Missing } else { g };
                    assert_eq!(
                        from_join,
                        flat(want),
                        "seed {seed} row {i} view {v} {known:?}"
                    );
                    let key = [Value::I64(u)];
                    let g = got(s.get(&format!("v{v}"), &key, at, known_at).unwrap());
                    assert_eq!(g, want, "seed {seed} row {i} view {v} {known:?}");
                }
            }
        }
        // Online at one time is `get` at that time, for every view.
        let names: Vec<String> = (0..n_views).map(|v| format!("v{v}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let keys: Vec<Vec<Value>> = (0..8).map(|u| vec![Value::I64(u)]).collect();
        let r = s.online(&names, &keys, 25).unwrap();
        for u in 0..8 {
            for v in 0..n_views {
                let want = naive(&truth[v], u as i64, 25, None, ttls[v]);
                assert_eq!(got(r.get(u, v)), want, "seed {seed} online");
            }
        }
    }
}

#[test]
fn composite_text_keys_and_typed_features_round_trip() {
    let mut s = FeatureStore::new();
    s.define_entity(EntityDef::new("pair", "a", ColumnType::Text).key("b", ColumnType::I64))
        .unwrap();
    s.define_view(
        ViewDef::new("p", "pair")
            .feature("name", FeatureType::Text)
            .feature("ok", FeatureType::Bool)
            .feature("when", FeatureType::Timestamp)
            .feature("emb", FeatureType::Vector { dim: 2 })
            .ttl(Duration::from_secs(1)),
    )
    .unwrap();
    s.append(
        "p",
        RowBatch {
            keys: vec![
                ("b".into(), KeyColumn::Int(vec![1, 2])),
                ("a".into(), KeyColumn::Text(vec!["x".into(), "x".into()])),
            ],
            event_timestamps: vec![5, 6],
            created_timestamps: vec![5, 6],
            features: vec![
                (
                    "ok".into(),
                    Column::new(ColumnData::Bool(vec![true, false])),
                ),
                (
                    "name".into(),
                    Column::try_new(
                        ColumnData::Text(vec!["n1".into(), String::new()]),
                        vec![true, false],
                    )
                    .unwrap(),
                ),
                (
                    "when".into(),
                    Column::new(ColumnData::Timestamp(vec![1, 2])),
                ),
                (
                    "emb".into(),
                    Column::new(ColumnData::Vector {
                        dim: 2,
                        values: vec![1.0, 2.0, 3.0, 4.0],
                    }),
                ),
            ],
        },
    )
    .unwrap();
    let l = s
        .get("p", &[Value::from("x"), Value::I64(2)], 10, None)
        .unwrap();
    let r = l.row().unwrap();
    assert_eq!(r.get("name").unwrap(), FeatureValue::Null);
    assert_eq!(r.get("ok").unwrap(), FeatureValue::Bool(false));
    assert_eq!(r.get("when").unwrap(), FeatureValue::Timestamp(2));
    assert_eq!(r.get("emb").unwrap(), FeatureValue::Vector(&[3.0, 4.0]));
    assert!(s
        .get("p", &[Value::from("x"), Value::I64(3)], 10, None)
        .unwrap()
        .is_missing());
    // A key of the wrong types is an error, not a miss.
    let e = s
        .get("p", &[Value::I64(2), Value::from("x")], 10, None)
        .unwrap_err();
    assert!(matches!(e, FeatureError::TypeMismatch { .. }), "{e}");
}

#[test]
fn bad_batches_are_refused_whole_with_typed_errors() {
    let mut s = store_with(None);
    s.append("v", batch(&[1], &[10], &[10], &[1])).unwrap();
    let before = s.to_snapshot_bytes();
    // A duplicate of a stored row, after a good row: nothing is kept.
    let e = s
        .append("v", batch(&[2, 1], &[1, 10], &[1, 10], &[0, 0]))
        .unwrap_err();
    assert!(
        matches!(&e, FeatureError::DuplicateRow { row: 2, entity, event: 10, created: 10, .. } if entity == "1"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Conflict);
    // A duplicate inside the batch.
    let e = s
        .append("v", batch(&[3, 3], &[1, 1], &[1, 1], &[0, 0]))
        .unwrap_err();
    assert!(matches!(e, FeatureError::DuplicateRow { .. }), "{e}");
    // Unknown view, unknown feature, missing feature, wrong type, lengths.
    let e = s.append("nope", batch(&[1], &[1], &[1], &[1])).unwrap_err();
    assert!(
        matches!(&e, FeatureError::UnknownView { name, .. } if name == "nope"),
        "{e}"
    );
    let mut b = batch(&[1], &[1], &[1], &[1]);
    b.features.push(("y".into(), ints(&[1])));
    let e = s.append("v", b).unwrap_err();
    assert!(
        matches!(&e, FeatureError::UnknownFeature { name, .. } if name == "y"),
        "{e}"
    );
    let mut b = batch(&[1], &[1], &[1], &[1]);
    b.features.clear();
    let e = s.append("v", b).unwrap_err();
    assert!(
        matches!(&e, FeatureError::MissingColumn { column, .. } if column == "x"),
        "{e}"
    );
    let mut b = batch(&[1], &[1], &[1], &[1]);
    b.features = vec![("x".into(), Column::new(ColumnData::Float(vec![1.0])))];
    let e = s.append("v", b).unwrap_err();
    assert!(
        matches!(&e, FeatureError::TypeMismatch { column, .. } if column == "x"),
        "{e}"
    );
    let mut b = batch(&[1], &[1], &[1], &[1]);
    b.keys = vec![("user_id".into(), KeyColumn::Text(vec!["1".into()]))];
    let e = s.append("v", b).unwrap_err();
    assert!(
        matches!(&e, FeatureError::TypeMismatch { column, .. } if column == "user_id"),
        "{e}"
    );
    let e = s
        .append("v", batch(&[1, 2], &[1], &[1, 2], &[1, 2]))
        .unwrap_err();
    assert!(matches!(e, FeatureError::LengthMismatch { .. }), "{e}");
    assert_eq!(
        s.to_snapshot_bytes(),
        before,
        "a refused batch changes nothing"
    );
    // Definitions.
    assert!(matches!(
        s.define_view(ViewDef::new("v", "user")),
        Err(FeatureError::AlreadyDefined { .. })
    ));
    assert!(matches!(
        s.define_view(ViewDef::new("w", "nobody")),
        Err(FeatureError::UnknownEntity { .. })
    ));
    assert!(s.define_view(ViewDef::new("a__b", "user")).is_err());
    let e = s
        .join(
            &EntityTable::default(),
            &JoinOptions {
                views: vec!["zz".into()],
                ..JoinOptions::default()
            },
            |_| Ok(()),
        )
        .unwrap_err();
    assert_eq!(unidb_common::Error::from(e).kind(), ErrorKind::NotFound);
    let e = s
        .join(&EntityTable::default(), &JoinOptions::default(), |_| Ok(()))
        .unwrap_err();
    assert!(
        matches!(&e, FeatureError::MissingColumn { column, .. } if column == "user_id"),
        "{e}"
    );
}

fn csv(text: &str) -> unidb_common::csv::Table {
    unidb_common::csv::read_csv(text.as_bytes(), b',', &mut |_| {}).unwrap()
}

#[test]
fn csv_cells_are_typed_and_bad_cells_name_row_and_column() {
    let ent = EntityDef::new("e", "entity_id", ColumnType::I64);
    let t = csv(
        "entity_id,event_timestamp,created_timestamp,n,f,b,t,emb,when\n\
        1,2024-01-01T00:00:00Z,1704067200.5,3,1.5,true,hi,\"[1, 2]\",2024-01-02\n\
        2,1704067201,1704067201,,2,false,,\"[3,4]\",\n",
    );
    let (features, b) = io::view_batch(&t, "v.csv", &ent, None, TimeUnit::Seconds).unwrap();
    let types: Vec<String> = features.iter().map(|f| f.ty.to_string()).collect();
    assert_eq!(
        types,
        ["int", "float", "bool", "text", "vector[2]", "timestamp"]
    );
    assert_eq!(
        b.event_timestamps,
        [1_704_067_200_000_000_000, 1_704_067_201_000_000_000]
    );
    assert_eq!(b.created_timestamps[0], 1_704_067_200_500_000_000);
    assert_eq!(b.features[0].1.get(1), FeatureValue::Null);
    assert_eq!(b.features[4].1.get(1), FeatureValue::Vector(&[3.0, 4.0]));

    let bad = |text: &str| {
        io::view_batch(&csv(text), "v.csv", &ent, None, TimeUnit::Seconds).unwrap_err()
    };
    let e = bad("entity_id,event_timestamp,created_timestamp\n1,2024-01-01,1\n1,yesterday,1\n");
    assert!(
        matches!(&e, FeatureError::BadTimestamp { row: 2, column, .. } if column == "event_timestamp"),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Validation);
    let e = bad("entity_id,event_timestamp\n1,1\n");
    assert!(
        matches!(&e, FeatureError::MissingColumn { column, .. } if column == "created_timestamp"),
        "{e}"
    );
    let e = bad("entity_id,event_timestamp,created_timestamp\n1,1,1\nx,1,1\n");
    assert!(
        matches!(&e, FeatureError::BadCell { row: 2, column, .. } if column == "entity_id"),
        "{e}"
    );
    // With a declared schema: a cell of the wrong type, an unknown column.
    let def = ViewDef::new("v", "e").feature("n", FeatureType::Int);
    let e = io::view_batch(
        &csv("entity_id,event_timestamp,created_timestamp,n\n1,1,1,2\n1,2,2,2.5\n"),
        "v.csv",
        &ent,
        Some(&def),
        TimeUnit::Seconds,
    )
    .unwrap_err();
    assert!(
        matches!(&e, FeatureError::BadCell { row: 2, column, .. } if column == "n"),
        "{e}"
    );
    assert!(
        e.to_string().contains("row 2") && e.to_string().contains("\"n\""),
        "{e}"
    );
    let e = io::view_batch(
        &csv("entity_id,event_timestamp,created_timestamp,n,z\n1,1,1,2,3\n"),
        "v.csv",
        &ent,
        Some(&def),
        TimeUnit::Seconds,
    )
    .unwrap_err();
    assert!(
        matches!(&e, FeatureError::UnknownFeature { name, .. } if name == "z"),
        "{e}"
    );
}

#[test]
fn a_failed_join_leaves_the_output_file_as_it_was() {
    let s = store_with(None);
    let dir = std::env::temp_dir().join(format!("unidb-features-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("train.csv");
    std::fs::write(&out, "old\n").unwrap();
    let table = EntityTable {
        keys: vec![("other".into(), KeyColumn::Int(vec![1]))],
        timestamps: vec![1],
        labels: vec![],
    };
    let e = s
        .join_to_file(&table, &JoinOptions::default(), &out, &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, FeatureError::MissingColumn { .. }), "{e}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    assert!(unidb_common::fs::list_temps(&out).unwrap().is_empty());
    // Parquet without the feature: a typed error saying how to enable it.
    #[cfg(not(feature = "parquet"))]
    {
        let e = s
            .join_to_file(
                &EntityTable::default(),
                &JoinOptions::default(),
                &dir.join("t.parquet"),
                &mut |_| {},
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("--features parquet"), "{e}");
    }
    let good = EntityTable {
        keys: vec![("user_id".into(), KeyColumn::Int(vec![1]))],
        timestamps: vec![1_000_000_000],
        labels: vec![("y".into(), ints(&[1]))],
    };
    s.join_to_file(&good, &JoinOptions::default(), &out, &mut |_| {})
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "user_id,event_timestamp,y,v__x\n1,1970-01-01T00:00:01Z,1,\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn populated() -> FeatureStore {
    let mut s = FeatureStore::new();
    s.define_entity(EntityDef::new("u", "id", ColumnType::Text))
        .unwrap();
    s.define_view(
        ViewDef::new("v", "u")
            .feature("n", FeatureType::Int)
            .feature("f", FeatureType::Float)
            .feature("b", FeatureType::Bool)
            .feature("t", FeatureType::Text)
            .feature("e", FeatureType::Vector { dim: 3 })
            .ttl(Duration::from_nanos(40))
            .owner("me")
            .description("d"),
    )
    .unwrap();
    let n = 12;
    s.append(
        "v",
        RowBatch {
            keys: vec![(
                "id".into(),
                KeyColumn::Text((0..n).map(|i| format!("k{}", i % 4)).collect()),
            )],
            event_timestamps: (0..n as i64).map(|i| i * 7 % 30).collect(),
            created_timestamps: (0..n as i64).collect(),
            features: vec![
                ("n".into(), ints(&(0..n as i64).collect::<Vec<_>>())),
                (
                    "f".into(),
                    Column::new(ColumnData::Float((0..n).map(|i| i as f64 / 3.0).collect())),
                ),
                (
                    "b".into(),
                    Column::try_new(
                        ColumnData::Bool((0..n).map(|i| i % 2 == 0).collect()),
                        (0..n).map(|i| i % 5 != 0).collect(),
                    )
                    .unwrap(),
                ),
                (
                    "t".into(),
                    Column::new(ColumnData::Text((0..n).map(|i| format!("t{i}")).collect())),
                ),
                (
                    "e".into(),
                    Column::new(ColumnData::Vector {
                        dim: 3,
                        values: (0..3 * n).map(|i| i as f32).collect(),
                    }),
                ),
            ],
        },
    )
    .unwrap();
    s
}

fn lookups(s: &FeatureStore) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..5 {
        for at in [-1, 5, 20, 35, 80] {
            let l = s
                .get("v", &[Value::Text(format!("k{k}"))], at, Some(at + 3))
                .unwrap();
            let vals: Vec<String> = (0..5).map(|i| format!("{:?}", l.value(i))).collect();
            out.push(format!("{} {}", l.is_expired(), vals.join(" ")));
        }
    }
    out
}

#[test]
fn snapshots_round_trip_and_hostile_bytes_are_typed_errors() {
    let s = populated();
    let dir = std::env::temp_dir().join(format!("unidb-features-snap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.ufs");
    s.save(&path).unwrap();
    let back = FeatureStore::open(&path).unwrap();
    assert_eq!(lookups(&back), lookups(&s));
    assert_eq!(back.view("v").unwrap(), s.view("v").unwrap());
    assert_eq!(back.to_snapshot_bytes(), s.to_snapshot_bytes());
    std::fs::remove_dir_all(&dir).unwrap();

    let bytes = s.to_snapshot_bytes();
    // Every byte flipped, with the checksum recomputed: a typed error, or
    // (a value byte) a store that answers lookups and saves back to the
    // same bytes (the format is canonical); never a panic.
    let body = bytes.len() - 4;
    let (mut opened, mut refused) = (0, 0);
    for i in 0..body {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut b = bytes.clone();
            b[i] ^= mask;
            let crc = crc32fast::hash(&b[..body]);
            b[body..].copy_from_slice(&crc.to_le_bytes());
            match FeatureStore::from_snapshot_bytes(&b) {
                Ok(st) => {
                    opened += 1;
                    assert_eq!(st.to_snapshot_bytes(), b, "byte {i} mask {mask:#x}");
                    for v in st.views() {
                        let _ = st.get(&v.name, &[Value::from("k1")], 20, None);
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert_eq!(e.kind(), ErrorKind::CorruptData, "byte {i}: {e}");
                }
            }
        }
    }
    // Both happen: structure is checked, values are values.
    assert!(
        opened > 0 && refused > 0,
        "{opened} opened, {refused} refused"
    );
    // Truncations and a bad checksum.
    for n in 0..bytes.len() {
        assert!(
            FeatureStore::from_snapshot_bytes(&bytes[..n]).is_err(),
            "{n} bytes"
        );
    }
    let mut b = bytes.clone();
    b[20] ^= 1;
    let e = FeatureStore::from_snapshot_bytes(&b).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    // Rows out of order, checksum fixed: refused naming the problem.
    let mut b = bytes.clone();
    let crc = |b: &mut Vec<u8>| {
        let body = b.len() - 4;
        let c = crc32fast::hash(&b[..body]);
        b[body..].copy_from_slice(&c.to_le_bytes());
    };
    let pos = b.windows(8).position(|w| w == 7i64.to_le_bytes()).unwrap();
    b[pos..pos + 8].copy_from_slice(&(-1000i64).to_le_bytes());
    crc(&mut b);
    let e = FeatureStore::from_snapshot_bytes(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CorruptData, "{e}");
}

#[test]
fn nearest_neighbours_as_of_a_time_match_brute_force() {
    let mut s = FeatureStore::new();
    s.define_entity(EntityDef::new("item", "id", ColumnType::I64))
        .unwrap();
    s.define_view(
        ViewDef::new("emb", "item")
            .feature("v", FeatureType::Vector { dim: 4 })
            .ttl(Duration::from_nanos(50)),
    )
    .unwrap();
    let mut rng = SplitMix64::new(5);
    let mut rows = Vec::new();
    for i in 0..300 {
        let id = rng.below(40) as i64;
        let e = rng.below(100) as i64;
        let v: Vec<f32> = (0..4).map(|_| rng.normal() as f32).collect();
        rows.push((id, e, i as i64, v));
    }
    s.append(
        "emb",
        RowBatch {
            keys: vec![(
                "id".into(),
                KeyColumn::Int(rows.iter().map(|r| r.0).collect()),
            )],
            event_timestamps: rows.iter().map(|r| r.1).collect(),
            created_timestamps: rows.iter().map(|r| r.2).collect(),
            features: vec![(
                "v".into(),
                Column::new(ColumnData::Vector {
                    dim: 4,
                    values: rows.iter().flat_map(|r| r.3.clone()).collect(),
                }),
            )],
        },
    )
    .unwrap();
    for at in [10i64, 60, 99] {
        // Oracle: each entity's vector as of `at` by a scan, then exact l2.
        let mut latest: Vec<(i64, &Vec<f32>)> = Vec::new();
        for id in 0..40 {
            let best = rows
                .iter()
                .filter(|r| r.0 == id && r.1 <= at)
                .max_by_key(|r| (r.1, r.2));
            if let Some(r) = best.filter(|r| at - r.1 <= 50) {
                latest.push((id, &r.3));
            }
        }
        let c = s.collection_as_of("emb", "v", at, None, "l2").unwrap();
        assert_eq!(c.len(), latest.len());
        let q = [0.5f32, -0.5, 0.25, 0.0];
        let mut want: Vec<(f64, i64)> = latest
            .iter()
            .map(|(id, v)| {
                (
                    v.iter()
                        .zip(&q)
                        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                        .sum(),
                    *id,
                )
            })
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let hits = c.search_exact(&q, 5, None).unwrap();
        let got: Vec<u64> = hits
            .iter()
            .map(|h| match h.id {
                unidb_common::Id::Num(n) => n,
                _ => panic!(),
            })
            .collect();
        let want: Vec<u64> = want.iter().take(5).map(|w| w.1 as u64).collect();
        assert_eq!(got, want, "at {at}");
    }
    let e = s
        .collection_as_of("emb", "nope", 1, None, "l2")
        .unwrap_err();
    assert!(matches!(e, FeatureError::UnknownFeature { .. }));
}

#[test]
fn times_and_durations_parse_exactly() {
    assert_eq!(
        parse_time("2024-01-01T00:00:00.000000001Z", TimeUnit::Seconds),
        Some(1_704_067_200_000_000_001)
    );
    assert_eq!(
        parse_time("1704067200", TimeUnit::Seconds),
        Some(1_704_067_200_000_000_000)
    );
    assert_eq!(
        parse_time("1704067200123", TimeUnit::Millis),
        Some(1_704_067_200_123_000_000)
    );
    assert_eq!(
        parse_time("9999999999999", TimeUnit::Seconds),
        None,
        "past 2262"
    );
    assert_eq!(
        parse_time("3000-01-01T00:00:00Z", TimeUnit::Seconds),
        None,
        "past 2262"
    );
    assert_eq!(parse_time("soon", TimeUnit::Seconds), None);
    assert_eq!(
        parse_duration("1w2d").unwrap(),
        Some(9 * 86_400 * 1_000_000_000)
    );
    assert_eq!(parse_duration("0").unwrap(), Some(0));
    assert!(parse_duration("5").unwrap() == Some(5_000_000_000));
    for bad in ["", "h", "5x", "-1", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

//! The database (local writes, merging, migrations).

use std::sync::Arc;

use proptest::prelude::*;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;

use unidb_syncdb::*;

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("items", "id", ColumnType::I64)
            .column(ColumnDef::new("name", ColumnType::Text).indexed())
            .column(ColumnDef::new("price", ColumnType::F64).default_value(1.5))
            .column(ColumnDef::new("note", ColumnType::Text).nullable())
            .column(ColumnDef::new("qty", ColumnType::I64).resolver("counter"))
            .column(
                ColumnDef::new("best", ColumnType::I64)
                    .resolver("max")
                    .default_value(0i64),
            ),
    )]
}

fn db(replica: u64, clock: &ManualClock) -> Database {
    Database::open(
        ReplicaId::from_u64(replica),
        Arc::new(clock.clone()),
        &schema(),
    )
    .unwrap()
}

type Stage = Box<dyn Fn(&mut Transaction<'_>)>;
type Mutation = Box<dyn Fn(&mut Change)>;

fn key(k: i64) -> Value {
    Value::I64(k)
}

#[test]
fn insert_get_update_delete() {
    let clock = ManualClock::new(1_000);
    let d = db(1, &clock);
    d.insert("items", [("id", key(1)), ("name", "a".into())])
        .unwrap();
    let row = d.read().get("items", &key(1)).unwrap().unwrap();
    assert_eq!(row["name"], Value::from("a"));
    assert_eq!(row["price"], Value::F64(1.5));
    assert_eq!(row["note"], Value::Null);
    assert_eq!(row["qty"], Value::I64(0));
    d.update(
        "items",
        1i64,
        [("price", Value::F64(2.0)), ("qty", Value::I64(7))],
    )
    .unwrap();
    d.increment("items", 1i64, "qty", -2).unwrap();
    let row = d.read().get("items", &key(1)).unwrap().unwrap();
    assert_eq!(
        (row["price"].clone(), row["qty"].clone()),
        (Value::F64(2.0), Value::I64(5))
    );
    d.delete("items", 1i64).unwrap();
    assert!(d.read().get("items", &key(1)).unwrap().is_none());
    assert_eq!(d.read().tombstones(), 1);
    // Re-insert starts a new life: old values do not come back.
    d.insert("items", [("id", key(1)), ("name", "b".into())])
        .unwrap();
    let row = d.read().get("items", &key(1)).unwrap().unwrap();
    assert_eq!(
        (row["price"].clone(), row["qty"].clone()),
        (Value::F64(1.5), Value::I64(0))
    );
}

#[test]
fn invalid_writes_are_typed_errors_and_change_nothing() {
    let clock = ManualClock::new(1_000);
    let d = db(1, &clock);
    d.insert("items", [("id", key(1)), ("name", "a".into())])
        .unwrap();
    let before = d.read().dump();
    let log_before = d.log_len();
    let cases: Vec<(Stage, &str)> = vec![
        (
            Box::new(|t| {
                t.insert("items", [("id", key(2)), ("name", Value::I64(5))]);
            }),
            "TypeMismatch",
        ),
        (
            Box::new(|t| {
                t.insert("items", [("id", key(2)), ("name", Value::Null)]);
            }),
            "NullNotAllowed",
        ),
        (
            Box::new(|t| {
                t.insert("items", [("id", key(2))]);
            }),
            "MissingColumn",
        ),
        (
            Box::new(|t| {
                t.insert(
                    "items",
                    [("id", key(2)), ("name", "x".into()), ("nope", Value::Null)],
                );
            }),
            "UnknownColumn",
        ),
        (
            Box::new(|t| {
                t.insert("nope", [("id", key(2))]);
            }),
            "UnknownTable",
        ),
        (
            Box::new(|t| {
                t.insert("items", [("id", key(1)), ("name", "x".into())]);
            }),
            "RowExists",
        ),
        (
            Box::new(|t| {
                t.update("items", 9i64, [("name", Value::from("x"))]);
            }),
            "RowNotFound",
        ),
        (
            Box::new(|t| {
                t.update("items", 1i64, [("id", Value::I64(3))]);
            }),
            "PrimaryKeyUpdate",
        ),
        (
            Box::new(|t| {
                t.update("items", "text", [("name", Value::from("x"))]);
            }),
            "TypeMismatch",
        ),
        (
            Box::new(|t| {
                t.increment("items", 1i64, "name", 1);
            }),
            "NotACounter",
        ),
        (
            Box::new(|t| {
                t.delete("items", 7i64);
            }),
            "RowNotFound",
        ),
    ];
    for (stage, expected) in cases {
        let mut tx = d.transaction();
        // Valid writes first: they must be undone when a later one fails.
        tx.insert("items", [("id", key(50)), ("name", "ok".into())]);
        tx.update("items", 1i64, [("name", Value::from("changed"))]);
        stage(&mut tx);
        tx.delete("items", 1i64);
        let err = tx.commit().unwrap_err();
        assert!(
            format!("{err:?}").starts_with(expected),
            "{expected}: {err:?}"
        );
        assert_eq!(d.read().dump(), before, "{expected}: state changed");
        assert_eq!(d.log_len(), log_before, "{expected}: log changed");
        assert_eq!(
            d.read()
                .scan("items", &Predicate::Eq("name".into(), "ok".into()))
                .unwrap()
                .len(),
            0
        );
    }
    let err = d
        .insert("items", [("id", key(2)), ("name", Value::I64(5))])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("items") && msg.contains("name") && msg.contains('5') && msg.contains("text"),
        "{msg}"
    );
}

#[test]
fn scans_match_brute_force_and_index() {
    let clock = ManualClock::new(1_000);
    let d = db(1, &clock);
    let mut tx = d.transaction();
    for i in 0..60i64 {
        let name = format!("n{}", i % 7);
        tx.insert(
            "items",
            [
                ("id", key(i)),
                ("name", name.into()),
                ("price", Value::F64(i as f64 / 3.0)),
            ],
        );
    }
    tx.commit().unwrap();
    for i in (0..60i64).step_by(5) {
        d.delete("items", i).unwrap();
    }
    for i in (1..60i64).step_by(4) {
        d.update("items", i, [("name", Value::from("n3"))]).ok();
    }
    let all = d.read().scan("items", &Predicate::All).unwrap();
    assert_eq!(all.len(), 48);
    let preds = [
        Predicate::Eq("name".into(), "n3".into()),
        Predicate::And(vec![
            Predicate::Eq("name".into(), "n3".into()),
            Predicate::Gt("price".into(), Value::F64(5.0)),
        ]),
        Predicate::Or(vec![
            Predicate::Lt("id".into(), key(10)),
            Predicate::Ge("price".into(), Value::F64(18.0)),
        ]),
        Predicate::Ne("name".into(), "n1".into()),
        Predicate::Le("id".into(), key(3)),
        Predicate::IsNull("note".into()),
    ];
    for p in preds {
        let got = d.read().scan("items", &p).unwrap();
        let want: Vec<Row> = all
            .iter()
            .filter(|r| {
                let f = |q: &Predicate| -> bool {
                    fn ev(r: &Row, q: &Predicate) -> bool {
                        match q {
                            Predicate::All => true,
                            Predicate::Eq(c, v) => &r[c] == v,
                            Predicate::Ne(c, v) => &r[c] != v,
                            Predicate::Lt(c, v) => &r[c] < v,
                            Predicate::Le(c, v) => &r[c] <= v,
                            Predicate::Gt(c, v) => &r[c] > v,
                            Predicate::Ge(c, v) => &r[c] >= v,
                            Predicate::IsNull(c) => r[c].is_null(),
                            Predicate::And(ps) => ps.iter().all(|p| ev(r, p)),
                            Predicate::Or(ps) => ps.iter().any(|p| ev(r, p)),
                        }
                    }
                    ev(r, q)
                };
                f(&p)
            })
            .cloned()
            .collect();
        assert_eq!(got, want, "{p:?}");
    }
    assert!(d
        .read()
        .scan("items", &Predicate::Eq("zzz".into(), key(1)))
        .is_err());
}

#[test]
fn concurrent_update_cannot_resurrect_deleted_row() {
    let clock = ManualClock::new(1_000);
    let (a, b) = (db(1, &clock), db(2, &clock));
    a.insert("items", [("id", key(1)), ("name", "x".into())])
        .unwrap();
    b.apply_changes(1, &a.changes_since(&b.version_vector()))
        .unwrap();
    // Concurrently: a deletes, b updates later in time.
    a.delete("items", 1i64).unwrap();
    clock.advance(10);
    b.update("items", 1i64, [("name", Value::from("late"))])
        .unwrap();
    a.apply_changes(1, &b.changes_since(&a.version_vector()))
        .unwrap();
    b.apply_changes(1, &a.changes_since(&b.version_vector()))
        .unwrap();
    assert!(a.read().get("items", &key(1)).unwrap().is_none());
    assert_eq!(a.read().dump(), b.read().dump());
    // A re-insert after seeing the delete wins over the old life.
    b.insert("items", [("id", key(1)), ("name", "again".into())])
        .unwrap();
    a.apply_changes(1, &b.changes_since(&a.version_vector()))
        .unwrap();
    assert_eq!(
        a.read().get("items", &key(1)).unwrap().unwrap()["name"],
        Value::from("again")
    );
}

#[test]
fn concurrent_counters_and_max_merge() {
    let clock = ManualClock::new(1_000);
    let (a, b) = (db(1, &clock), db(2, &clock));
    a.insert(
        "items",
        [("id", key(1)), ("name", "x".into()), ("qty", key(10))],
    )
    .unwrap();
    b.apply_changes(1, &a.changes_since(&VersionVector::new()))
        .unwrap();
    a.increment("items", 1i64, "qty", 5).unwrap();
    a.update("items", 1i64, [("best", key(3))]).unwrap();
    b.increment("items", 1i64, "qty", -3).unwrap();
    b.increment("items", 1i64, "qty", 4).unwrap();
    clock.advance(5);
    b.update("items", 1i64, [("best", key(2))]).unwrap();
    a.apply_changes(1, &b.changes_since(&VersionVector::new()))
        .unwrap();
    b.apply_changes(1, &a.changes_since(&VersionVector::new()))
        .unwrap();
    for d in [&a, &b] {
        let row = d.read().get("items", &key(1)).unwrap().unwrap();
        assert_eq!(row["qty"], key(10 + 5 - 3 + 4));
        assert_eq!(row["best"], key(3), "max wins even though written earlier");
    }
}

#[test]
fn migrations_keep_data_and_refuse_newer_batches() {
    let clock = ManualClock::new(1_000);
    let (a, b) = (db(1, &clock), db(2, &clock));
    a.insert("items", [("id", key(1)), ("name", "x".into())])
        .unwrap();
    a.migrate(Migration::AddColumn {
        table: "items".into(),
        column: ColumnDef::new("tag", ColumnType::Text).default_value("none"),
    })
    .unwrap();
    a.migrate(Migration::RenameColumn {
        table: "items".into(),
        from: "name".into(),
        to: "title".into(),
    })
    .unwrap();
    a.insert(
        "items",
        [("id", key(2)), ("title", "y".into()), ("tag", "t".into())],
    )
    .unwrap();
    let changes = a.changes_since(&VersionVector::new());
    let err = b.apply_changes(a.schema_version(), &changes).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::SchemaTooNew {
                local: 1,
                remote: 3
            }
        ),
        "{err}"
    );
    assert!(b.read().dump()["items"].is_empty());
    // b writes under the old name while offline; then it migrates.
    b.insert("items", [("id", key(3)), ("name", "old".into())])
        .unwrap();
    let hist = a.schema().history().to_vec();
    assert_eq!(b.apply_migrations(0, &hist).unwrap(), 2);
    b.apply_changes(a.schema_version(), &changes).unwrap();
    a.apply_changes(1, &b.changes_since(&VersionVector::new()))
        .unwrap();
    assert_eq!(a.read().dump(), b.read().dump());
    let row = a.read().get("items", &key(3)).unwrap().unwrap();
    assert_eq!(
        (row["title"].clone(), row["tag"].clone()),
        ("old".into(), "none".into())
    );
    // Divergent histories are refused.
    let other = vec![Migration::DropColumn {
        table: "items".into(),
        column: "note".into(),
    }];
    let err = b.apply_migrations(1, &other).unwrap_err();
    assert!(
        matches!(err, SyncError::SchemaConflict { version: 2, .. }),
        "{err}"
    );
    a.migrate(Migration::DropColumn {
        table: "items".into(),
        column: "note".into(),
    })
    .unwrap();
    assert!(!a
        .read()
        .get("items", &key(3))
        .unwrap()
        .unwrap()
        .contains_key("note"));
}

#[test]
fn hostile_changes_are_rejected_whole() {
    let clock = ManualClock::new(1_000);
    let (a, b) = (db(1, &clock), db(2, &clock));
    a.insert("items", [("id", key(1)), ("name", "x".into())])
        .unwrap();
    let good = a.changes_since(&VersionVector::new());
    let mutate: Vec<Mutation> = vec![
        Box::new(|c| c.table = 9),
        Box::new(|c| c.key = Value::from("k")),
        Box::new(|c| c.seq = 0),
        Box::new(|c| c.cl = 0),
        Box::new(|c| {
            c.op = ChangeOp::Set {
                column: 1,
                value: Value::Bool(true),
            }
        }),
        Box::new(|c| {
            c.op = ChangeOp::Set {
                column: 99,
                value: Value::Null,
            }
        }),
        Box::new(|c| {
            c.op = ChangeOp::Set {
                column: 0,
                value: key(4),
            }
        }),
        Box::new(|c| {
            c.op = ChangeOp::Count {
                column: 1,
                inc: 1,
                dec: 0,
            }
        }),
        Box::new(|c| {
            c.op = ChangeOp::Set {
                column: 4,
                value: key(1),
            }
        }),
        Box::new(|c| {
            c.cl = 2;
            c.op = ChangeOp::Set {
                column: 1,
                value: "y".into(),
            }
        }),
    ];
    for (i, m) in mutate.iter().enumerate() {
        let mut batch = good.clone();
        m(&mut batch[good.len() - 1]);
        assert!(b.apply_changes(1, &batch).is_err(), "case {i}");
        assert_eq!(b.log_len(), 0, "case {i}");
        assert!(b.read().dump()["items"].is_empty());
    }
}

#[test]
fn clock_skew_is_rejected_with_clear_error() {
    let now = ManualClock::new(10_000_000);
    let ahead = ManualClock::new(10_000_000 + 3 * 3_600_000);
    let a = db(1, &ahead);
    let b = db(2, &now);
    a.insert("items", [("id", key(1)), ("name", "future".into())])
        .unwrap();
    let err = b
        .apply_changes(1, &a.changes_since(&VersionVector::new()))
        .unwrap_err();
    assert!(
        matches!(err, SyncError::ClockSkew { replica, .. } if replica == ReplicaId::from_u64(1)),
        "{err}"
    );
    assert!(err.to_string().contains("ahead"), "{err}");
    assert_eq!(b.log_len(), 0);
    // b's clock was not dragged forward: its next stamp is near real time.
    assert!(b.hlc().now().physical_ms() < 10_000_000 + 1_000);
}

#[test]
fn readers_never_see_half_a_transaction() {
    let clock = ManualClock::new(1_000);
    let d = db(1, &clock);
    d.insert(
        "items",
        [("id", key(1)), ("name", "x".into()), ("qty", key(100))],
    )
    .unwrap();
    d.insert(
        "items",
        [("id", key(2)), ("name", "y".into()), ("qty", key(0))],
    )
    .unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..300 {
                let mut tx = d.transaction();
                tx.increment("items", 1i64, "qty", -1);
                tx.increment("items", 2i64, "qty", 1);
                if i % 3 == 0 {
                    tx.insert("items", [("id", key(1000 + i)), ("name", "t".into())]);
                    tx.update("items", 5_000i64, [("name", Value::from("missing"))]); // fails: all undone
                    assert!(tx.commit().is_err());
                } else {
                    tx.commit().unwrap();
                }
            }
        });
        s.spawn(|| {
            for _ in 0..300 {
                let view = d.read();
                let q = |k| {
                    view.get("items", &key(k)).unwrap().unwrap()["qty"]
                        .as_i64()
                        .unwrap()
                };
                assert_eq!(q(1) + q(2), 100);
                assert_eq!(view.count("items").unwrap(), 2);
            }
        });
    });
    assert_eq!(
        d.read().get("items", &key(2)).unwrap().unwrap()["qty"],
        key(200)
    );
}

/// A random write at one of two replicas.
#[derive(Debug, Clone)]
enum W {
    Insert(u8, i64),
    Update(u8, i64),
    Delete(u8),
    Inc(u8, i64),
}

fn writes() -> impl Strategy<Value = Vec<(bool, W)>> {
    let w = prop_oneof![
        (0u8..4, -5i64..5).prop_map(|(k, v)| W::Insert(k, v)),
        (0u8..4, -5i64..5).prop_map(|(k, v)| W::Update(k, v)),
        (0u8..4).prop_map(W::Delete),
        (0u8..4, -5i64..5).prop_map(|(k, v)| W::Inc(k, v)),
    ];
    proptest::collection::vec((any::<bool>(), w), 1..25)
}

proptest! {
    /// Any permutation of a change set, with duplicates, merges to one state.
    #[test]
    fn merge_is_order_and_duplicate_independent(ops in writes(), seed in any::<u64>()) {
        let clock = ManualClock::new(1_000);
        let (a, b) = (db(1, &clock), db(2, &clock));
        for (at_a, w) in &ops {
            let d = if *at_a { &a } else { &b };
            clock.advance(1);
            let _ = match *w {
                W::Insert(k, v) => d.insert("items", [("id", key(k.into())), ("name", Value::from(format!("{v}"))), ("best", key(v))]),
                W::Update(k, v) => d.update("items", i64::from(k), [("name", Value::from(format!("u{v}"))), ("best", key(v))]),
                W::Delete(k) => d.delete("items", i64::from(k)),
                W::Inc(k, v) => d.increment("items", i64::from(k), "qty", v),
            };
        }
        let mut all = a.changes_since(&VersionVector::new());
        all.extend(b.changes_since(&VersionVector::new()));
        let reference = db(3, &clock);
        reference.apply_changes(1, &all).unwrap();
        // Shuffle deterministically from the seed, duplicate some, apply in chunks.
        let mut shuffled = all.clone();
        let mut rng = unidb_common::rng::SplitMix64::new(seed);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.index(i + 1));
        }
        let dup: Vec<Change> = shuffled.iter().step_by(3).cloned().collect();
        shuffled.extend(dup);
        let other = db(4, &clock);
        for chunk in shuffled.chunks(3) {
            other.apply_changes(1, chunk).unwrap();
        }
        prop_assert_eq!(other.read().dump(), reference.read().dump());
        prop_assert_eq!(other.version_vector(), reference.version_vector());
        // Re-applying everything changes nothing.
        prop_assert_eq!(other.apply_changes(1, &all).unwrap(), 0);
        // Two-way exchange converges to the same state.
        a.apply_changes(1, &b.changes_since(&a.version_vector())).unwrap();
        b.apply_changes(1, &a.changes_since(&b.version_vector())).unwrap();
        prop_assert_eq!(a.read().dump(), reference.read().dump());
        prop_assert_eq!(b.read().dump(), reference.read().dump());
    }
}

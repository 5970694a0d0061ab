//! Parquet out and back in, against the in-memory join as the oracle.

use std::time::Duration;

use unidb_common::value::ColumnType;

use super::super::*;
use super::*;

fn store() -> FeatureStore {
    let mut s = FeatureStore::new();
    s.define_entity(EntityDef::new("u", "id", ColumnType::I64))
        .unwrap();
    s.define_view(
        ViewDef::new("v", "u")
            .feature("n", FeatureType::Int)
            .feature("f", FeatureType::Float)
            .feature("b", FeatureType::Bool)
            .feature("t", FeatureType::Text)
            .feature("w", FeatureType::Timestamp)
            .feature("e", FeatureType::Vector { dim: 2 })
            .ttl(Duration::from_nanos(30)),
    )
    .unwrap();
    let n = 40usize;
    s.append(
        "v",
        RowBatch {
            keys: vec![(
                "id".into(),
                KeyColumn::Int((0..n as i64).map(|i| i % 7).collect()),
            )],
            event_timestamps: (0..n as i64).map(|i| i * 3 % 50).collect(),
            created_timestamps: (0..n as i64).collect(),
            features: vec![
                (
                    "n".into(),
                    Column::new(ColumnData::Int((0..n as i64).collect())),
                ),
                (
                    "f".into(),
                    Column::new(ColumnData::Float((0..n).map(|i| i as f64 / 7.0).collect())),
                ),
                (
                    "b".into(),
                    Column::try_new(
                        ColumnData::Bool((0..n).map(|i| i % 2 == 0).collect()),
                        (0..n).map(|i| i % 3 != 0).collect(),
                    )
                    .unwrap(),
                ),
                (
                    "t".into(),
                    Column::new(ColumnData::Text((0..n).map(|i| format!("t,{i}")).collect())),
                ),
                (
                    "w".into(),
                    Column::new(ColumnData::Timestamp(
                        (0..n as i64).map(|i| i * 1_000_000_007).collect(),
                    )),
                ),
                (
                    "e".into(),
                    Column::new(ColumnData::Vector {
                        dim: 2,
                        values: (0..2 * n).map(|i| i as f32 * 0.5).collect(),
                    }),
                ),
            ],
        },
    )
    .unwrap();
    s
}

#[test]
fn joins_written_as_parquet_read_back_equal_to_the_join() {
    let s = store();
    let table = EntityTable {
        keys: vec![(
            "id".into(),
            KeyColumn::Int((0..30).map(|i| i % 9).collect()),
        )],
        timestamps: (0..30).map(|i| i * 2).collect(),
        labels: vec![("y".into(), Column::new(ColumnData::Int((0..30).collect())))],
    };
    let options = JoinOptions {
        chunk_rows: 7,
        ..JoinOptions::default()
    };
    let mut want = Vec::new();
    s.join(&table, &options, |b| {
        want.push(b);
        Ok(())
    })
    .unwrap();
    let dir = std::env::temp_dir().join(format!("unidb-features-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("train.parquet");
    s.join_to_file(&table, &options, &path, &mut |_| {})
        .unwrap();
    // Read back as an entity table: the features come back as labels.
    let back = read_entities(&path, &[("id".into(), ColumnType::I64)], TimeUnit::Nanos).unwrap();
    assert_eq!(back.keys, table.keys);
    assert_eq!(back.timestamps, table.timestamps);
    let names: Vec<&str> = back.labels.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["y", "v__n", "v__f", "v__b", "v__t", "v__w", "v__e"]);
    let mut found = 0;
    for b in &want {
        for i in 0..b.len {
            for (j, c) in b.columns.iter().enumerate() {
                assert_eq!(
                    back.labels[j + 1].1.get(b.start + i),
                    c.get(i),
                    "row {} col {j}",
                    b.start + i
                );
                found += usize::from(c.get(i) != FeatureValue::Null);
            }
        }
    }
    assert!(found > 0);
    // A view file in Parquet: the join's own output has no created time.
    let e = read_view(
        &path,
        &EntityDef::new("u", "id", ColumnType::I64),
        TimeUnit::Nanos,
    )
    .unwrap_err();
    assert!(
        matches!(&e, FeatureError::MissingColumn { column, .. } if column == "created_timestamp"),
        "{e}"
    );
    // Not a Parquet file: a typed error.
    std::fs::write(dir.join("bad.parquet"), b"PAR1 nonsense").unwrap();
    assert!(read_entities(
        &dir.join("bad.parquet"),
        &[("id".into(), ColumnType::I64)],
        TimeUnit::Nanos
    )
    .is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

//! The serde forms of the data types an application stores or sends:
//! rows, schema definitions and migrations, changes and version vectors,
//! the session and simulation configurations and reports.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::sim::{batch_encode, row_workload, simulate, SimConfig};
use unidb_syncdb::*;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) -> String {
    let json = serde_json::to_string(v).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, v, "{json}");
    json
}

fn schema() -> Vec<Migration> {
    vec![
        Migration::AddTable(
            TableDef::new("items", "id", ColumnType::I64)
                .column(ColumnDef::new("name", ColumnType::Text).default_value(""))
                .column(ColumnDef::new("qty", ColumnType::I64).resolver("counter"))
                .column(ColumnDef::new("tag", ColumnType::Text).nullable().indexed()),
        ),
        Migration::AddColumn {
            table: "items".into(),
            column: ColumnDef::new("price", ColumnType::F64).default_value(0.5),
        },
        Migration::RenameColumn {
            table: "items".into(),
            from: "tag".into(),
            to: "label".into(),
        },
        Migration::DropColumn {
            table: "items".into(),
            column: "price".into(),
        },
    ]
}

/// A schema written by hand in JSON (defaults left out) is the schema the
/// builders make.
#[test]
fn schemas_load_from_hand_written_json() {
    let json = r#"[
        {"add_table": {
            "name": "items",
            "primary_key": {"name": "id", "ty": "i64"},
            "columns": [
                {"name": "name", "ty": "text", "default": {"text": ""}},
                {"name": "qty", "ty": "i64", "resolver": "counter"},
                {"name": "tag", "ty": "text", "nullable": true, "indexed": true}
            ]}},
        {"add_column": {"table": "items",
                        "column": {"name": "price", "ty": "f64", "default": {"f64": 0.5}}}},
        {"rename_column": {"table": "items", "from": "tag", "to": "label"}},
        {"drop_column": {"table": "items", "column": "price"}}
    ]"#;
    let loaded: Vec<Migration> = serde_json::from_str(json).unwrap();
    assert_eq!(loaded, schema());
    round_trip(&loaded);
    let typo = r#"{"name": "x", "ty": "i64", "nulable": true}"#;
    let e = serde_json::from_str::<ColumnDef>(typo).unwrap_err();
    assert!(e.to_string().contains("nulable"), "{e}");
}

#[test]
fn rows_changes_and_version_vectors_round_trip() {
    let clock = Arc::new(ManualClock::new(1_000));
    let db = Database::open(ReplicaId::from_u64(7), clock, &schema()).unwrap();
    db.insert(
        "items",
        [
            ("id", Value::I64(1)),
            ("name", "milk".into()),
            ("label", Value::Null),
        ],
    )
    .unwrap();
    db.increment("items", 1i64, "qty", 3).unwrap();
    db.delete("items", 1i64).unwrap();
    db.insert("items", [("id", Value::I64(2)), ("name", "oat".into())])
        .unwrap();
    let row = db.read().get("items", &Value::I64(2)).unwrap().unwrap();
    let json = round_trip(&row);
    assert!(json.contains(r#""name":{"text":"oat"}"#), "{json}");
    let changes = db.changes_since(&VersionVector::new());
    assert!(changes.len() > 5);
    round_trip(&changes);
    let vv = db.version_vector();
    assert_eq!(
        round_trip(&vv),
        format!(r#"{{"7":{}}}"#, vv.get(ReplicaId::from_u64(7)))
    );
}

#[test]
fn configs_and_reports_round_trip() {
    let cfg = SyncConfig {
        max_batch_bytes: 4096,
        codecs: Some(vec!["delta".into(), "for".into()]),
        wire_version: 2,
    };
    round_trip(&cfg);
    let sim = SimConfig {
        replicas: 3,
        ops: 30,
        seed: 9,
        ..SimConfig::default()
    };
    round_trip(&sim);
    // Left-out fields take their defaults.
    let partial: SimConfig = serde_json::from_str(r#"{"seed": 9, "ops": 30}"#).unwrap();
    assert_eq!(partial, sim);
    round_trip(&simulate(&sim).unwrap());
    round_trip(&row_workload(200, 100, 10, 1).unwrap());
    let changes = unidb_syncdb::sim::row_workload_changes(100, 50, 1).unwrap();
    round_trip(&batch_encode(&changes));
}

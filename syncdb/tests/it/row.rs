//! Typed access to the cells of rows read from a database.

use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_common::ErrorKind;
use unidb_syncdb::*;

fn db() -> Database {
    let schema = [Migration::AddTable(
        TableDef::new("items", "id", ColumnType::Text)
            .column(ColumnDef::new("qty", ColumnType::I64).resolver("counter"))
            .column(ColumnDef::new("price", ColumnType::F64).default_value(0.0))
            .column(ColumnDef::new("done", ColumnType::Bool).default_value(false))
            .column(ColumnDef::new("blob", ColumnType::Bytes).nullable())
            .column(ColumnDef::new("note", ColumnType::Text).nullable())
            .column(ColumnDef::new("at", ColumnType::Timestamp).nullable()),
    )];
    let clock = Arc::new(ManualClock::new(1_000));
    Database::open(ReplicaId::from_u64(1), clock, &schema).unwrap()
}

#[test]
fn cells_read_as_rust_types() {
    let db = db();
    db.insert(
        "items",
        [
            ("id", Value::from("a")),
            ("qty", Value::I64(2)),
            ("price", Value::F64(1.25)),
            ("done", Value::Bool(true)),
            ("blob", Value::Bytes(vec![1, 2, 3])),
            ("at", Value::Timestamp(1_700_000_000_000)),
        ],
    )
    .unwrap();
    db.increment("items", "a", "qty", 5).unwrap();
    let row = db.read().get("items", &Value::from("a")).unwrap().unwrap();
    assert_eq!(row.get::<i64>("qty").unwrap(), 7);
    assert_eq!(row.get::<f64>("price").unwrap(), 1.25);
    assert!(row.get::<bool>("done").unwrap());
    assert_eq!(row.get::<&str>("id").unwrap(), "a");
    assert_eq!(row.get::<String>("id").unwrap(), "a");
    assert_eq!(row.get::<&[u8]>("blob").unwrap(), [1, 2, 3]);
    assert_eq!(row.get::<Vec<u8>>("blob").unwrap(), vec![1, 2, 3]);
    assert_eq!(
        row.get::<Option<Vec<u8>>>("blob").unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(row.get::<Option<&str>>("note").unwrap(), None);
    assert_eq!(
        row.get::<Value>("at").unwrap(),
        Value::Timestamp(1_700_000_000_000)
    );
    assert_eq!(row.get::<&Value>("note").unwrap(), &Value::Null);
    // Every typed read agrees with the map it derefs to.
    for (name, v) in row.iter() {
        assert_eq!(row.get::<&Value>(name).unwrap(), v);
        assert_eq!(&row[name.as_str()], v);
        assert_eq!(row.value(name), Some(v));
    }
    let n: i64 = row.get("qty").unwrap();
    assert_eq!(n, 7);
}

#[test]
fn bad_reads_are_typed_errors_naming_the_column() {
    let db = db();
    db.insert("items", [("id", Value::from("a"))]).unwrap();
    let row = db.read().get("items", &Value::from("a")).unwrap().unwrap();

    let e = row.get::<i64>("qtty").unwrap_err();
    match &e {
        SyncError::NoSuchColumn { column, columns } => {
            assert_eq!(column, "qtty");
            assert_eq!(columns.len(), 7);
            assert!(columns.contains(&"qty".to_owned()));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("\"qtty\""), "{e}");

    let e = row.get::<String>("qty").unwrap_err();
    assert!(
        matches!(&e, SyncError::WrongValueType { column, expected: "text", found: "i64" } if column == "qty"),
        "{e:?}"
    );
    assert_eq!(e.kind(), ErrorKind::Validation);
    // An Option of the wrong type is still the wrong type.
    assert!(matches!(
        row.get::<Option<bool>>("price"),
        Err(SyncError::WrongValueType {
            expected: "bool",
            found: "f64",
            ..
        })
    ));
    // A timestamp is not an i64.
    assert!(matches!(
        row.get::<i64>("at"),
        Err(SyncError::NullValue { .. })
    ));

    let e = row.get::<f64>("note").unwrap_err();
    assert!(
        matches!(&e, SyncError::NullValue { column, expected: "f64" } if column == "note"),
        "{e:?}"
    );
    assert!(e.to_string().contains("Option<f64>"), "{e}");
    assert_eq!(row.get::<Option<f64>>("note").unwrap(), None);
}

#[test]
fn rows_compare_and_collect_like_maps() {
    let a: Row = [("x", Value::I64(1)), ("y", Value::from("z"))]
        .into_iter()
        .collect();
    let mut b = Row::new();
    b.insert("y", Value::from("z"));
    assert_ne!(a, b);
    b.insert("x", Value::I64(1));
    assert_eq!(a, b);
    assert_eq!(a.len(), 2);
    let map = a.clone().into_map();
    assert_eq!(Row::from(map), a);
    assert_eq!(
        a.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["x", "y"]
    );
}

//! Values and column types: their serde form (lossless, tagged by the
//! type names `ColumnType::name` gives).

use proptest::prelude::*;
use unidb_common::value::{ColumnType, Value};

const TYPES: [ColumnType; 6] = [
    ColumnType::I64,
    ColumnType::F64,
    ColumnType::Text,
    ColumnType::Bool,
    ColumnType::Bytes,
    ColumnType::Timestamp,
];

#[test]
fn column_types_serialize_as_their_names() {
    for ty in TYPES {
        let json = serde_json::to_string(&ty).unwrap();
        assert_eq!(json, format!("\"{}\"", ty.name()));
        assert_eq!(serde_json::from_str::<ColumnType>(&json).unwrap(), ty);
    }
    assert!(serde_json::from_str::<ColumnType>("\"int\"").is_err());
}

#[test]
fn values_serialize_tagged_by_type() {
    let cases = [
        (Value::Null, r#""null""#),
        (Value::I64(-3), r#"{"i64":-3}"#),
        (Value::F64(0.5), r#"{"f64":0.5}"#),
        (Value::from("milk"), r#"{"text":"milk"}"#),
        (Value::Bool(true), r#"{"bool":true}"#),
        (Value::Bytes(vec![1, 255]), r#"{"bytes":[1,255]}"#),
        (
            Value::Timestamp(1_700_000_000_000),
            r#"{"timestamp":1700000000000}"#,
        ),
    ];
    for (v, json) in cases {
        assert_eq!(serde_json::to_string(&v).unwrap(), json);
        let back: Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, v);
        // The tag is the value's column type's name.
        if let Some(ty) = v.column_type() {
            assert!(json.starts_with(&format!("{{\"{}\"", ty.name())), "{json}");
        }
    }
    // An integer and a timestamp, text and bytes, stay apart.
    assert_ne!(
        serde_json::to_string(&Value::I64(5)).unwrap(),
        serde_json::to_string(&Value::Timestamp(5)).unwrap()
    );
    for bad in [r#"{"int":1}"#, r#"{"i64":"1"}"#, r#"{"i64":1.5}"#, "3"] {
        assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::I64),
        // JSON has no NaN or infinities.
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::F64),
        ".{0,12}".prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Timestamp),
    ]
}

proptest! {
    #[test]
    fn values_round_trip_through_json(v in value()) {
        let json = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&json).unwrap();
        // Equality is the total order's: -0.0 and 0.0 differ, so this is
        // exact, bit for bit for floats.
        prop_assert_eq!(back, v);
    }
}

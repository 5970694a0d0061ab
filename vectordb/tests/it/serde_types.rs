//! serde for the public data types (the default `serde` feature): JSON
//! forms written out by hand, and round trips of values taken from a
//! working collection.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use unidb_vectordb::data::clustered;
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::*;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) -> String {
    let text = serde_json::to_string(v).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, v, "{text}");
    text
}

#[test]
fn collection_config_and_storage_have_plain_json_forms() {
    // Only the dimension and the metric are required; the rest default as
    // `CollectionConfig::new` does.
    let minimal: CollectionConfig =
        serde_json::from_value(json!({"dim": 4, "metric": "l2"})).unwrap();
    assert_eq!(minimal, CollectionConfig::new(4, "l2"));
    let full = CollectionConfig::new(8, "cosine")
        .with_storage(Storage::I8)
        .with_i8_range(-1.5, 2.0)
        .with_i8_train_rows(64);
    assert_eq!(
        serde_json::to_value(&full).unwrap(),
        json!({"dim": 8, "metric": "cosine", "allow_nan": false, "storage": "i8",
               "i8_range": [-1.5, 2.0], "i8_train_rows": 64})
    );
    round_trip(&full);
    for s in [Storage::F32, Storage::F16, Storage::I8] {
        assert_eq!(round_trip(&s), format!("\"{}\"", s.name()));
    }
    // A misspelt field is an error naming it, not silently ignored.
    let err = serde_json::from_value::<CollectionConfig>(
        json!({"dim": 4, "metric": "l2", "storge": "i8"}),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("storge"), "{err}");
    assert!(serde_json::from_value::<Storage>(json!("f64")).is_err());
}

#[test]
fn hits_metadata_quantizer_and_metrics_round_trip() {
    let dim = 4;
    let data = clustered(200, dim, 3, 0.3, 4);
    let config = CollectionConfig::new(dim, "l2")
        .with_storage(Storage::I8)
        .with_i8_train_rows(200);
    let mut c = Collection::new(config).unwrap();
    let meta = |i: usize| {
        let mut m = Metadata::new();
        m.insert("n".into(), Value::I64(i as i64));
        m.insert("w".into(), Value::F64(i as f64 / 3.0));
        m.insert("name".into(), Value::Text(format!("row {i}")));
        m.insert("odd".into(), Value::Bool(i % 2 == 1));
        m.insert("raw".into(), Value::Bytes(vec![i as u8, 0, 255]));
        m.insert("at".into(), Value::Timestamp(1_700_000_000_000 + i as i64));
        m.insert("none".into(), Value::Null);
        Some(m)
    };
    let ids: Vec<Id> = (0..200u64)
        .map(|i| {
            if i % 2 == 0 {
                Id::Num(i)
            } else {
                Id::Str(format!("s{i}"))
            }
        })
        .collect();
    c.insert_rows_with(ids, &data, (0..200).map(meta)).unwrap();
    let hits = c.search(&data[..dim], 5).unwrap();
    assert_eq!(hits.len(), 5);
    round_trip(&hits);
    // Ids are a number or a string, as `Id` serializes.
    let text = serde_json::to_value(&hits[0]).unwrap();
    assert_eq!(text["id"], json!(0));
    let odd = c.get("s1").unwrap();
    let m = odd.metadata.unwrap();
    let text = round_trip(m);
    assert!(text.contains(r#""n":{"i64":1}"#), "{text}");
    round_trip(c.quantizer().unwrap());
    let neighbors = c
        .search_slots(&data[..dim], 3, &SearchOptions::default())
        .unwrap();
    round_trip(&neighbors);
    round_trip(&c.metrics());
    // A quantizer with a field too many is refused.
    let mut q = serde_json::to_value(c.quantizer().unwrap()).unwrap();
    q["offset"] = json!(1.0);
    assert!(serde_json::from_value::<Quantizer>(q).is_err());
}

#[test]
fn index_parameters_round_trip() {
    let h = HnswConfig {
        m: 12,
        ef_construction: 99,
        parallel: false,
        ..HnswConfig::default()
    };
    round_trip(&h);
    round_trip(&HnswSearch { ef: Some(7) });
    round_trip(&IvfConfig {
        nlist: 9,
        ..IvfConfig::default()
    });
    round_trip(&IvfSearch { nprobe: Some(3) });
    // The same JSON drives an index build.
    let mut c = Collection::new(CollectionConfig::new(2, "l2")).unwrap();
    c.insert_rows(0u64..50, &clustered(50, 2, 2, 0.3, 1))
        .unwrap();
    let json = serde_json::to_value(h).unwrap();
    c.create_index("g", "hnsw", Params::json(&json)).unwrap();
    assert_eq!(c.search(&[0.0, 0.0], 3).unwrap().len(), 3);
}

//! Configuration: validation naming the field, profiles over a base,
//! JSON load and save.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use unidb_common::config::*;
use unidb_common::error::{ErrorKind, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cache {
    max_bytes: u64,
    policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Db {
    threads: u32,
    recall: f64,
    label: Option<String>,
    cache: Cache,
}

impl Validate for Cache {
    fn validate(&self) -> Result<()> {
        check_range("max_bytes", self.max_bytes, 1024..=1 << 40)?;
        check_one_of("policy", &self.policy, &["lru", "none"])
    }
}

impl Validate for Db {
    fn validate(&self) -> Result<()> {
        check_range("threads", self.threads, 1..=64)?;
        check_range("recall", self.recall, 0.0..=1.0)?;
        check(
            self.label.as_deref() != Some(""),
            "label",
            "label must not be empty",
        )?;
        validate_nested("cache", &self.cache)
    }
}

fn base() -> Db {
    Db {
        threads: 8,
        recall: 0.95,
        label: None,
        cache: Cache {
            max_bytes: 1 << 30,
            policy: "lru".into(),
        },
    }
}

#[test]
fn validation_errors_name_field_and_range() {
    let mut d = base();
    d.threads = 0;
    let e = d.validate().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(e.location(), Some("threads"));
    assert_eq!(e.message(), "0 is outside the allowed range 1..=64");

    let mut d = base();
    d.cache.max_bytes = 10;
    let e = d.validate().unwrap_err();
    assert_eq!(e.location(), Some("cache.max_bytes"));
    assert!(e.message().contains("1024..=1099511627776"));

    let mut d = base();
    d.cache.policy = "fifo".into();
    let e = d.validate().unwrap_err();
    assert_eq!(e.location(), Some("cache.policy"));
    assert_eq!(e.message(), "\"fifo\" is not one of lru, none");

    let mut d = base();
    d.recall = f64::NAN;
    assert_eq!(d.validate().unwrap_err().location(), Some("recall"));
}

#[test]
fn json_type_errors_name_the_field_path() {
    let text = r#"{"threads": 4, "recall": 0.5, "label": null,
                   "cache": {"max_bytes": "big", "policy": "lru"}}"#;
    let e = from_json_str::<Db>(text, "db.json").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(e.location(), Some("cache.max_bytes"));
    assert!(e.to_string().contains("while reading db.json"));
    let e = from_json_str::<Db>("{\"threads\": 4", "x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    // Parses but fails validation.
    let text = r#"{"threads": 100, "recall": 0.5, "label": null,
                   "cache": {"max_bytes": 4096, "policy": "lru"}}"#;
    let e = from_json_str::<Db>(text, "db.json").unwrap_err();
    assert_eq!(e.location(), Some("threads"));
    assert!(e.to_string().contains("while validating db.json"));
}

#[test]
fn json_values_parse_with_field_paths_and_validate() {
    let ok = json!({"threads": 4, "recall": 0.5, "label": null,
                    "cache": {"max_bytes": 4096, "policy": "lru"}});
    let mut expect = base();
    expect.threads = 4;
    expect.recall = 0.5;
    expect.cache.max_bytes = 4096;
    assert_eq!(from_json_value::<Db>(ok.clone()).unwrap(), expect);
    let mut wrong_type = ok.clone();
    wrong_type["cache"]["policy"] = json!(7);
    let e = from_json_value::<Db>(wrong_type).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(e.location(), Some("cache.policy"));
    let mut invalid = ok;
    invalid["cache"]["policy"] = json!("fifo");
    let e = from_json_value::<Db>(invalid).unwrap_err();
    assert_eq!(e.location(), Some("cache.policy"));
    assert_eq!(e.message(), "\"fifo\" is not one of lru, none");
    let defaults = serde_json::to_value(base()).unwrap();
    assert_eq!(unknown_field(&defaults, &json!({"threads": 1})), None);
    assert_eq!(
        unknown_field(&defaults, &json!({"cache": {"policy": "x", "ttl": 1}})).as_deref(),
        Some("cache.ttl")
    );
    assert_eq!(unknown_field(&defaults, &json!([1])), None);
}

#[test]
fn profiles_merge_nested_and_reject_typos_and_bad_values() {
    let p = Profiles::new(&base())
        .unwrap()
        .with_profile(
            "low-power",
            json!({"threads": 1, "cache": {"max_bytes": 4096}, "label": "lp"}),
        )
        .unwrap();
    let lp = p.resolve("low-power").unwrap();
    let mut expect = base();
    expect.threads = 1;
    expect.cache.max_bytes = 4096;
    expect.label = Some("lp".into());
    assert_eq!(lp, expect);
    assert_eq!(p.resolve("base").unwrap(), base());
    assert_eq!(p.names().collect::<Vec<_>>(), ["low-power"]);

    let mut p2 = p.clone();
    let e = p2
        .add_profile("typo", json!({"cache": {"max_bytse": 1}}))
        .unwrap_err();
    assert_eq!(e.location(), Some("cache.max_bytse"));
    let e = p2.add_profile("bad", json!({"threads": 999})).unwrap_err();
    assert_eq!(e.location(), Some("threads"));
    assert!(e.to_string().contains("applying profile \"bad\""));
    let e = p2
        .add_profile("wrong-type", json!({"threads": "x"}))
        .unwrap_err();
    assert_eq!(e.location(), Some("threads"));
    assert!(p2.add_profile("arr", json!([1])).is_err());
    assert_eq!(p2, p, "failed adds must not change the profiles");

    let e = p.resolve("turbo").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("base, low-power"));
}

#[test]
fn profiles_file_round_trip() {
    let dir = std::env::temp_dir().join(format!("unidb-common-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("profiles.json");
    let p = Profiles::new(&base())
        .unwrap()
        .with_profile("low-power", json!({"threads": 2}))
        .unwrap()
        .with_profile("no-cache", json!({"cache": {"policy": "none"}}))
        .unwrap();
    p.save(&path).unwrap();
    let back = Profiles::<Db>::load(&path).unwrap();
    assert_eq!(back, p);
    for name in ["base", "low-power", "no-cache"] {
        assert_eq!(back.resolve(name).unwrap(), p.resolve(name).unwrap());
    }
    // A hand-edited file with a bad profile is rejected on load, naming it.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"threads\": 2", "\"threads\": 0");
    std::fs::write(&path, text).unwrap();
    let e = Profiles::<Db>::load(&path).unwrap_err();
    assert_eq!(e.location(), Some("threads"));
    assert!(e.to_string().contains("low-power"));

    let cfg_path = dir.join("db.json");
    save_json(&cfg_path, &base()).unwrap();
    assert_eq!(load_json::<Db>(&cfg_path).unwrap(), base());
    let e = load_json::<Db>(dir.join("missing.json")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.location().unwrap().ends_with("missing.json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Independent model of the merge: the value at every path of the merged
/// document is the overlay's if the overlay reaches that path through
/// objects only, else the base's.
fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}

fn leaf_paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                prefix.push(k.clone());
                leaf_paths(x, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

proptest! {
    #[test]
    fn merge_json_matches_path_model(base in json_value(), overlay in json_value()) {
        let mut merged = base.clone();
        merge_json(&mut merged, &overlay);
        let mut paths = Vec::new();
        leaf_paths(&merged, &mut Vec::new(), &mut paths);
        for p in paths {
            let got = lookup(&merged, &p);
            // Walk the overlay: if some prefix of p hits a non-object in the
            // overlay, that overlay value wins wholesale.
            let mut expect = None;
            for i in 0..=p.len() {
                match lookup(&overlay, &p[..i]) {
                    Some(Value::Object(_)) if i < p.len() => continue,
                    // A non-object overlay value replaces the base wholesale, so
                    // the merged document cannot reach below it.
                    Some(v) => { expect = (i == p.len()).then(|| v.clone()); break; }
                    None => { expect = lookup(&base, &p).cloned(); break; }
                }
            }
            prop_assert_eq!(got.cloned(), expect, "path {:?}", p);
        }
        // Merging the same overlay again changes nothing (idempotent).
        let mut twice = merged.clone();
        merge_json(&mut twice, &overlay);
        prop_assert_eq!(twice, merged);
    }
}

//! The exact set of built-in plugins of every kind. A plugin the linker
//! drops, or a new one nobody listed here, fails this test.

use unidb_codec::Codec;
use unidb_registry::PluginKind;
use unidb_syncdb::Resolver;
use unidb_vectordb::{IndexPlugin, MetricPlugin, TransformPlugin};

/// Names of the plugins of kind `T` defined by `krate`, sorted.
fn defined_by<T: PluginKind>(krate: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = T::registry()
        .list()
        .into_iter()
        .filter(|p| p.info().crate_name == krate)
        .map(|p| p.info().name)
        .collect();
    names.sort_unstable();
    names
}

#[test]
fn builtin_plugins_are_exactly_these() {
    assert_eq!(
        defined_by::<MetricPlugin>("unidb-vectordb"),
        ["cosine", "hamming", "ip", "jaccard", "l1", "l2"]
    );
    assert_eq!(
        defined_by::<IndexPlugin>("unidb-vectordb"),
        ["flat", "hnsw", "ivf"]
    );
    assert_eq!(
        defined_by::<TransformPlugin>("unidb-vectordb"),
        ["center", "l2norm", "pca", "projection", "rotation"]
    );
    assert_eq!(
        defined_by::<Resolver>("unidb-syncdb"),
        ["counter", "lww", "max", "min"]
    );
    assert_eq!(
        defined_by::<Codec>("unidb-codec"),
        [
            "ans",
            "bss",
            "decimal",
            "decimal_ulp",
            "delta",
            "dict",
            "dod",
            "f32",
            "fbits",
            "for",
            "front",
            "fsst",
            "gcd",
            "gorilla",
            "huff",
            "linear",
            "lz4",
            "one",
            "plain",
            "rle",
            "svb",
            "varint"
        ]
    );
}

#[test]
fn every_registry_validates() {
    assert_eq!(MetricPlugin::registry().validate(), Ok(()));
    assert_eq!(IndexPlugin::registry().validate(), Ok(()));
    assert_eq!(TransformPlugin::registry().validate(), Ok(()));
    assert_eq!(Resolver::registry().validate(), Ok(()));
    assert_eq!(Codec::registry().validate(), Ok(()));
}

#[test]
fn unknown_names_list_the_known_ones() {
    let err = MetricPlugin::registry().get("no-such-metric").unwrap_err();
    let msg = err.to_string();
    for known in ["cosine", "l2", "jaccard"] {
        assert!(msg.contains(known), "{msg}");
    }
    assert!(
        Codec::registry().get("PLAIN").is_ok(),
        "lookup is case-insensitive"
    );
}

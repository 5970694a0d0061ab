//! Typed plugin parameters: an index registered from this crate receives
//! its own build and search parameters (typed, by name, or defaults), and
//! unknown or invalid parameters are typed errors naming the key, for it
//! and for the built-in indexes.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::json;
use unidb_common::config::{check, check_range, Validate};
use unidb_common::ErrorKind;
use unidb_registry::{plugin_info, submit, PluginKind};
use unidb_vectordb::data::clustered;
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::*;

use crate::util::{collection_of, l2_f64};

/// Build parameters of the test index: it indexes every `stride`-th slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StrideConfig {
    stride: u32,
}

impl Default for StrideConfig {
    fn default() -> Self {
        StrideConfig { stride: 1 }
    }
}

impl Validate for StrideConfig {
    fn validate(&self) -> unidb_common::Result<()> {
        check_range("stride", self.stride, 1..=64)
    }
}

/// Search parameters of the test index: only slots in `range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StrideSearch {
    range: Window,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Window {
    from: u32,
    to: u32,
}

impl Default for StrideSearch {
    fn default() -> Self {
        StrideSearch {
            range: Window {
                from: 0,
                to: u32::MAX,
            },
        }
    }
}

impl Validate for StrideSearch {
    fn validate(&self) -> unidb_common::Result<()> {
        check(
            self.range.from <= self.range.to,
            "range",
            format!("from {} is after to {}", self.range.from, self.range.to),
        )
    }
}

#[derive(Debug)]
struct StrideIndex {
    config: StrideConfig,
}

const NAME: &str = "stride-test";

impl VectorIndex for StrideIndex {
    fn kind(&self) -> &'static str {
        NAME
    }

    fn build(&mut self, _: &VectorData<'_>) -> Result<()> {
        Ok(())
    }

    fn insert(&mut self, _: &VectorData<'_>, _: u32) -> Result<()> {
        Ok(())
    }

    fn search(
        &self,
        data: &VectorData<'_>,
        query: &[f32],
        k: usize,
        params: Params<'_>,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<Neighbor>> {
        let p = params.get::<StrideSearch>(NAME)?;
        let end = (data.slots() as u64).min(u64::from(p.range.to)) as u32;
        let slots: Vec<u32> = (p.range.from..end)
            .filter(|s| s % self.config.stride == 0 && data.accepts(*s, filter))
            .collect();
        let mut d = vec![0.0; slots.len()];
        data.distances(query, &slots, &mut d);
        let mut top = TopK::new(k);
        for (&slot, distance) in slots.iter().zip(d) {
            top.push(Neighbor { distance, slot });
        }
        Ok(top.into_sorted())
    }

    fn save(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.config.stride.to_le_bytes());
    }
}

fn create(params: Params<'_>) -> Result<Box<dyn VectorIndex>> {
    let config = params.get::<StrideConfig>(NAME)?.into_owned();
    Ok(Box::new(StrideIndex { config }))
}

fn load(bytes: &[u8], _slots: usize) -> Result<Box<dyn VectorIndex>> {
    let stride = bytes
        .try_into()
        .map(u32::from_le_bytes)
        .map_err(|_| VectorError::Corrupt(format!("{NAME}: {} bytes", bytes.len())))?;
    let config = StrideConfig { stride };
    config
        .validate()
        .map_err(|e| VectorError::Corrupt(format!("{NAME}: {e}")))?;
    Ok(Box::new(StrideIndex { config }))
}

submit!(IndexPlugin::new::<StrideConfig, StrideSearch>(
    plugin_info!(NAME, "every stride-th slot, exactly"),
    create,
    load,
));

/// The oracle: f64 distances over every live `stride`-th slot in
/// `from..to`, closest first, ties by slot.
fn oracle(data: &[f32], dim: usize, q: &[f32], stride: u32, from: u32, to: u32) -> Vec<u32> {
    let mut all: Vec<(f64, u32)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| (l2_f64(q, r), i as u32))
        .filter(|&(_, s)| s % stride == 0 && (from..to).contains(&s))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(5).map(|e| e.1).collect()
}

fn slots_of(c: &Collection, q: &[f32], index: &str, params: Params<'_>) -> Result<Vec<u32>> {
    let options = SearchOptions {
        index: Some(index),
        params,
        filter: None,
        k_factor: None,
    };
    Ok(c.search_slots(q, 5, &options)?
        .into_iter()
        .map(|n| n.slot)
        .collect())
}

#[test]
fn an_index_from_another_crate_receives_its_own_parameters() {
    let (n, dim) = (300, 4);
    let data = clustered(n, dim, 5, 0.4, 31);
    let mut c = collection_of(&data, dim, "l2");
    let by_name = json!({"stride": 3});
    c.create_index("by-name", NAME, Params::json(&by_name))
        .unwrap();
    c.create_index("typed", NAME, Params::typed(&StrideConfig { stride: 7 }))
        .unwrap();
    c.create_index("default", NAME, Params::defaults()).unwrap();
    let narrow = StrideSearch {
        range: Window { from: 40, to: 200 },
    };
    let upper = json!({"range": {"from": 150}});
    for q in data.chunks_exact(dim).step_by(37) {
        for (index, stride) in [("by-name", 3), ("typed", 7), ("default", 1)] {
            let all = slots_of(&c, q, index, Params::defaults()).unwrap();
            assert_eq!(all, oracle(&data, dim, q, stride, 0, u32::MAX), "{index}");
            let typed = slots_of(&c, q, index, Params::typed(&narrow)).unwrap();
            assert_eq!(typed, oracle(&data, dim, q, stride, 40, 200), "{index}");
            // By name, the other fields keep their defaults.
            let named = slots_of(&c, q, index, Params::json(&upper)).unwrap();
            assert_eq!(named, oracle(&data, dim, q, stride, 150, u32::MAX));
        }
    }
    // The parameters travel with the index through a saved file.
    let reopened = persist::from_bytes(&persist::to_bytes(&c)).unwrap();
    let q = &data[..dim];
    assert_eq!(
        slots_of(&reopened, q, "typed", Params::typed(&narrow)).unwrap(),
        oracle(&data, dim, q, 7, 40, 200)
    );
    // The plugin declares its parameter types: their defaults, by name.
    let plugin = IndexPlugin::registry().get(NAME).unwrap();
    assert_eq!((plugin.build_params)().unwrap(), json!({"stride": 1}));
    assert_eq!(
        (plugin.search_params)().unwrap(),
        json!({"range": {"from": 0, "to": u32::MAX}})
    );
}

/// The key an error names, or a panic naming the error.
fn key_of(e: &VectorError) -> &str {
    match e {
        VectorError::UnknownParam { key, .. } | VectorError::InvalidParam { key, .. } => key,
        other => panic!("expected a parameter error, got {other}"),
    }
}

#[test]
fn unknown_and_invalid_parameters_are_typed_errors_naming_the_key() {
    let data = clustered(50, 2, 2, 0.3, 3);
    let mut c = collection_of(&data, 2, "l2");
    let create = |c: &mut Collection, kind: &str, v: serde_json::Value| {
        c.create_index("x", kind, Params::json(&v)).unwrap_err()
    };
    // Build parameters, of the plugin from this crate and of the built-ins.
    let e = create(&mut c, NAME, json!({"strid": 2}));
    assert!(
        matches!(&e, VectorError::UnknownParam { plugin, key, known }
            if plugin == NAME && key == "strid" && *known == ["stride"]),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(
        e.to_string(),
        "stride-test has no parameter \"strid\" (its parameters: stride)"
    );
    let e = create(&mut c, NAME, json!({"stride": 0}));
    assert!(matches!(&e, VectorError::InvalidParam { reason, .. } if reason.contains("1..=64")));
    assert_eq!((key_of(&e), e.kind()), ("stride", ErrorKind::Configuration));
    assert_eq!(
        key_of(&create(&mut c, NAME, json!({"stride": "3"}))),
        "stride"
    );
    assert_eq!(
        key_of(&create(&mut c, NAME, json!({"stride": -1}))),
        "stride"
    );
    let e = create(&mut c, "hnsw", json!({"m": 1}));
    assert!(
        matches!(&e, VectorError::InvalidParam { plugin, reason, .. }
        if plugin == "hnsw" && reason.contains("2..=1000"))
    );
    assert_eq!(key_of(&e), "m");
    assert_eq!(
        key_of(&create(&mut c, "hnsw", json!({"ef_search": 0}))),
        "ef_search"
    );
    assert_eq!(
        key_of(&create(&mut c, "hnsw", json!({"parallel": 1}))),
        "parallel"
    );
    assert_eq!(key_of(&create(&mut c, "ivf", json!({"nlist": 0}))), "nlist");
    assert_eq!(key_of(&create(&mut c, "ivf", json!({"ef": 10}))), "ef");
    let e = create(&mut c, "flat", json!({"nprobe": 2}));
    assert!(matches!(&e, VectorError::UnknownParam { known, .. } if known.is_empty()));
    // A typed value of another plugin's type: read by name, so its first
    // field the plugin lacks is named.
    let e = c
        .create_index("x", "ivf", Params::typed(&HnswConfig::default()))
        .unwrap_err();
    assert_eq!(key_of(&e), "ef_construction");
    // A typed value of the plugin's own type is validated too.
    let bad = IvfConfig {
        nprobe: 0,
        ..IvfConfig::default()
    };
    let e = c.create_index("x", "ivf", Params::typed(&bad)).unwrap_err();
    assert_eq!(key_of(&e), "nprobe");
    // Not an object.
    let e = create(&mut c, "hnsw", json!([1, 2]));
    assert!(matches!(e, VectorError::InvalidConfig(_)), "{e}");
    assert_eq!(c.index_names(), Vec::<String>::new(), "nothing attached");

    // Search parameters: nested keys are named by their path.
    c.create_index("s", NAME, Params::defaults()).unwrap();
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    c.create_index("i", "ivf", Params::defaults()).unwrap();
    let search = |c: &Collection, index: &str, v: serde_json::Value| {
        slots_of(c, &[0.0, 0.0], index, Params::json(&v)).unwrap_err()
    };
    assert_eq!(
        key_of(&search(&c, "s", json!({"range": {"form": 1}}))),
        "range.form"
    );
    assert_eq!(
        key_of(&search(&c, "s", json!({"range": {"to": -1}}))),
        "range.to"
    );
    let e = search(&c, "s", json!({"range": {"from": 9, "to": 3}}));
    assert!(matches!(&e, VectorError::InvalidParam { reason, .. } if reason.contains("after")));
    assert_eq!(key_of(&e), "range");
    assert_eq!(key_of(&search(&c, "g", json!({"nprobe": 4}))), "nprobe");
    assert_eq!(key_of(&search(&c, "g", json!({"ef": "wide"}))), "ef");
    assert_eq!(key_of(&search(&c, "i", json!({"ef": 4}))), "ef");
    let hnsw_params = HnswSearch { ef: Some(10) };
    let e = slots_of(&c, &[0.0, 0.0], "i", Params::typed(&hnsw_params)).unwrap_err();
    assert!(matches!(&e, VectorError::UnknownParam { plugin, .. } if plugin == "ivf"));
    // Exact search without an index takes no parameters.
    let bare = collection_of(&data, 2, "l2");
    let options = SearchOptions {
        params: Params::typed(&hnsw_params),
        ..SearchOptions::default()
    };
    assert_eq!(
        key_of(&bare.search_with(&[0.0, 0.0], 1, &options).unwrap_err()),
        "ef"
    );
}

/// Parameters given by name, typed, or left at their defaults give the
/// same results, and a typed value of the plugin's own type is read in
/// place (not parsed).
#[test]
fn typed_named_and_default_parameters_agree() {
    let (n, dim) = (400, 8);
    let data = clustered(n, dim, 6, 0.3, 17);
    let mut c = collection_of(&data, dim, "l2");
    // Serial builds: a parallel build's graph depends on thread timing,
    // and the two graphs are compared result for result.
    let hnsw = HnswConfig {
        m: 8,
        ef_search: 24,
        parallel: false,
        ..HnswConfig::default()
    };
    let ivf = IvfConfig {
        nlist: 16,
        nprobe: 3,
        ..IvfConfig::default()
    };
    c.create_index("g-typed", "hnsw", Params::typed(&hnsw))
        .unwrap();
    let named = json!({"m": 8, "ef_search": 24, "parallel": false});
    c.create_index("g-named", "hnsw", Params::json(&named))
        .unwrap();
    c.create_index("i-typed", "ivf", Params::typed(&ivf))
        .unwrap();
    let named = json!({"nlist": 16, "nprobe": 3});
    c.create_index("i-named", "ivf", Params::json(&named))
        .unwrap();
    let ef24 = HnswSearch { ef: Some(24) };
    let ef24_named = json!({"ef": 24});
    let probe3 = IvfSearch { nprobe: Some(3) };
    let probe3_named = json!({"nprobe": 3});
    for q in data.chunks_exact(dim).step_by(23) {
        let g = slots_of(&c, q, "g-typed", Params::defaults()).unwrap();
        assert_eq!(g, slots_of(&c, q, "g-named", Params::defaults()).unwrap());
        assert_eq!(g, slots_of(&c, q, "g-typed", Params::typed(&ef24)).unwrap());
        assert_eq!(
            g,
            slots_of(&c, q, "g-named", Params::json(&ef24_named)).unwrap()
        );
        let i = slots_of(&c, q, "i-typed", Params::defaults()).unwrap();
        assert_eq!(i, slots_of(&c, q, "i-named", Params::defaults()).unwrap());
        assert_eq!(
            i,
            slots_of(&c, q, "i-typed", Params::typed(&probe3)).unwrap()
        );
        assert_eq!(
            i,
            slots_of(&c, q, "i-named", Params::json(&probe3_named)).unwrap()
        );
    }
    assert!(matches!(
        Params::typed(&ef24).get::<HnswSearch>("hnsw").unwrap(),
        Cow::Borrowed(p) if *p == ef24
    ));
    assert_eq!(
        *Params::json(&ef24_named).get::<HnswSearch>("hnsw").unwrap(),
        ef24
    );
    assert_eq!(
        *Params::defaults().get::<HnswConfig>("hnsw").unwrap(),
        HnswConfig::default()
    );
    // The declared defaults are the parameter types' defaults.
    let plugin = IndexPlugin::registry().get("ivf").unwrap();
    assert_eq!(
        (plugin.build_params)().unwrap(),
        serde_json::to_value(IvfConfig::default()).unwrap()
    );
    assert_eq!((plugin.search_params)().unwrap(), json!({"nprobe": null}));
    let flat = IndexPlugin::registry().get("flat").unwrap();
    assert_eq!((flat.build_params)().unwrap(), json!({}));
}

/// Index settings as named profiles over a base (common's `Profiles`):
/// each resolves to the plugin's own parameter type, and a profile that
/// misspells a parameter or sets a bad value is refused when added,
/// naming it.
#[test]
fn index_settings_from_named_profiles() {
    use unidb_common::config::Profiles;

    let base = HnswConfig {
        m: 12,
        ..HnswConfig::default()
    };
    let profiles = Profiles::new(&base)
        .unwrap()
        .with_profile("fast", json!({"ef_construction": 40, "ef_search": 16}))
        .unwrap()
        .with_profile("accurate", json!({"m": 32, "ef_search": 256}))
        .unwrap();
    let data = clustered(200, 4, 4, 0.3, 5);
    let mut c = collection_of(&data, 4, "l2");
    for name in ["base", "fast", "accurate"] {
        let config = profiles.resolve(name).unwrap();
        c.create_index(name, "hnsw", Params::typed(&config))
            .unwrap();
    }
    let fast = profiles.resolve("fast").unwrap();
    assert_eq!((fast.m, fast.ef_construction, fast.ef_search), (12, 40, 16));
    assert_eq!(profiles.resolve("accurate").unwrap().m, 32);
    let text = profiles.to_json_string().unwrap();
    let back = Profiles::<HnswConfig>::from_json_str(&text).unwrap();
    assert_eq!(
        back.resolve("accurate").unwrap(),
        profiles.resolve("accurate").unwrap()
    );
    let e = profiles
        .clone()
        .with_profile("typo", json!({"ef_serach": 8}))
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.location()),
        (ErrorKind::Configuration, Some("ef_serach"))
    );
    let e = profiles.with_profile("bad", json!({"m": 1})).unwrap_err();
    assert_eq!(e.location(), Some("m"));
}

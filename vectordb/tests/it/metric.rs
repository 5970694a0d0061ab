//! Metric plugins: the built-in names, distances against scalar f64
//! oracles, and a metric registered at run time used by every index.

use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::*;

use crate::util::{collection_of, l2_f64};

// ---------- registry ----------

#[test]
fn builtin_metric_and_index_names() {
    let builtin = ["cosine", "hamming", "ip", "jaccard", "l1", "l2"];
    let metrics: Vec<&str> = Metric::names()
        .into_iter()
        .filter(|n| {
            Metric::by_name(n).unwrap().plugin().info.crate_name == "unidb-vectordb"
                && Metric::by_name(n)
                    .unwrap()
                    .plugin()
                    .info
                    .module
                    .starts_with("unidb_vectordb::metric")
        })
        .collect();
    assert_eq!(metrics, builtin);
    // Built-ins are defined by the library (this test binary registers
    // an index of its own, under the same package name).
    let indexes: Vec<&str> = IndexPlugin::names()
        .into_iter()
        .filter(|n| {
            let info = <IndexPlugin as unidb_registry::PluginKind>::registry()
                .get(n)
                .unwrap()
                .info;
            info.crate_name == "unidb-vectordb" && info.module.starts_with("unidb_vectordb::")
        })
        .collect();
    assert_eq!(indexes, ["flat", "hnsw", "ivf"]);
    assert!(<MetricPlugin as unidb_registry::PluginKind>::registry()
        .validate()
        .is_ok());
    assert!(matches!(
        Metric::by_name("nope"),
        Err(VectorError::Registry(_))
    ));
}

// ---------- metrics ----------

#[test]
fn metrics_match_scalar_oracles() {
    let mut rng = Rng::new(3);
    for len in [1usize, 3, 8, 17, 64, 130] {
        let a: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = (0..len).map(|_| rng.normal() as f32).collect();
        let dot: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
        let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum();
        let l1: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
            .sum();
        let tol = 1e-4 * (1.0 + len as f64);
        let m = |n: &str| f64::from(Metric::by_name(n).unwrap().distance(&a, &b));
        assert!((m("l2") - l2_f64(&a, &b)).abs() < tol);
        assert!((m("ip") + dot).abs() < tol);
        assert!((m("cosine") - (1.0 - dot / (na * nb).sqrt())).abs() < 1e-4);
        assert!((m("l1") - l1).abs() < tol);
        // The one-to-many form agrees with the single form.
        for name in ["l2", "ip", "cosine", "l1"] {
            let metric = Metric::by_name(name).unwrap();
            let rows: Vec<f32> = [a.clone(), b.clone(), a.clone()].concat();
            let mut out = [0.0f32; 3];
            metric.distance_many(&a, &rows, &mut out);
            for (o, r) in out.iter().zip(rows.chunks_exact(len)) {
                assert!(
                    (o - metric.distance(&a, r)).abs() <= 1e-4 * (1.0 + o.abs()),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn binary_metrics_count_bits_aligned_or_not() {
    let mut rng = Rng::new(9);
    for bits in [1usize, 31, 64, 100, 257] {
        let x: Vec<bool> = (0..bits).map(|_| rng.index(2) == 1).collect();
        let y: Vec<bool> = (0..bits).map(|_| rng.index(3) == 1).collect();
        let diff = x.iter().zip(&y).filter(|(a, b)| a != b).count();
        let inter = x.iter().zip(&y).filter(|(a, b)| **a && **b).count();
        let union = x.iter().zip(&y).filter(|(a, b)| **a || **b).count();
        let jac = if union == 0 {
            0.0
        } else {
            1.0 - inter as f64 / union as f64
        };
        let (a, b) = (pack_bits(&x), pack_bits(&y));
        let h = Metric::by_name("hamming").unwrap();
        let j = Metric::by_name("jaccard").unwrap();
        assert_eq!(h.distance(&a, &b), diff as f32);
        assert!((f64::from(j.distance(&a, &b)) - jac).abs() < 1e-6);
        // An odd-length (unaligned) view takes the 32-bit path: same counts.
        let mut a2 = vec![0.0f32];
        a2.extend_from_slice(&a);
        let mut b2 = vec![0.0f32];
        b2.extend_from_slice(&b);
        assert_eq!(h.distance(&a2[1..], &b2[1..]), diff as f32);
        assert!((f64::from(j.distance(&a2[1..], &b2[1..])) - jac).abs() < 1e-6);
    }
    assert_eq!(words_to_f32(&[u64::MAX]).len(), 2);
    // Binary collections accept NaN bit patterns.
    let mut c = Collection::new(CollectionConfig::new(2, "hamming")).unwrap();
    c.insert(1u64, &[f32::NAN, 0.0], None).unwrap();
}

// ---------- user metric inside the crate (runtime registration) ----------

#[test]
fn runtime_registered_metric_works_in_every_index() {
    fn l2_twice(a: &[f32], b: &[f32]) -> f32 {
        2.0 * a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>()
    }
    let reg = <MetricPlugin as unidb_registry::PluginKind>::registry();
    reg.register(MetricPlugin::new(
        unidb_registry::PluginInfo::new("l2-twice-unit", "2·l2", "tests", "tests"),
        l2_twice,
    ))
    .unwrap();
    let data = clustered(500, 8, 5, 0.3, 2);
    let mut c = collection_of(&data, 8, "l2-twice-unit");
    c.create_index("h", "hnsw", Params::defaults()).unwrap();
    c.create_index("i", "ivf", Params::defaults()).unwrap();
    let q = &data[..8];
    for index in ["h", "i"] {
        let hits = c
            .search_with(
                q,
                3,
                &SearchOptions {
                    index: Some(index),
                    ..SearchOptions::default()
                },
            )
            .unwrap();
        assert_eq!(hits[0].id, Id::Num(0));
        assert_eq!(hits[0].distance, 0.0);
    }
}

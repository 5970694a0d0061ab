//! sq4 storage (4-bit scalar codes, two per byte) against independent
//! oracles: ranges and levels written out from their definition (min/max
//! and numpy-style quantiles computed here), f64 distances over the
//! decoded rows, and f64 brute force over the inserted f32 vectors for
//! recall, for each of `l2`, `ip` and `cosine`.

use unidb_registry::PluginKind;
use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::*;

use crate::util::{patch_crc, tmp_path};

fn dist_f64(metric: &str, a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    match metric {
        "l2" => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        "ip" => -dot,
        "l1" => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
        "cosine" => {
            let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
            let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
            match (na == 0.0, nb == 0.0) {
                (true, true) => 0.0,
                (true, false) | (false, true) => 1.0,
                _ => (1.0 - dot / (na * nb)).clamp(0.0, 2.0),
            }
        }
        other => panic!("no oracle for {other}"),
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// The ids of the `k` nearest rows of `data` to `q` (f64 brute force on
/// the f32 vectors).
fn truth(metric: &str, data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<Id> {
    let q = f64s(q);
    let mut all: Vec<(f64, u64)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| (dist_f64(metric, &q, &f64s(r)), i as u64))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all[..k].iter().map(|&(_, i)| Id::Num(i)).collect()
}

/// numpy's `quantile` (linear interpolation) on a sorted copy.
fn np_quantile(values: &[f32], q: f64) -> f64 {
    let mut v = f64s(values);
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * q;
    let j = h.floor() as usize;
    let g = h - j as f64;
    if j + 1 < v.len() {
        v[j] + g * (v[j + 1] - v[j])
    } else {
        v[j]
    }
}

/// The value dimension `j` stores for `x`, from the definition: 16 levels
/// `lo + c · (hi − lo) / 15`, the nearest one, clamped to the range.
fn level(lo: f64, hi: f64, x: f32) -> f64 {
    let step = (hi - lo) / 15.0;
    let c = ((f64::from(x) - lo) / step).round().clamp(0.0, 15.0);
    lo + c * step
}

/// Rows with one wide, one narrow and one offset dimension per triple,
/// norms varying by a factor of ~10 (inner product must keep them).
fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let base = clustered(n, dim, 12, 0.15, seed);
    let mut rng = Rng::new(seed ^ 0xabc);
    let mut out = Vec::with_capacity(base.len());
    for r in base.chunks_exact(dim) {
        let s = 0.3 + 3.0 * rng.f64() as f32;
        for (j, &x) in r.iter().enumerate() {
            out.push(match j % 3 {
                0 => x * s,
                1 => x * s * 0.01,
                _ => x * s + 5.0,
            });
        }
    }
    out
}

fn sq4(dim: usize, metric: &str, data: &[f32], quantile: Option<f32>, refine: bool) -> Collection {
    let mut config = CollectionConfig::new(dim, metric)
        .with_storage(Storage::Sq4)
        .with_refine(refine)
        .with_i8_train_rows(data.len() / dim);
    config.sq4_quantile = quantile;
    let mut c = Collection::new(config).unwrap();
    c.insert_rows(0..(data.len() / dim) as u64, data).unwrap();
    assert!(!c.is_awaiting_training());
    c
}

/// Ranges are each dimension's min and max (or its quantiles), rows hold
/// exactly the nearest level (clamped beyond a quantile range), a row
/// takes `⌈dim/2⌉` bytes, and every distance an exact search returns is
/// the metric between the f32 query and the decoded row (f64, within f32
/// accumulation error), ranked as f64 brute force over the decoded rows.
#[test]
fn sq4_rows_are_the_nearest_levels_and_distances_are_to_decoded_rows() {
    for dim in [9, 16] {
        let n = 300;
        let data = rows(n, dim, dim as u64);
        for quantile in [None, Some(0.05)] {
            let ranges: Vec<(f64, f64)> = (0..dim)
                .map(|j| {
                    let col: Vec<f32> = data.iter().skip(j).step_by(dim).copied().collect();
                    match quantile {
                        None => (np_quantile(&col, 0.0), np_quantile(&col, 1.0)),
                        Some(q) => (
                            np_quantile(&col, f64::from(q)),
                            np_quantile(&col, 1.0 - f64::from(q)),
                        ),
                    }
                })
                .collect();
            for metric in ["l2", "ip", "cosine", "l1"] {
                let c = sq4(dim, metric, &data, quantile, false);
                assert_eq!(c.bytes_per_vector(), dim.div_ceil(2));
                assert_eq!(c.vector_bytes(), n * dim.div_ceil(2));
                let q = c.sq4_quantizer().unwrap();
                for (j, &(lo, hi)) in ranges.iter().enumerate() {
                    let top = f64::from(q.lo[j]) + 15.0 * f64::from(q.step[j]);
                    assert!((f64::from(q.lo[j]) - lo).abs() <= 1e-5 * (1.0 + lo.abs()));
                    assert!(
                        (top - hi).abs() <= 1e-4 * (1.0 + hi.abs()),
                        "{j}: {top} {hi}"
                    );
                }
                let decoded: Vec<Vec<f64>> = data
                    .chunks_exact(dim)
                    .map(|r| {
                        r.iter()
                            .enumerate()
                            .map(|(j, &x)| level(ranges[j].0, ranges[j].1, x))
                            .collect()
                    })
                    .collect();
                for (i, d) in decoded.iter().enumerate() {
                    let got = c.get(i as u64).unwrap().vector;
                    for (j, (&g, &want)) in got.iter().zip(d).enumerate() {
                        let step = (ranges[j].1 - ranges[j].0) / 15.0;
                        // Equal up to f32 rounding; at a tie between
                        // two levels either may be taken.
                        let pos = (f64::from(data[i * dim + j]) - ranges[j].0) / step;
                        let tie = (pos - pos.floor() - 0.5).abs() < 1e-3;
                        let diff = (f64::from(g) - want).abs();
                        assert!(
                            diff <= step * 1e-3 + 1e-6 || tie && diff <= step * 1.001,
                            "row {i} dim {j}: {g} vs {want}"
                        );
                    }
                }
                for qi in [0, 77, 150] {
                    let query = &data[qi * dim..(qi + 1) * dim];
                    let qf = f64s(query);
                    let hits = c.search_exact(query, 8, None).unwrap();
                    let mut oracle: Vec<f64> =
                        decoded.iter().map(|d| dist_f64(metric, &qf, d)).collect();
                    oracle.sort_by(f64::total_cmp);
                    for (h, o) in hits.iter().zip(&oracle) {
                        let Id::Num(id) = h.id else { panic!() };
                        let mine = dist_f64(metric, &qf, &decoded[id as usize]);
                        let scale: f64 = 1e-4 * (1.0 + mine.abs() + o.abs());
                        assert!((f64::from(h.distance) - mine).abs() <= scale, "{metric}");
                        assert!((mine - o).abs() <= scale, "{metric}: ranked as brute force");
                    }
                }
            }
        }
    }
}

/// A search run: name, index, parameters, `k_factor`, least recall.
type Run<'a> = (&'a str, Option<&'a str>, Params<'a>, Option<f32>, f64);

/// Recall@10 against f64 brute force over the f32 vectors, for `l2`,
/// `ip` and `cosine`, through flat, HNSW and IVF on the codes, and with
/// the originals kept: exact re-scoring of `10 · 10` candidates.
#[test]
fn sq4_recall_for_every_metric_and_index() {
    let (dim, n, nq) = (24, 3000, 40);
    let data = rows(n, dim, 5);
    let queries = rows(nq, dim, 99);
    for metric in ["l2", "ip", "cosine"] {
        let mut c = sq4(dim, metric, &data, None, true);
        let hnsw = HnswConfig {
            m: 12,
            ..HnswConfig::default()
        };
        c.create_index("g", "hnsw", Params::typed(&hnsw)).unwrap();
        let ivf = IvfConfig {
            nlist: 16,
            ..IvfConfig::default()
        };
        c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
        c.create_index("f", "flat", Params::defaults()).unwrap();
        let ef = HnswSearch { ef: Some(64) };
        let nprobe = IvfSearch { nprobe: Some(16) };
        // 16 levels per dimension cannot order near neighbours inside a
        // cluster finely (FAISS's SQ4 is in the same range): the codes
        // alone must find a fair share, re-scoring 10 · 10 candidates on
        // the originals nearly all.
        let runs: [Run<'_>; 6] = [
            ("flat", Some("f"), Params::defaults(), Some(1.0), 0.3),
            ("flat+rflat", Some("f"), Params::defaults(), Some(10.0), 0.9),
            ("hnsw", Some("g"), Params::typed(&ef), Some(1.0), 0.25),
            (
                "hnsw+rflat",
                Some("g"),
                Params::typed(&ef),
                Some(10.0),
                0.85,
            ),
            ("ivf", Some("i"), Params::typed(&nprobe), Some(1.0), 0.3),
            (
                "ivf+rflat",
                Some("i"),
                Params::typed(&nprobe),
                Some(10.0),
                0.9,
            ),
        ];
        for (name, index, params, k_factor, least) in runs {
            let mut hit = 0;
            for q in queries.chunks_exact(dim) {
                let want = truth(metric, &data, dim, q, 10);
                let opts = SearchOptions {
                    index,
                    params,
                    filter: None,
                    k_factor,
                };
                let got: Vec<Id> = c
                    .search_with(q, 10, &opts)
                    .unwrap()
                    .into_iter()
                    .map(|h| h.id)
                    .collect();
                hit += want.iter().filter(|w| got.contains(w)).count();
            }
            let recall = hit as f64 / (10 * nq) as f64;
            eprintln!("sq4 {metric} {name}: recall@10 {recall:.3}");
            assert!(
                recall >= least,
                "{metric} {name}: recall@10 {recall} < {least}"
            );
        }
    }
}

/// `SQ4`, `IVF{n},SQ4` and `HNSW{M},SQ4` (with and without `RFlat`)
/// build sq4 collections; the originals make `get` exact.
#[test]
fn sq4_factory_strings_build_sq4_collections() {
    let dim = 8;
    let data = rows(400, dim, 3);
    for (s, index) in [
        ("SQ4", "flat"),
        ("IVF8,SQ4", "ivf"),
        ("HNSW8,SQ4", "hnsw"),
        ("IVF8,SQ4,RFlat", "ivf"),
    ] {
        let mut c = Collection::from_factory(dim, "ip", s).unwrap();
        assert_eq!(c.storage(), Storage::Sq4, "{s}");
        assert_eq!(c.index_names(), vec![index.to_owned()]);
        c.train(&data).unwrap();
        c.insert_rows(0..400u64, &data).unwrap();
        c.rebuild_index(index).unwrap();
        assert_eq!(c.bytes_per_vector(), 4);
        let exact = s.ends_with("RFlat");
        assert_eq!(c.refine_bytes(), if exact { 400 * dim * 4 } else { 0 });
        let v = c.get(5u64).unwrap().vector;
        assert_eq!(exact, v.as_ref() == &data[5 * dim..6 * dim], "{s}");
        let hits = c.search(&data[..dim], 5).unwrap();
        assert_eq!(hits.len(), 5);
    }
}

/// NaN, infinities and bad options are typed errors; values beyond the
/// trained range are stored clamped (the storage is lossy) and found.
#[test]
fn sq4_errors_are_typed() {
    let dim = 4;
    let config = |metric: &str| CollectionConfig::new(dim, metric).with_storage(Storage::Sq4);
    assert!(matches!(
        Collection::new(config("hamming")),
        Err(VectorError::InvalidConfig(_))
    ));
    let mut nan = config("l2");
    nan.allow_nan = true;
    assert!(matches!(
        Collection::new(nan),
        Err(VectorError::InvalidConfig(_))
    ));
    for bad in [-0.1f32, 0.5, f32::NAN] {
        let mut c = config("l2");
        c.sq4_quantile = Some(bad);
        assert!(matches!(
            Collection::new(c),
            Err(VectorError::InvalidConfig(_))
        ));
    }
    let mut c = Collection::new(config("l2").with_i8_train_rows(2)).unwrap();
    let err = c.insert(0u64, &[0.0, f32::INFINITY, 0.0, 0.0], None);
    assert!(matches!(
        err,
        Err(VectorError::OutOfRange {
            position: 1,
            storage: Storage::Sq4,
            ..
        })
    ));
    c.insert_rows(0..2u64, &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
        .unwrap();
    assert!(!c.is_awaiting_training());
    assert!(matches!(c.train(&[]), Err(VectorError::InvalidConfig(_))));
    c.insert(2u64, &[9.0, 9.0, 9.0, 9.0], None).unwrap();
    assert_eq!(c.get(2u64).unwrap().vector.as_ref(), &[1.0; 4]);
    // The distance is to the decoded row: ‖9 − 1‖² per dimension.
    assert_eq!(c.search(&[9.0; 4], 1).unwrap()[0].distance, 256.0);
}

/// Saved and opened (mapped): the same quantizer, configuration and
/// answers from every index, and the same bytes after the same insert;
/// every byte flipped (checksum recomputed) is refused or opens into a
/// collection whose searches work; a corrupt quantizer is named.
#[test]
fn sq4_collections_persist_and_refuse_crafted_bytes() {
    let dim = 7;
    let data = rows(300, dim, 8);
    for (metric, quantile, refine) in [("l2", None, true), ("cosine", Some(0.01), false)] {
        let mut c = sq4(dim, metric, &data, quantile, refine);
        c.create_index("g", "hnsw", Params::defaults()).unwrap();
        let ivf = IvfConfig {
            nlist: 4,
            ..IvfConfig::default()
        };
        c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
        c.delete(3u64).unwrap();
        let path = tmp_path(&format!("sq4-{metric}"));
        c.save(&path).unwrap();
        let o = Collection::open(&path).unwrap();
        assert!(o.is_mapped());
        assert_eq!(o.sq4_quantizer(), c.sq4_quantizer());
        assert_eq!(o.config(), c.config());
        for q in data.chunks_exact(dim).step_by(31) {
            for index in [None, Some("g"), Some("i")] {
                let opts = SearchOptions {
                    index,
                    k_factor: Some(3.0),
                    ..SearchOptions::default()
                };
                assert_eq!(
                    c.search_with(q, 5, &opts).unwrap(),
                    o.search_with(q, 5, &opts).unwrap()
                );
            }
        }
        let mut o = o;
        o.insert(1000u64, &data[..dim], None).unwrap();
        c.insert(1000u64, &data[..dim], None).unwrap();
        assert_eq!(persist::to_bytes(&o), persist::to_bytes(&c));
        std::fs::remove_file(&path).unwrap();
    }
    let small = sq4(dim, "l2", &data[..30 * dim], None, false);
    let bytes = persist::to_bytes(&small);
    assert_eq!(bytes[56], 4, "the sq4 row tag");
    assert_eq!(&bytes[8..12], &persist::VERSION.to_le_bytes());
    for i in (64..bytes.len()).filter(|i| *i != 56) {
        for flip in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            patch_crc(&mut b);
            if let Ok(c) = persist::from_bytes(&b) {
                let hits = c.search(&data[..dim], 5).unwrap();
                assert!(hits
                    .windows(2)
                    .all(|w| w[0].distance <= w[1].distance || w[1].distance.is_nan()));
            }
        }
    }
    // A step of zero (the last step of the quantizer, written as f32
    // after the `lo`s) is named.
    let q = small.sq4_quantizer().unwrap();
    let mut tail: Vec<u8> = q.lo.iter().flat_map(|v| v.to_le_bytes()).collect();
    tail.extend(q.step.iter().flat_map(|v| v.to_le_bytes()));
    let at = bytes
        .windows(tail.len())
        .position(|w| w == tail.as_slice())
        .expect("the quantizer is stored");
    let mut b = bytes.clone();
    let last = at + tail.len() - 4;
    b[last..last + 4].copy_from_slice(&0.0f32.to_le_bytes());
    patch_crc(&mut b);
    assert!(matches!(
        persist::from_bytes(&b),
        Err(VectorError::Corrupt(ref w)) if w.contains("sq4")
    ));
    let _ = IndexPlugin::registry();
}

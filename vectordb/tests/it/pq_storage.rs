//! pq storage in collections (codes as rows, optional originals for an
//! exact re-score) against independent oracles: f64 brute force over the
//! inserted vectors, and the public `ProductQuantizer` encoder/decoder.

use unidb_registry::PluginKind;
use unidb_vectordb::data::clustered;
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::quant::pq::PqConfig;
use unidb_vectordb::*;

use crate::util::{patch_crc, tmp_path};

fn dist_f64(metric: &str, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        "l2" => a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum(),
        _ => -a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum::<f64>(),
    }
}

/// The ids of the `k` nearest rows of `data` to `q` (f64 brute force).
fn truth(metric: &str, data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<Id> {
    let mut all: Vec<(f64, u64)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| (dist_f64(metric, q, r), i as u64))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    all[..k].iter().map(|&(_, i)| Id::Num(i)).collect()
}

fn pq_config(m: usize, nbits: u32) -> PqConfig {
    PqConfig {
        m,
        nbits,
        iterations: 10,
        ..PqConfig::default()
    }
}

fn pq_collection(
    dim: usize,
    metric: &str,
    m: usize,
    nbits: u32,
    refine: bool,
    data: &[f32],
) -> Collection {
    let config = CollectionConfig::new(dim, metric)
        .with_pq(pq_config(m, nbits))
        .with_refine(refine)
        .with_i8_train_rows(data.len() / dim);
    let mut c = Collection::new(config).unwrap();
    c.insert_rows(0..(data.len() / dim) as u64, data).unwrap();
    assert!(!c.is_awaiting_training());
    c
}

/// Rows are the codes of the public encoder: `get` returns exactly the
/// decoded codes of the inserted vector (without refine), every distance
/// is the metric between the query and that decoded vector (f64, within
/// f32 accumulation error), and rows take `m` or `⌈m/2⌉` bytes.
#[test]
fn pq_rows_are_the_encoders_codes_and_distances_are_to_decoded_vectors() {
    let dim = 12;
    let data = clustered(600, dim, 8, 0.2, 3);
    for (m, nbits) in [(4, 8), (3, 4), (6, 4)] {
        for metric in ["l2", "ip"] {
            let c = pq_collection(dim, metric, m, nbits, false, &data);
            let pq = c.product_quantizer().unwrap().clone();
            assert_eq!(
                c.bytes_per_vector(),
                if nbits == 4 { m.div_ceil(2) } else { m }
            );
            assert_eq!(c.vector_bytes(), 600 * c.bytes_per_vector());
            let decoded: Vec<Vec<f32>> = data
                .chunks_exact(dim)
                .map(|r| pq.decode(&pq.encode(r).unwrap()).unwrap())
                .collect();
            for (i, d) in decoded.iter().enumerate().step_by(37) {
                assert_eq!(
                    &*c.get(i as u64).unwrap().vector,
                    &d[..],
                    "{m}x{nbits} row {i}"
                );
            }
            let q = &clustered(1, dim, 8, 0.2, 99)[..];
            let hits = c.search_exact(q, 600, None).unwrap();
            assert_eq!(hits.len(), 600);
            for h in &hits {
                let Id::Num(i) = h.id else { panic!() };
                let want = dist_f64(metric, q, &decoded[i as usize]);
                let mag: f64 = q
                    .iter()
                    .zip(&decoded[i as usize])
                    .map(|(x, y)| {
                        (f64::from(*x) * f64::from(*y)).abs()
                            + f64::from(*x).powi(2)
                            + f64::from(*y).powi(2)
                    })
                    .sum();
                assert!(
                    (f64::from(h.distance) - want).abs() <= 1e-5 * mag + 1e-6,
                    "{m}x{nbits} {metric}"
                );
            }
            assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        }
    }
}

/// With refine, candidates from the codes are re-scored on the kept
/// originals: returned distances are the exact metric (f64 oracle), and
/// flat, HNSW and IVF over 8-bit and 4-bit codes reach recall@10 ≥ 0.95
/// against brute force over the inserted vectors with `k_factor` 10
/// (without re-scoring, recall is lower: the test checks re-scoring is
/// what helps).
#[test]
fn refine_rescores_candidates_exactly_and_lifts_recall() {
    let (dim, n, k) = (32, 3000, 10);
    let all = clustered(n + 40, dim, 30, 0.25, 11);
    let (data, queries) = all.split_at(n * dim);
    for (metric, m, nbits) in [("l2", 8, 8), ("l2", 16, 4), ("ip", 8, 8)] {
        let mut c = pq_collection(dim, metric, m, nbits, true, data);
        assert_eq!(c.refine_bytes(), n * dim * 4);
        c.create_index("hnsw", "hnsw", Params::typed(&HnswConfig::default()))
            .unwrap();
        c.create_index(
            "ivf",
            "ivf",
            Params::typed(&IvfConfig {
                nlist: 32,
                ..IvfConfig::default()
            }),
        )
        .unwrap();
        let hnsw = HnswSearch { ef: Some(100) };
        let ivf = IvfSearch { nprobe: Some(8) };
        for (index, params) in [
            (None, Params::defaults()),
            (Some("hnsw"), Params::typed(&hnsw)),
            (Some("ivf"), Params::typed(&ivf)),
        ] {
            let index_name = index.unwrap_or("exact");
            let (mut refined, mut raw, mut total) = (0, 0, 0);
            for q in queries.chunks_exact(dim) {
                let want = truth(metric, data, dim, q, k);
                let options = |k_factor| SearchOptions {
                    index: index.or(Some("none")).filter(|i| *i != "none"),
                    params,
                    filter: None,
                    k_factor,
                };
                // The exact search has no index: use a collection view without one.
                let hits = if index.is_none() {
                    let mut o = options(Some(10.0));
                    o.index = None;
                    c.search_with(q, k, &SearchOptions { index: None, ..o })
                } else {
                    c.search_with(q, k, &options(Some(10.0)))
                }
                .unwrap();
                assert_eq!(hits.len(), k);
                for h in &hits {
                    let Id::Num(i) = h.id else { panic!() };
                    let row = &data[i as usize * dim..(i as usize + 1) * dim];
                    let exact = dist_f64(metric, q, row);
                    assert!(
                        (f64::from(h.distance) - exact).abs() <= 1e-4 * exact.abs().max(1.0),
                        "{metric} {index_name}"
                    );
                }
                refined += hits.iter().filter(|h| want.contains(&h.id)).count();
                if let Some(i) = index {
                    let plain = c
                        .search_with(
                            q,
                            k,
                            &SearchOptions {
                                index: Some(i),
                                params,
                                filter: None,
                                k_factor: None,
                            },
                        )
                        .unwrap();
                    raw += plain.iter().filter(|h| want.contains(&h.id)).count();
                }
                total += k;
            }
            let recall = refined as f64 / total as f64;
            assert!(
                recall >= 0.95,
                "{metric} {m}x{nbits} {index_name}: recall {recall}"
            );
            if index.is_some() {
                assert!(
                    raw <= refined,
                    "{metric} {m}x{nbits} {index_name}: {raw} > {refined}"
                );
            }
        }
        // The exact search runs over the originals: it is exact.
        let q = &queries[..dim];
        let exact: Vec<Id> = c
            .search_exact(q, k, None)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(exact, truth(metric, data, dim, q, k));
        // `get` returns the original values.
        assert_eq!(&*c.get(17u64).unwrap().vector, &data[17 * dim..18 * dim]);
        let bad = SearchOptions {
            k_factor: Some(0.5),
            ..SearchOptions::default()
        };
        assert!(c.search_with(q, k, &bad).is_err());
    }
}

/// Rows wait as f32 until training (by row count or `train`), and the
/// configuration's errors are typed.
#[test]
fn pq_training_and_configuration_errors() {
    let dim = 8;
    let data = clustered(400, dim, 5, 0.2, 2);
    let config = CollectionConfig::new(dim, "l2")
        .with_pq(pq_config(4, 4))
        .with_i8_train_rows(10_000);
    let mut c = Collection::new(config.clone()).unwrap();
    c.insert_rows(0u64..400, &data).unwrap();
    assert!(c.is_awaiting_training() && c.product_quantizer().is_none());
    assert_eq!(c.bytes_per_vector(), dim * 4);
    assert_eq!(c.search(&data[..dim], 1).unwrap()[0].distance, 0.0);
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    c.train(&[]).unwrap();
    assert_eq!(c.bytes_per_vector(), 2);
    assert!(c.train(&[]).is_err(), "trained twice");
    // The index was rebuilt over the codes: the query's own row is first.
    let hit = &c.search(&data[5 * dim..6 * dim], 1).unwrap()[0];
    let pq = c.product_quantizer().unwrap();
    let own = pq
        .decode(&pq.encode(&data[5 * dim..6 * dim]).unwrap())
        .unwrap();
    assert!(f64::from(hit.distance) <= dist_f64("l2", &data[5 * dim..6 * dim], &own) + 1e-5);
    // Too few rows to train 4-bit codes (16 centroids): a typed error.
    let mut few = Collection::new(config.clone()).unwrap();
    few.insert_rows(0u64..5, &data[..5 * dim]).unwrap();
    assert!(matches!(few.train(&[]), Err(VectorError::InvalidConfig(_))));
    assert!(matches!(
        few.train(&data[..dim + 1]),
        Err(VectorError::WrongDimension { .. })
    ));
    let mut inf = data[..dim * 20].to_vec();
    inf[3] = f32::INFINITY;
    assert!(matches!(
        few.train(&inf),
        Err(VectorError::OutOfRange { .. })
    ));
    assert!(few.insert(99u64, &inf[..dim], None).is_err());
    let bad = |c: CollectionConfig| Collection::new(c).is_err();
    assert!(bad(
        CollectionConfig::new(dim, "cosine").with_pq(pq_config(4, 8))
    ));
    assert!(bad(
        CollectionConfig::new(dim, "l2").with_pq(pq_config(3, 8))
    ));
    assert!(bad(
        CollectionConfig::new(dim, "l2").with_pq(pq_config(4, 5))
    ));
    assert!(bad(
        CollectionConfig::new(dim, "l2").with_storage(Storage::Pq)
    ));
    let mut f32c = Collection::new(CollectionConfig::new(dim, "l2")).unwrap();
    assert!(f32c.train(&[]).is_err());
}

/// Saved and opened (codes and originals mapped in place), a pq
/// collection answers identically; a write after opening copies both.
/// Every single byte flip with the checksum recomputed is refused or
/// opens into a collection whose searches still return sorted results,
/// never a panic.
#[test]
fn pq_collections_persist_and_refuse_crafted_bytes() {
    let dim = 8;
    let data = clustered(300, dim, 5, 0.2, 8);
    for (m, nbits, refine) in [(4, 8, true), (2, 4, false), (4, 4, true)] {
        let mut c = pq_collection(dim, "l2", m, nbits, refine, &data);
        c.create_index(
            "g",
            "hnsw",
            Params::typed(&HnswConfig {
                m: 4,
                ..HnswConfig::default()
            }),
        )
        .unwrap();
        c.create_index(
            "i",
            "ivf",
            Params::typed(&IvfConfig {
                nlist: 4,
                ..IvfConfig::default()
            }),
        )
        .unwrap();
        c.delete(3u64).unwrap();
        let path = tmp_path(&format!("pq-{m}x{nbits}-{refine}"));
        c.save(&path).unwrap();
        let o = Collection::open(&path).unwrap();
        assert!(o.is_mapped());
        assert_eq!(o.product_quantizer(), c.product_quantizer());
        assert_eq!(o.config(), c.config());
        for q in data.chunks_exact(dim).step_by(29) {
            for index in [None, Some("g"), Some("i")] {
                let opts = SearchOptions {
                    index,
                    k_factor: Some(4.0),
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
    // Crafted bytes: a small collection, every byte flipped once.
    let small = pq_collection(dim, "l2", 2, 4, true, &data[..40 * dim]);
    let bytes = persist::to_bytes(&small);
    assert_eq!(bytes[56], 3, "the pq row tag");
    let q = &data[..dim];
    for i in (64..bytes.len()).filter(|i| *i != 56) {
        for flip in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            patch_crc(&mut b);
            if let Ok(c) = persist::from_bytes(&b) {
                let opts = SearchOptions {
                    k_factor: Some(2.0),
                    ..SearchOptions::default()
                };
                let hits = c.search_with(q, 5, &opts).unwrap();
                assert!(hits
                    .windows(2)
                    .all(|w| w[0].distance <= w[1].distance || w[1].distance.is_nan()));
                let all = c.search_exact_batch(q, c.len(), None).unwrap();
                assert_eq!(all[0].len(), c.len(), "byte {i}: every live row found");
            }
        }
    }
    // A non-finite refine original (with the checksum recomputed) is
    // refused on open: inserts never store one, and searches would drop it.
    let row0: Vec<u8> = data[..dim].iter().flat_map(|v| v.to_le_bytes()).collect();
    let at = bytes
        .windows(row0.len())
        .position(|w| w == row0.as_slice())
        .expect("row 0's original is stored");
    for bad in [f32::NAN, f32::INFINITY] {
        let mut b = bytes.clone();
        b[at + 4..at + 8].copy_from_slice(&bad.to_le_bytes());
        patch_crc(&mut b);
        assert!(
            matches!(persist::from_bytes(&b), Err(VectorError::Corrupt(ref w)) if w.contains("non-finite")),
            "{bad}"
        );
    }
    let _ = IndexPlugin::registry();
}

/// IVF over 4-bit pq codes scans each list in the fast-scan layout: with
/// every list probed, the `k` it keeps are the `k` smallest estimates
/// `bias + Σ luts / scale` of the public quantized table (computed here,
/// code by code, on the encoder's codes), each returned at its exact
/// table distance; inserts after the build land in the blocks too; with
/// the originals kept, re-scoring lifts recall over f64 brute force.
#[test]
fn ivf_on_4bit_pq_selects_by_the_quantized_table_and_returns_exact_distances() {
    use unidb_vectordb::quant::pq::PqDistance;
    let dim = 16;
    let data = clustered(1200, dim, 8, 0.3, 21);
    for metric in ["l2", "ip"] {
        let mut c = pq_collection(dim, metric, 8, 4, false, &data[..1000 * dim]);
        let ivf = IvfConfig {
            nlist: 8,
            ..IvfConfig::default()
        };
        c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
        // 200 more rows after the build: appended to the blocks.
        c.insert_rows(1000..1200u64, &data[1000 * dim..]).unwrap();
        let pq = c.product_quantizer().unwrap().clone();
        let all = IvfSearch { nprobe: Some(8) };
        for q in data.chunks_exact(dim).step_by(97) {
            let distance = PqDistance::for_metric(metric).unwrap();
            let table = pq.table(q, distance).unwrap();
            let fast = table.quantize().unwrap();
            let luts = fast.luts();
            let est: Vec<f32> = data
                .chunks_exact(dim)
                .map(|r| {
                    let codes = pq.encode(r).unwrap();
                    let sum = codes.iter().enumerate().fold(0u16, |s, (j, &c)| {
                        s.saturating_add(u16::from(luts[j * 16 + usize::from(c)]))
                    });
                    fast.estimate(sum)
                })
                .collect();
            let mut sorted = est.clone();
            sorted.sort_by(f32::total_cmp);
            let kth = sorted[9];
            let opts = SearchOptions {
                index: Some("i"),
                params: Params::typed(&all),
                ..SearchOptions::default()
            };
            let hits = c.search_with(q, 10, &opts).unwrap();
            assert_eq!(hits.len(), 10);
            for h in &hits {
                let Id::Num(i) = h.id else { panic!() };
                let i = i as usize;
                assert!(
                    est[i] <= kth,
                    "{metric}: id {i} estimate {} > {kth}",
                    est[i]
                );
                let codes = pq.encode(&data[i * dim..(i + 1) * dim]).unwrap();
                let exact = table.distance(&codes);
                assert!((h.distance - exact).abs() <= 1e-4 * (1.0 + exact.abs()));
            }
            assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        }
    }
    // With the originals: `IVF…,PQ…x4fs,RFlat` on clustered data.
    let mut c = pq_collection(dim, "l2", 8, 4, true, &data);
    let ivf = IvfConfig {
        nlist: 8,
        ..IvfConfig::default()
    };
    c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
    let probe = IvfSearch { nprobe: Some(4) };
    let (mut hit, mut total) = (0, 0);
    for q in data.chunks_exact(dim).step_by(31) {
        let want = truth("l2", &data, dim, q, 10);
        let opts = SearchOptions {
            index: Some("i"),
            params: Params::typed(&probe),
            k_factor: Some(8.0),
            ..SearchOptions::default()
        };
        let got: Vec<Id> = c
            .search_with(q, 10, &opts)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        hit += want.iter().filter(|w| got.contains(w)).count();
        total += 10;
    }
    let recall = hit as f64 / total as f64;
    eprintln!("IVF8,PQ8x4fs,RFlat nprobe 4 k_factor 8: recall@10 {recall:.3}");
    assert!(recall >= 0.9, "recall@10 {recall}");
}

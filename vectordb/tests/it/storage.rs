//! f16 and i8 storage against independent oracles: hand-written encoders
//! and f64 distances over the decoded vectors.

use unidb_kernels::f16::{f16_to_f32, f32_to_f16};
use unidb_registry::PluginKind;
use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::*;

use crate::util::{dataset, gt_recall, patch_crc, slots, tmp_path};

// ---------- oracles ----------

/// The f16 value of `x` as the storage keeps it (round to nearest half,
/// finite values saturating at ±65504).
fn half(x: f32) -> f64 {
    f64::from(f16_to_f32(f32_to_f16(x.clamp(-65504.0, 65504.0))))
}

/// The i8 value of `x` in dimension `j` under `q`, written out from the
/// definition `offset_j + scale_j · round((x − offset_j) / scale_j)` (the
/// code must fit in ±127: nothing is clamped).
fn dequant(q: &Quantizer, j: usize, x: f32) -> f64 {
    let code = ((f64::from(x) - f64::from(q.offsets[j])) / f64::from(q.scales[j])).round();
    assert!(code.abs() <= 127.0, "{x} does not fit dimension {j}");
    f64::from(q.offsets[j]) + f64::from(q.scales[j]) * code
}

/// The query an i8 search measures from, written out from its
/// definition: `u_j = (x_j − offset_j) · scale_j`, one step `t = max|u| /
/// 127` (rounded to f32), codes `round(u_j / t)`, and back
/// `offset_j + code · t / scale_j`.
fn query_dequant(q: &Quantizer, x: &[f32]) -> Vec<f64> {
    let u: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(j, &v)| (f64::from(v) - f64::from(q.offsets[j])) * f64::from(q.scales[j]))
        .collect();
    let largest = u.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let t = if largest > 0.0 {
        f64::from((largest / 127.0) as f32)
    } else {
        1.0
    };
    u.iter()
        .enumerate()
        .map(|(j, v)| {
            let code = (v / t).round().clamp(-127.0, 127.0);
            f64::from(q.offsets[j]) + code * t / f64::from(q.scales[j])
        })
        .collect()
}

/// A query as `c` measures from it (f64): rounded to half for f16,
/// [`query_dequant`] for i8.
fn query_stored(c: &Collection, v: &[f32]) -> Vec<f64> {
    match c.storage() {
        Storage::I8 => query_dequant(c.quantizer().expect("trained"), v),
        _ => stored(c, v),
    }
}

/// `v` as stored by `c` (f64, decoded independently of the crate).
fn stored(c: &Collection, v: &[f32]) -> Vec<f64> {
    match c.storage() {
        Storage::F32 => v.iter().map(|&x| f64::from(x)).collect(),
        Storage::F16 => v.iter().map(|&x| half(x)).collect(),
        Storage::I8 => {
            let q = c.quantizer().expect("trained");
            v.iter()
                .enumerate()
                .map(|(j, &x)| dequant(q, j, x))
                .collect()
        }
        Storage::Pq => panic!("no pq oracle here (see pq_storage)"),
        Storage::Sq4 => panic!("no sq4 oracle here (see sq4_storage)"),
    }
}

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

/// The scale of the rounding error of `dist_f64(metric, a, b)` computed in
/// f32: the sum of the magnitudes of its terms (i8 `l2` is computed as
/// `‖a − o‖² − 2 (a − o)·(b − o) + ‖b − o‖²`: the norms' scale).
fn magnitude(metric: &str, a: &[f64], b: &[f64], offsets: Option<&[f32]>) -> f64 {
    match (metric, offsets) {
        ("l2", Some(o)) => a
            .iter()
            .zip(b)
            .zip(o)
            .map(|((x, y), o)| (x - f64::from(*o)).powi(2) + (y - f64::from(*o)).powi(2))
            .sum(),
        ("cosine", _) => 1.0,
        _ => magnitude_plain(metric, a, b),
    }
}

fn magnitude_plain(metric: &str, a: &[f64], b: &[f64]) -> f64 {
    match metric {
        "cosine" => 1.0,
        "l1" => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
        "l2" => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        _ => a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum(),
    }
}

fn random_rows(n: usize, dim: usize, seed: u64, spread: f64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n * dim)
        .map(|_| (r.normal() * spread + 0.3) as f32)
        .collect()
}

fn filled(storage: Storage, metric: &str, data: &[f32], dim: usize) -> Collection {
    let mut c = Collection::new(CollectionConfig::new(dim, metric).with_storage(storage)).unwrap();
    if storage == Storage::I8 {
        c.train_quantizer(data).unwrap();
    }
    for (i, r) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, r, None).unwrap();
    }
    c
}

// ---------- encodings and distances ----------

/// Stored values are within the documented error of the inserted ones,
/// `get` returns exactly the decoded values, and every distance computed on
/// encoded rows equals the f64 distance of the decoded vectors within f32
/// accumulation error: |d − d64| ≤ 1e-5 · Σ|terms| + 1e-6.
#[test]
fn encoded_distances_match_f64_on_decoded_vectors() {
    let dim = 37; // odd: exercises every kernel's tail
    let data = random_rows(120, dim, 3, 2.0);
    let queries = random_rows(8, dim, 4, 2.0);
    for storage in [Storage::F16, Storage::I8] {
        for metric in ["l2", "ip", "cosine", "l1"] {
            let c = filled(storage, metric, &data, dim);
            // Stored-value error bounds.
            for (i, row) in data.chunks_exact(dim).enumerate() {
                let got = c.get(i as u64).unwrap().vector;
                let want = stored(&c, row);
                for (j, ((g, w), x)) in got.iter().zip(&want).zip(row).enumerate() {
                    // f16 decodes exactly; i8 decoding rounds `offset + scale·q` to f32.
                    let exact = match (storage, c.quantizer()) {
                        (Storage::I8, Some(q)) => {
                            4.0 * f64::from(f32::EPSILON)
                                * f64::from(
                                    q.offsets.iter().fold(0.0f32, |m, o| m.max(o.abs()))
                                        + 127.0 * q.scales.iter().fold(0.0f32, |m, s| m.max(*s)),
                                )
                        }
                        _ => 0.0,
                    };
                    assert!(
                        (f64::from(*g) - w).abs() <= exact,
                        "{storage} {metric} decode"
                    );
                    let err = (w - f64::from(*x)).abs();
                    let bound = match storage {
                        Storage::F16 => f64::from(x.abs()) * 2f64.powi(-11) + 2f64.powi(-25),
                        _ => f64::from(c.quantizer().unwrap().scales[j]) / 2.0 * (1.0 + 1e-6),
                    };
                    assert!(err <= bound, "{storage} {metric}: {x} stored as {w}");
                }
            }
            let d = c.data();
            let all: Vec<u32> = (0..120).collect();
            let mut out = vec![0.0f32; all.len()];
            let offsets = c.quantizer().map(|q| q.offsets.clone());
            for q in queries.chunks_exact(dim) {
                let qs = query_stored(&c, q);
                d.distances(q, &all, &mut out);
                for (&slot, &got) in all.iter().zip(&out) {
                    let row = stored(&c, &data[slot as usize * dim..(slot as usize + 1) * dim]);
                    let want = dist_f64(metric, &qs, &row);
                    let tol = 1e-5 * magnitude(metric, &qs, &row, offsets.as_deref()) + 1e-6;
                    assert!(
                        (f64::from(got) - want).abs() <= tol,
                        "{storage} {metric} slot {slot}: {got} vs {want}"
                    );
                }
            }
            for (a, b) in [(0u32, 1u32), (5, 77), (119, 3), (9, 9)] {
                let ra = stored(&c, &data[a as usize * dim..(a as usize + 1) * dim]);
                let rb = stored(&c, &data[b as usize * dim..(b as usize + 1) * dim]);
                let want = dist_f64(metric, &ra, &rb);
                let got = f64::from(d.pair_distance(a, b));
                let tol = 1e-5 * magnitude(metric, &ra, &rb, None) + 1e-6;
                assert!((got - want).abs() <= tol, "{storage} {metric} pair");
            }
        }
    }
}

/// The case: per-row inserts of `[0, .1, .2, .3]` then
/// `[5, -5, 0, 0]`. Main trained on the first vector and stored the second
/// as `[0.3, 0, 0, 0]` without a word; now rows wait as f32 until training,
/// and once trained a value that does not fit is refused, naming it.
#[test]
fn i8_never_stores_a_clamped_value() {
    let first = [0.0f32, 0.1, 0.2, 0.3];
    let second = [5.0f32, -5.0, 0.0, 0.0];
    let config = CollectionConfig::new(4, "l2").with_storage(Storage::I8);
    let mut c = Collection::new(config.clone()).unwrap();
    c.insert(1u64, &first, None).unwrap();
    c.insert(2u64, &second, None).unwrap();
    // Awaiting training: exact f32 rows, 4 bytes per value.
    assert!(c.is_awaiting_training() && c.quantizer().is_none());
    assert_eq!(c.vector_bytes(), 2 * 4 * 4);
    assert_eq!(&*c.get(2u64).unwrap().vector, &second);
    assert_eq!(
        c.search(&[5.0, -5.0, 0.0, 0.0], 1).unwrap()[0].distance,
        0.0
    );
    // Training covers both rows, per dimension.
    let q = c.train_quantizer(&[]).unwrap();
    assert!(!c.is_awaiting_training());
    assert_eq!(c.vector_bytes(), 2 * 4);
    // Each dimension its own step: the narrow ones keep all 255 codes.
    let ranges = [(0.0f32, 5.0f32), (-5.0, 0.1), (0.0, 0.2), (0.0, 0.3)];
    for (((lo, hi), o), s) in ranges.iter().zip(&q.offsets).zip(&q.scales) {
        assert!(
            (o - (lo + hi) / 2.0).abs() <= 1e-6,
            "offset {o} for [{lo}, {hi}]"
        );
        assert!((s - (hi - lo) / 254.0).abs() <= 1e-6 * (hi - lo));
    }
    for (id, row) in [(1u64, first), (2, second)] {
        let got = c.get(id).unwrap().vector;
        for ((g, x), s) in got.iter().zip(row).zip(&q.scales) {
            assert!((g - x).abs() <= s / 2.0 * (1.0 + 1e-5), "{x} stored as {g}");
        }
    }
    // Trained on the first vector alone: the second is refused.
    let mut eager = Collection::new(config.with_i8_train_rows(1)).unwrap();
    eager.insert(1u64, &first, None).unwrap();
    assert!(eager.quantizer().is_some());
    let err = eager.insert(2u64, &second, None).unwrap_err();
    assert!(
        matches!(err, VectorError::OutOfRange { position: 0, value, storage: Storage::I8 } if value == 5.0),
        "{err}"
    );
    assert!(eager.upsert(1u64, &second, None).is_err());
    assert_eq!(eager.len(), 1);
    assert!(eager
        .insert_rows([3u64, 4], &[first, second].concat())
        .is_err());
    assert_eq!(eager.len(), 1);
    // Half a step beyond the extreme code still rounds to it; more does not.
    let (lo, hi) = eager.quantizer().unwrap().bounds(3).unwrap();
    let step = eager.quantizer().unwrap().scales[3];
    let mut v = first;
    v[3] = hi + 0.4 * step;
    eager.insert(5u64, &v, None).unwrap();
    v[3] = lo - 0.6 * step;
    assert!(matches!(
        eager.insert(6u64, &v, None),
        Err(VectorError::OutOfRange { position: 3, .. })
    ));
    v[3] = f32::INFINITY;
    assert!(eager.insert(6u64, &v, None).is_err());
}

#[test]
fn i8_trains_on_reaching_the_row_count_and_is_symmetric_for_angles() {
    let dim = 8;
    let data = random_rows(60, dim, 21, 2.0);
    let config = CollectionConfig::new(dim, "l2")
        .with_storage(Storage::I8)
        .with_i8_train_rows(50);
    let mut c = Collection::new(config).unwrap();
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    for (i, row) in data.chunks_exact(dim).take(49).enumerate() {
        c.insert(i as u64, row, None).unwrap();
    }
    assert!(c.is_awaiting_training());
    c.insert(49u64, &data[49 * dim..50 * dim], None).unwrap();
    let q = c.quantizer().expect("trained at the 50th row").clone();
    // Per dimension, the min and max of the 50 rows.
    for j in 0..dim {
        let col = data[..50 * dim].iter().skip(j).step_by(dim);
        let lo = col.clone().copied().fold(f32::INFINITY, f32::min);
        let hi = col.copied().fold(f32::NEG_INFINITY, f32::max);
        assert!((q.offsets[j] - (lo + hi) / 2.0).abs() <= 1e-5);
        assert!((q.scales[j] - (hi - lo) / 254.0).abs() <= 1e-6 * (hi - lo));
    }
    // The index built before training was rebuilt over the codes: with
    // each stored row as the query, it finds a row at least as close as
    // that row itself (the distance to the query as encoded).
    for (i, row) in data.chunks_exact(dim).take(50).enumerate() {
        let stored = c.get(i as u64).unwrap().vector.into_owned();
        let hit = &c.search(&stored, 1).unwrap()[0];
        let own = dist_f64(
            "l2",
            &query_dequant(&q, &stored),
            &stored.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
        );
        // (l2 on codes is `‖x̂ − o‖² − 2 t (p·q) + n`: f32 error on the
        // scale of the norms.)
        let norms: f64 = stored
            .iter()
            .zip(&q.offsets)
            .map(|(v, o)| 2.0 * (f64::from(*v) - f64::from(*o)).powi(2))
            .sum();
        assert!(
            f64::from(hit.distance) <= own + 1e-5 * norms + 1e-6,
            "row {i}: {} vs {own}",
            hit.distance
        );
        assert!(row
            .iter()
            .zip(&stored)
            .zip(&q.scales)
            .all(|((x, s), step)| (x - s).abs() <= step / 2.0 * 1.0001));
    }
    let mut ip = Collection::new(CollectionConfig::new(2, "ip").with_storage(Storage::I8)).unwrap();
    let q = ip.train_quantizer(&[0.0, 10.0, 2.0, -4.0]).unwrap();
    assert_eq!(
        (q.offsets, q.scales),
        (vec![0.0, 0.0], vec![2.0 / 127.0, 10.0 / 127.0])
    );
    assert!(ip.train_quantizer(&[1.0, 2.0]).is_err(), "trained twice");
}

#[test]
fn insert_rows_trains_on_the_batch_and_is_all_or_nothing() {
    let dim = 5;
    let data = random_rows(40, dim, 8, 3.0);
    let mut c = Collection::new(
        CollectionConfig::new(dim, "l2")
            .with_storage(Storage::I8)
            .with_i8_train_rows(40),
    )
    .unwrap();
    // A repeated id, a NaN and a short matrix change nothing.
    let mut ids: Vec<u64> = (0..40).collect();
    ids[7] = 3;
    assert!(matches!(
        c.insert_rows(ids, &data),
        Err(VectorError::DuplicateId(Id::Num(3)))
    ));
    let mut nan = data.clone();
    nan[12] = f32::NAN;
    assert!(matches!(
        c.insert_rows(0u64..40, &nan),
        Err(VectorError::NaN { position: 2 })
    ));
    assert!(c.insert_rows(0u64..40, &data[1..]).is_err());
    assert!(c.is_empty() && c.quantizer().is_none());
    c.insert_rows(0u64..40, &data).unwrap();
    // Trained on the whole batch: per dimension, min and max of its values.
    let q = c.quantizer().unwrap().clone();
    for j in 0..dim {
        let col = data.iter().skip(j).step_by(dim);
        let lo = col.clone().copied().fold(f32::INFINITY, f32::min);
        let hi = col.copied().fold(f32::NEG_INFINITY, f32::max);
        assert!((q.offsets[j] - (lo + hi) / 2.0).abs() <= 1e-5);
    }
    for (i, row) in data.chunks_exact(dim).enumerate() {
        let got = c.get(i as u64).unwrap().vector;
        for ((g, x), step) in got.iter().zip(row).zip(&q.scales) {
            assert!(f64::from((g - x).abs()) <= f64::from(*step) / 2.0 + 1e-5);
        }
    }
    assert!(matches!(
        c.insert_rows([39u64], &data[..dim]),
        Err(VectorError::DuplicateId(_))
    ));
}

#[test]
fn storage_config_errors_are_typed() {
    let bad =
        |c: CollectionConfig| matches!(Collection::new(c), Err(VectorError::InvalidConfig(_)));
    assert!(bad(
        CollectionConfig::new(4, "hamming").with_storage(Storage::F16)
    ));
    assert!(bad(
        CollectionConfig::new(4, "jaccard").with_storage(Storage::I8)
    ));
    let mut nan = CollectionConfig::new(4, "l2").with_storage(Storage::I8);
    nan.allow_nan = true;
    assert!(bad(nan));
    assert!(bad(CollectionConfig::new(4, "l2")
        .with_storage(Storage::I8)
        .with_i8_range(0.0, f32::INFINITY)));
    assert!("f64".parse::<Storage>().is_err());
    assert_eq!("I8".parse::<Storage>().unwrap(), Storage::I8);
    let mut f32c = Collection::new(CollectionConfig::new(2, "l2")).unwrap();
    assert!(f32c.train_quantizer(&[1.0, 2.0]).is_err());
    for storage in [Storage::F16, Storage::I8] {
        let mut c = Collection::new(CollectionConfig::new(3, "l2").with_storage(storage)).unwrap();
        assert!(matches!(
            c.insert(1u64, &[1.0, 2.0], None),
            Err(VectorError::WrongDimension {
                expected: 3,
                got: 2
            })
        ));
        assert!(matches!(
            c.insert(1u64, &[1.0, f32::NAN, 2.0], None),
            Err(VectorError::NaN { position: 1 })
        ));
        assert!(c.search(&[1.0], 1).is_err());
        assert!(c.is_empty());
    }
    let mut h = Collection::new(CollectionConfig::new(3, "l2").with_storage(Storage::F16)).unwrap();
    assert!(matches!(
        h.insert(1u64, &[1.0, 2.0, 70000.0], None),
        Err(VectorError::OutOfRange { position: 2, .. })
    ));
    h.insert(1u64, &[1.0, 2.0, 65504.0], None).unwrap();
}

// ---------- flat ----------

/// `(f64 distance, slot)` of the `k` nearest live stored vectors.
fn oracle_knn(
    c: &Collection,
    metric: &str,
    data: &[f32],
    dim: usize,
    q: &[f32],
    k: usize,
) -> Vec<f64> {
    let qs = query_stored(c, q);
    let mut all: Vec<f64> = data
        .chunks_exact(dim)
        .enumerate()
        .filter(|(i, _)| c.contains(*i as u64))
        .map(|(_, r)| dist_f64(metric, &qs, &stored(c, r)))
        .collect();
    all.sort_by(f64::total_cmp);
    all.truncate(k);
    all
}

/// Exact search on f16/i8 rows returns the true nearest stored vectors:
/// the f64 distances of the returned ids equal the brute-force top-k
/// distances rank by rank (so only exact ties may be reordered).
#[test]
fn flat_on_encoded_rows_equals_brute_force_over_decoded() {
    let dim = 12;
    let data = random_rows(700, dim, 11, 1.0);
    let queries = random_rows(10, dim, 12, 1.0);
    for storage in [Storage::F16, Storage::I8] {
        for metric in ["l2", "ip", "cosine"] {
            let mut c = filled(storage, metric, &data, dim);
            for id in (0..700u64).step_by(7) {
                c.delete(id).unwrap();
            }
            let dist_of = |c: &Collection, q: &[f32], id: &Id| -> f64 {
                let Id::Num(i) = id else { panic!() };
                let i = *i as usize;
                dist_f64(
                    metric,
                    &query_stored(c, q),
                    &stored(c, &data[i * dim..(i + 1) * dim]),
                )
            };
            let check = |found: &[Hit], q: &[f32], want: &[f64]| {
                assert_eq!(found.len(), want.len());
                for (h, w) in found.iter().zip(want) {
                    let got = dist_of(&c, q, &h.id);
                    assert!(
                        (got - w).abs() <= 1e-5 * w.abs().max(1.0),
                        "{storage} {metric}: {got} vs {w}"
                    );
                    assert!(c.contains(h.id.clone()));
                }
            };
            let batch = c.search_exact_batch(&queries, 10, None).unwrap();
            for (q, b) in queries.chunks_exact(dim).zip(&batch) {
                let want = oracle_knn(&c, metric, &data, dim, q, 10);
                check(&c.search(q, 10).unwrap(), q, &want);
                check(b, q, &want);
                // Range search: everything within the 10th distance.
                let radius = c.search(q, 10).unwrap()[9].distance;
                let within = c.range_search(q, radius, None).unwrap();
                assert!(within.len() >= 10);
                assert!(within.iter().all(|h| h.distance <= radius));
                assert!(within.windows(2).all(|w| w[0].distance <= w[1].distance));
            }
        }
    }
}

// ---------- recall of hnsw and ivf over encoded rows ----------

/// HNSW (M=16, ef_construction=200, as the f32 test) and IVF (nlist = n/10,
/// nprobe = nlist/8) on f16 and i8 rows, against the exact f32 ground
/// truth: f16 reaches recall@10 ≥ 0.95 at some ef ≤ 160 like f32; i8 ≥ 0.9
/// (quantization moves near-ties); IVF ≥ 0.9 (f16) and ≥ 0.85 (i8).
#[test]
fn hnsw_and_ivf_recall_on_f16_and_i8_rows() {
    let d = dataset();
    for (storage, hnsw_min, ivf_min) in [(Storage::F16, 0.95, 0.9), (Storage::I8, 0.9, 0.85)] {
        let mut c = filled(storage, "l2", &d.base, d.dim);
        let nlist = c.len() / 10;
        let hnsw = HnswConfig {
            m: 16,
            ef_construction: 200,
            ..HnswConfig::default()
        };
        let ivf = IvfConfig {
            nlist,
            ..IvfConfig::default()
        };
        c.create_index("hnsw", "hnsw", Params::typed(&hnsw))
            .unwrap();
        c.create_index("ivf", "ivf", Params::typed(&ivf)).unwrap();
        let run = |index: &str, params: Params<'_>| -> f64 {
            let found: Vec<Vec<u32>> = d
                .query
                .chunks_exact(d.dim)
                .map(|q| slots(&c, q, 10, Some(index), params))
                .collect();
            gt_recall(&found, &d.gt)
        };
        let best = [40, 80, 160]
            .iter()
            .map(|&ef| run("hnsw", Params::typed(&HnswSearch { ef: Some(ef) })))
            .fold(0.0, f64::max);
        assert!(best >= hnsw_min, "{storage} hnsw recall {best}");
        let ivf = run(
            "ivf",
            Params::typed(&IvfSearch {
                nprobe: Some(nlist / 8),
            }),
        );
        assert!(ivf >= ivf_min, "{storage} ivf recall {ivf}");
        // Filtered search and compaction work over encoded rows too.
        let even = |id: &Id, _: Option<&Metadata>| matches!(id, Id::Num(n) if n % 2 == 0);
        let q = &d.query[..d.dim];
        let hits = c
            .search_with(
                q,
                10,
                &SearchOptions {
                    index: Some("hnsw"),
                    params: Params::defaults(),
                    filter: Some(&even),
                    k_factor: None,
                },
            )
            .unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| even(&h.id, None)));
        for id in (1..c.len() as u64).step_by(2) {
            c.delete(id).unwrap();
        }
        c.compact().unwrap();
        let after = c
            .search_with(
                q,
                10,
                &SearchOptions {
                    index: Some("hnsw"),
                    ..SearchOptions::default()
                },
            )
            .unwrap();
        let exact = c.search_exact_batch(q, 10, None).unwrap().remove(0);
        let agree = after
            .iter()
            .filter(|h| exact.iter().any(|e| e.id == h.id))
            .count();
        assert!(agree >= 8, "{storage}: {agree}/10 after compaction");
    }
}

// ---------- persistence ----------

fn saved(storage: Storage) -> Collection {
    let dim = 6;
    let data = clustered(50, dim, 3, 0.3, 9);
    let mut c = filled(storage, "l2", &data, dim);
    let mut m = Metadata::new();
    m.insert("k".into(), Value::I64(1));
    c.insert("s", &data[..dim], Some(m)).unwrap();
    let hnsw = HnswConfig {
        m: 4,
        ..HnswConfig::default()
    };
    let ivf = IvfConfig {
        nlist: 4,
        ..IvfConfig::default()
    };
    c.create_index("g", "hnsw", Params::typed(&hnsw)).unwrap();
    c.create_index("i", "ivf", Params::typed(&ivf)).unwrap();
    c.delete(5u64).unwrap();
    c
}

fn same_results(a: &Collection, b: &Collection) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a.storage(), b.storage());
    assert_eq!(a.quantizer(), b.quantizer());
    assert_eq!(a.vector_bytes(), b.vector_bytes());
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!(x, y);
    }
    let mut rng = Rng::new(5);
    for _ in 0..10 {
        let q: Vec<f32> = (0..a.dim()).map(|_| rng.normal() as f32).collect();
        for index in [None, Some("g"), Some("i")] {
            let o = SearchOptions {
                index,
                ..SearchOptions::default()
            };
            assert_eq!(
                a.search_with(&q, 5, &o).unwrap(),
                b.search_with(&q, 5, &o).unwrap()
            );
        }
    }
}

#[test]
fn f16_and_i8_save_open_round_trip_zero_copy() {
    for storage in [Storage::F16, Storage::I8] {
        let c = saved(storage);
        // Rows take 2 or 1 bytes per value.
        assert_eq!(c.vector_bytes(), 51 * 6 * storage.bytes_per_value());
        let path = tmp_path(&format!("rt-{storage}"));
        c.save(&path).unwrap();
        let o = Collection::open(&path).unwrap();
        assert!(o.is_mapped(), "{storage} rows are read in place");
        same_results(&c, &o);
        same_results(
            &c,
            &persist::from_bytes(&std::fs::read(&path).unwrap()).unwrap(),
        );
        // Writes after opening copy the rows out and keep the encoding.
        // (Halfway between two stored rows: inside every trained range.)
        let mid: Vec<f32> = {
            let (a, b) = (c.get(1u64).unwrap().vector, c.get(2u64).unwrap().vector);
            a.iter().zip(b.iter()).map(|(x, y)| (x + y) / 2.0).collect()
        };
        let mut o = o;
        o.insert(99u64, &mid, None).unwrap();
        assert!(!o.is_mapped());
        let mut c = c;
        c.insert(99u64, &mid, None).unwrap();
        assert_eq!(persist::to_bytes(&o), persist::to_bytes(&c));
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn f16_and_i8_files_detect_every_byte_flip_and_truncation() {
    for storage in [Storage::F16, Storage::I8] {
        let bytes = persist::to_bytes(&saved(storage));
        // The storage tag of the header: 0 f32, 1 f16, 2 i8.
        assert_eq!(bytes[56], if storage == Storage::F16 { 1 } else { 2 });
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x21;
            assert!(persist::from_bytes(&b).is_err(), "{storage}: flip at {i}");
        }
        for cut in (0..bytes.len()).step_by(3) {
            assert!(
                persist::from_bytes(&bytes[..cut]).is_err(),
                "{storage}: cut {cut}"
            );
        }
        // A consistent checksum over an inconsistent storage tag is still
        // refused (f16 rows read as f32 would not match the slot count).
        let mut b = bytes.clone();
        b[56] = if storage == Storage::F16 { 2 } else { 1 };
        patch_crc(&mut b);
        assert!(persist::from_bytes(&b).is_err(), "{storage}: retagged");
    }
}

// ---------- ivf row copies ----------

/// IVF with contiguous row copies (the default) returns what the slot-only
/// lists return, on every storage, after inserts and deletes, and after a
/// save/open round trip; a payload without the optional copy section (as
/// older files hold) loads as slot-only lists.
#[test]
fn ivf_row_copies_match_slot_only_lists() {
    let dim = 10;
    let data = clustered(900, dim, 12, 0.3, 21);
    for storage in [Storage::F32, Storage::F16, Storage::I8] {
        let mut c = filled(storage, "l2", &data[..600 * dim], dim);
        if storage == Storage::I8 {
            // Trained on every row inserted below (per-dimension ranges).
            c = Collection::new(CollectionConfig::new(dim, "l2").with_storage(storage)).unwrap();
            c.train_quantizer(&data).unwrap();
            c.insert_rows(0u64..600, &data[..600 * dim]).unwrap();
        }
        let ivf = IvfConfig {
            nlist: 16,
            nprobe: 3,
            ..IvfConfig::default()
        };
        c.create_index("copies", "ivf", Params::typed(&ivf))
            .unwrap();
        let ivf = IvfConfig {
            copy_rows: false,
            ..ivf
        };
        c.create_index("slots", "ivf", Params::typed(&ivf)).unwrap();
        for (i, r) in data.chunks_exact(dim).enumerate().skip(600) {
            c.insert(i as u64, r, None).unwrap();
        }
        for id in (0..900u64).step_by(5) {
            c.delete(id).unwrap();
        }
        let path = tmp_path(&format!("ivf-copies-{storage}"));
        c.save(&path).unwrap();
        let o = Collection::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut rng = Rng::new(3);
        for _ in 0..20 {
            let q: Vec<f32> = (0..dim).map(|_| rng.normal() as f32 * 0.5).collect();
            let run = |c: &Collection, index: &str| {
                let o = SearchOptions {
                    index: Some(index),
                    ..SearchOptions::default()
                };
                c.search_with(&q, 10, &o).unwrap()
            };
            let want = run(&c, "slots");
            for got in [run(&c, "copies"), run(&o, "copies"), run(&o, "slots")] {
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    // The one-to-many kernel may round differently from the
                    // pairwise one: same ids, distances within f32 noise.
                    assert_eq!(g.id, w.id, "{storage}");
                    assert!((g.distance - w.distance).abs() <= 1e-4 * w.distance.abs().max(1.0));
                    assert!(c.contains(g.id.clone()));
                }
            }
        }
        // The copy section is optional: drop it (flag byte 0 at the end).
        let d = c.data();
        let mut slot_only = Vec::new();
        c.index("slots").unwrap().save(&mut slot_only);
        assert_eq!(slot_only.last(), Some(&0));
        let load = IndexPlugin::registry().get("ivf").unwrap().load;
        let idx = load(&slot_only[..slot_only.len() - 1], d.slots()).unwrap();
        let q = vec![0.1f32; dim];
        assert_eq!(
            idx.search(&d, &q, 5, Params::defaults(), None).unwrap(),
            c.index("slots")
                .unwrap()
                .search(&d, &q, 5, Params::defaults(), None)
                .unwrap()
        );
        // A copy section of the wrong size is corrupt.
        let mut copies = Vec::new();
        c.index("copies").unwrap().save(&mut copies);
        let cut = copies.len() - 1;
        assert!(load(&copies[..cut], d.slots()).is_err());
    }
}

// ---------- per-dimension ranges ----------

/// i8 rows with a range per dimension keep recall under every metric:
/// on clustered data whose dimensions span ranges 400× apart (and, for
/// `l2`, sit far from zero), exact and HNSW search over the codes find
/// the true neighbours of the inserted f32 vectors (brute force in f64)
/// with recall@10 ≥ 0.9, and the narrow dimensions are stored within
/// their own half step.
#[test]
fn i8_per_dimension_ranges_keep_recall_for_every_metric() {
    let (n, dim, k) = (2000, 16, 10);
    let raw = clustered(n + 50, dim, 20, 0.15, 31);
    let weight = |j: usize| [1.0f32, 0.0025, 0.3, 0.05][j % 4];
    for metric in ["l2", "ip", "cosine"] {
        let shift = |j: usize| {
            if metric == "l2" {
                40.0 * weight(j)
            } else {
                0.0
            }
        };
        let scaled: Vec<f32> = raw
            .chunks_exact(dim)
            .flat_map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(j, &v)| v * weight(j) + shift(j))
                    .collect::<Vec<_>>()
            })
            .collect();
        let (base, queries) = scaled.split_at(n * dim);
        let mut c = filled(Storage::I8, metric, base, dim);
        let q = c.quantizer().unwrap().clone();
        // A narrow dimension's step is its own range's.
        assert!(
            q.scales[1] * 100.0 < q.scales[0],
            "{metric}: {:?}",
            q.scales
        );
        for (i, row) in base.chunks_exact(dim).enumerate().step_by(97) {
            let got = c.get(i as u64).unwrap().vector;
            for (j, (g, x)) in got.iter().zip(row).enumerate() {
                assert!(
                    (g - x).abs() <= q.scales[j] / 2.0 * 1.0001,
                    "{metric} dim {j}"
                );
            }
        }
        c.create_index(
            "hnsw",
            "hnsw",
            Params::typed(&HnswConfig {
                m: 16,
                ef_construction: 200,
                ..HnswConfig::default()
            }),
        )
        .unwrap();
        let b64: Vec<Vec<f64>> = base
            .chunks_exact(dim)
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        let (mut exact_hits, mut hnsw_hits, mut total) = (0, 0, 0);
        for qv in queries.chunks_exact(dim) {
            let q64: Vec<f64> = qv.iter().map(|&v| f64::from(v)).collect();
            let mut all: Vec<(f64, u64)> = b64
                .iter()
                .enumerate()
                .map(|(i, r)| (dist_f64(metric, &q64, r), i as u64))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0));
            let truth: Vec<Id> = all[..k].iter().map(|&(_, i)| Id::Num(i)).collect();
            let count = |hits: Vec<Hit>| hits.iter().filter(|h| truth.contains(&h.id)).count();
            exact_hits += count(c.search_exact(qv, k, None).unwrap());
            hnsw_hits += count(
                c.search_with(
                    qv,
                    k,
                    &SearchOptions {
                        index: Some("hnsw"),
                        params: Params::typed(&HnswSearch { ef: Some(80) }),
                        filter: None,
                        k_factor: None,
                    },
                )
                .unwrap(),
            );
            total += k;
        }
        let (exact, hnsw) = (
            exact_hits as f64 / total as f64,
            hnsw_hits as f64 / total as f64,
        );
        assert!(
            exact >= 0.9 && hnsw >= 0.9,
            "{metric}: exact {exact}, hnsw {hnsw}"
        );
    }
}

/// A file written by the previous format (version 3: one i8 step shared
/// by every dimension; the committed file was saved by that build) still
/// opens: its quantizer has that step in every dimension, the rows
/// decode to the values inserted (within half a step), its HNSW index
/// answers, and saving writes the current version, which reopens equal.
#[test]
fn i8_file_of_the_shared_step_format_still_opens() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/i8_shared_step_v3.uvec");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
    let c = Collection::open(&path).unwrap();
    // The rows the old build inserted (see the file's generator in the
    // commit that added it): row i = [t, 100 + 200 (1 − t), (t − 0.5) / 50],
    // t = i / 39, row 7 deleted.
    let row = |i: usize| {
        let t = i as f32 / 39.0;
        [t, 100.0 + 200.0 * (1.0 - t), (t - 0.5) / 50.0]
    };
    let q = c.quantizer().unwrap().clone();
    assert_eq!(q.scales, vec![q.scales[0]; 3], "one shared step");
    assert!((q.scales[0] - 200.0 / 254.0).abs() < 1e-5);
    assert_eq!(c.len(), 39);
    assert!(!c.contains(7u64));
    for i in (0..40).filter(|&i| i != 7) {
        let got = c.get(i as u64).unwrap().vector;
        for (g, x) in got.iter().zip(row(i)) {
            assert!((g - x).abs() <= q.scales[0] / 2.0 * 1.0001, "row {i}");
        }
    }
    let hnsw = c
        .search_with(&row(20), 3, &SearchOptions::default())
        .unwrap();
    let exact = c.search_exact(&row(20), 3, None).unwrap();
    assert_eq!(hnsw, exact);
    let reopened = persist::from_bytes(&persist::to_bytes(&c)).unwrap();
    assert_eq!(
        u32::from_le_bytes(persist::to_bytes(&c)[8..12].try_into().unwrap()),
        persist::VERSION
    );
    assert_eq!(reopened.quantizer(), c.quantizer());
    assert_eq!(
        reopened.search_exact(&row(3), 5, None).unwrap(),
        c.search_exact(&row(3), 5, None).unwrap()
    );
}

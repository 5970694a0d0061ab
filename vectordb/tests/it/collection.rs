//! Collections: CRUD and typed errors, concurrent readers and a writer,
//! search and insert metrics, and random insert/delete sequences checked
//! against a model.

use std::collections::HashSet;

use proptest::prelude::*;
use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::hnsw::HnswConfig;
use unidb_vectordb::ivf::IvfConfig;
use unidb_vectordb::*;

use crate::util::{cases, collection_of};

// ---------- collection ----------

#[test]
fn collection_crud_and_typed_errors() {
    let mut c = Collection::new(CollectionConfig::new(3, "l2")).unwrap();
    assert!(matches!(
        Collection::new(CollectionConfig::new(0, "l2")),
        Err(VectorError::InvalidConfig(_))
    ));
    c.insert(1u64, &[1.0, 2.0, 3.0], None).unwrap();
    let mut meta = Metadata::new();
    meta.insert("color".into(), "red".into());
    c.insert("doc-a", &[0.0, 0.0, 0.0], Some(meta.clone()))
        .unwrap();
    assert_eq!(c.len(), 2);
    assert!(matches!(
        c.insert(2u64, &[1.0, 2.0], None),
        Err(VectorError::WrongDimension {
            expected: 3,
            got: 2
        })
    ));
    assert!(matches!(
        c.insert(2u64, &[1.0, f32::NAN, 0.0], None),
        Err(VectorError::NaN { position: 1 })
    ));
    assert!(matches!(
        c.insert(1u64, &[0.0; 3], None),
        Err(VectorError::DuplicateId(Id::Num(1)))
    ));
    assert!(matches!(c.get(9u64), Err(VectorError::UnknownId(_))));
    assert!(matches!(c.delete("nope"), Err(VectorError::UnknownId(_))));
    assert_eq!(c.get("doc-a").unwrap().metadata, Some(&meta));
    c.upsert(1u64, &[7.0, 8.0, 9.0], None).unwrap();
    assert_eq!(*c.get(1u64).unwrap().vector, [7.0, 8.0, 9.0]);
    assert_eq!(c.len(), 2);
    c.delete("doc-a").unwrap();
    assert_eq!(c.len(), 1);
    let ids: Vec<Id> = c.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids, vec![Id::Num(1)]);
    let hits = c.search(&[0.0; 3], 5).unwrap();
    assert_eq!(hits.len(), 1);
    assert!(matches!(
        c.search(&[0.0; 2], 1),
        Err(VectorError::WrongDimension { .. })
    ));
    let mut allow = CollectionConfig::new(2, "l2");
    allow.allow_nan = true;
    let mut c2 = Collection::new(allow).unwrap();
    c2.insert(1u64, &[f32::NAN, 1.0], None).unwrap();
    // NaN distances are never returned.
    assert!(c2.search(&[0.0, 0.0], 1).unwrap().is_empty());
    c.compact().unwrap();
    assert_eq!(*c.get(1u64).unwrap().vector, [7.0, 8.0, 9.0]);
}

#[test]
fn converts_into_the_common_error_with_its_kind() {
    use unidb_common::ErrorKind;
    let c = Collection::new(CollectionConfig::new(2, "l2")).unwrap();
    let e: unidb_common::Error = c.get(7u64).unwrap_err().into();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("unknown id 7"), "{e}");
    let e: unidb_common::Error = c.check(&[1.0]).unwrap_err().into();
    assert_eq!(e.kind(), ErrorKind::Validation);
    let e: unidb_common::Error = unidb_vectordb::io::parse_fvecs(&[1, 0, 0], "f.fvecs")
        .unwrap_err()
        .into();
    assert_eq!(
        (e.kind(), e.location()),
        (ErrorKind::Serialization, Some("f.fvecs"))
    );
    let e: unidb_common::Error = persist::from_bytes(&[0; 80]).unwrap_err().into();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(std::error::Error::source(&e).is_some());
}

// ---------- concurrency ----------

#[test]
fn readers_search_while_writer_inserts() {
    let dim = 8;
    let data = clustered(1200, dim, 8, 0.3, 4);
    let mut c = collection_of(&data[..200 * dim], dim, "l2");
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    let shared = SharedCollection::new(c);
    std::thread::scope(|s| {
        let w = shared.clone();
        let data = &data;
        s.spawn(move || {
            for i in 200..1200 {
                w.insert(i as u64, &data[i * dim..(i + 1) * dim], None)
                    .unwrap();
            }
        });
        for t in 0..2 {
            let r = shared.clone();
            s.spawn(move || {
                let mut last = 0;
                for i in 0..300 {
                    let q = &data[((i * 7 + t) % 200) * dim..][..dim];
                    let guard = r.read();
                    let n = guard.len();
                    assert!(n >= last, "a reader never sees the collection shrink");
                    last = n;
                    let hits = guard.search(q, 5).unwrap();
                    assert_eq!(hits.len(), 5.min(n));
                    assert!(hits.iter().all(|h| guard.contains(&h.id)));
                }
            });
        }
    });
    assert_eq!(shared.len(), 1200);
}

// ---------- properties ----------

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    Delete(u64),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(16), ..ProptestConfig::default() })]

    #[test]
    fn live_ids_only_and_indexes_agree_with_flat(
        ops in prop::collection::vec(prop_oneof![3 => (0u64..300).prop_map(Op::Insert), 1 => (0u64..300).prop_map(Op::Delete)], 50..400),
        seed in 0u64..1000,
        storage in prop_oneof![Just(Storage::F32), Just(Storage::F16), Just(Storage::I8)],
    ) {
        let dim = 6;
        let vec_of = |id: u64| -> Vec<f32> {
            let mut r = Rng::new(id ^ (seed << 20));
            (0..dim).map(|_| (r.normal() as f32).clamp(-4.0, 4.0)).collect()
        };
        // i8: a fixed range covering the samples (clamped to 4σ).
        let config = CollectionConfig::new(dim, "l2").with_storage(storage).with_i8_range(-4.0, 4.0);
        let mut c = Collection::new(config).unwrap();
        let hnsw = HnswConfig {
            m: 8,
            ef_construction: 40,
            ..HnswConfig::default()
        };
        let ivf = IvfConfig {
            nlist: 8,
            ..IvfConfig::default()
        };
        c.create_index("hnsw", "hnsw", Params::typed(&hnsw)).unwrap();
        c.create_index("ivf", "ivf", Params::typed(&ivf)).unwrap();
        let mut live: HashSet<u64> = HashSet::new();
        for (step, op) in ops.iter().enumerate() {
            match *op {
                Op::Insert(id) => {
                    c.upsert(id, &vec_of(id), None).unwrap();
                    live.insert(id);
                }
                Op::Delete(id) => {
                    prop_assert_eq!(c.delete(id).is_ok(), live.remove(&id));
                }
            }
            if step == ops.len() / 2 {
                c.compact().unwrap();
            }
        }
        prop_assert_eq!(c.len(), live.len());
        let mut rng = Rng::new(seed);
        for _ in 0..5 {
            let q: Vec<f32> = (0..dim).map(|_| rng.normal() as f32).collect();
            let flat = flat::knn(&c.data(), &q, 10, None);
            let want: HashSet<u32> = flat.iter().map(|n| n.slot).collect();
            prop_assert_eq!(flat.len(), 10.min(live.len()));
            for index in ["hnsw", "ivf"] {
                let got = c.search_slots(&q, 10, &SearchOptions { index: Some(index), ..SearchOptions::default() }).unwrap();
                prop_assert_eq!(got.len(), flat.len());
                for n in &got {
                    let id = c.id_of_slot(n.slot).unwrap();
                    prop_assert!(matches!(id, Id::Num(v) if live.contains(v)));
                }
                let agree = got.iter().filter(|n| want.contains(&n.slot)).count();
                prop_assert!(agree as f64 >= 0.8 * flat.len() as f64, "{} agrees on {}/{}", index, agree, flat.len());
            }
        }
    }
}

/// Every answered query is counted once, with its latency, by each search
/// method, from any number of threads; failed searches and inserts are
/// not; latencies bracket what the test measures around the calls; QPS is
/// the count over the elapsed time.
#[test]
fn metrics_count_queries_inserts_and_latency() {
    use std::time::{Duration, Instant};

    let dim = 4;
    let data = clustered(300, dim, 4, 0.3, 8);
    let before = Instant::now();
    let mut c = Collection::new(CollectionConfig::new(dim, "l2")).unwrap();
    c.insert_rows(0u64..200, &data[..200 * dim]).unwrap();
    for (i, r) in data.chunks_exact(dim).enumerate().skip(200) {
        c.insert(i as u64, r, None).unwrap();
    }
    c.upsert(7u64, &data[..dim], None).unwrap();
    assert!(c.insert(7u64, &data[..dim], None).is_err());
    assert!(c.insert(1000u64, &[0.0], None).is_err());
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    let q = &data[dim..2 * dim];
    let mut longest = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut timed = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        let d = t.elapsed();
        longest = longest.max(d);
        total += d;
    };
    for _ in 0..20 {
        timed(&mut || assert_eq!(c.search(q, 5).unwrap().len(), 5));
    }
    let slow = |_: &Id, _: Option<&Metadata>| {
        std::thread::sleep(Duration::from_micros(200));
        true
    };
    let options = SearchOptions {
        filter: Some(&slow),
        ..SearchOptions::default()
    };
    // A filtered exact search calls the slow filter for every vector.
    let exact = SearchOptions {
        index: None,
        ..options
    };
    let bare = collection_of(&data[..10 * dim], dim, "l2");
    timed(&mut || assert_eq!(bare.search_with(q, 1, &exact).unwrap().len(), 1));
    timed(&mut || {
        assert_eq!(
            c.search_with(q, 3, &SearchOptions::default())
                .unwrap()
                .len(),
            3
        )
    });
    timed(&mut || {
        assert_eq!(
            c.search_batch(&data[..6 * dim], 2, &SearchOptions::default())
                .unwrap()
                .len(),
            6
        )
    });
    timed(&mut || {
        assert_eq!(
            c.search_exact_batch(&data[..4 * dim], 2, None)
                .unwrap()
                .len(),
            4
        )
    });
    timed(&mut || assert!(!c.range_search(q, 1.0, None).unwrap().is_empty()));
    // Refused searches are not counted.
    assert!(c.search(&[0.0], 1).is_err());
    let unknown = SearchOptions {
        index: Some("nope"),
        ..SearchOptions::default()
    };
    assert!(c.search_with(q, 1, &unknown).is_err());
    let bad = serde_json::json!({"nprobe": 1});
    let bad = SearchOptions {
        params: Params::json(&bad),
        ..SearchOptions::default()
    };
    assert!(c.search_with(q, 1, &bad).is_err());
    assert!(c.range_search(&[0.0], 1.0, None).is_err());

    let m = c.metrics();
    let since = before.elapsed();
    let queries = 20 + 1 + 6 + 4 + 1;
    assert_eq!(
        (m.queries, m.latency.count, m.inserts),
        (queries, queries, 301)
    );
    // Each recorded latency lies inside the time the test measured around
    // its call (batches record their mean per query).
    let error = 1.0 + unidb_common::metrics::Histogram::RELATIVE_ERROR;
    assert!(
        m.latency.max as f64 <= longest.as_nanos() as f64 * error,
        "{m:?}"
    );
    // The time recorded is at most the time measured, but for the six
    // queries of the parallel batch, which overlap (each at most `max`).
    let serial = m.latency.sum.saturating_sub(6 * m.latency.max);
    assert!(serial as f64 <= total.as_nanos() as f64 * error, "{m:?}");
    assert!(
        m.latency.min <= m.latency.p50 && m.p50() <= m.p99(),
        "{m:?}"
    );
    assert!(
        m.elapsed_s > 0.0 && m.elapsed_s <= since.as_secs_f64(),
        "{m:?}"
    );
    assert!((m.qps * m.elapsed_s - queries as f64).abs() < 1e-6 * queries as f64);
    let b = bare.metrics();
    assert_eq!((b.queries, b.inserts), (1, 10));
    // Ten vectors through a 200 µs filter: the one query took 2 ms or more.
    assert!(b.p50() >= Duration::from_millis(2), "{b:?}");

    // Reset: the figures so far, then zero (the histogram too).
    let reset_at = Instant::now();
    let r = c.reset_metrics();
    assert_eq!(r.queries, queries);
    c.search(q, 1).unwrap();
    let m = c.metrics();
    assert_eq!((m.queries, m.inserts, m.latency.count), (1, 0, 1));
    assert!(m.elapsed_s <= reset_at.elapsed().as_secs_f64());

    // From many threads: exact counts, no lost updates.
    let shared = SharedCollection::new(c);
    std::thread::scope(|s| {
        for t in 0..4 {
            let shared = shared.clone();
            let data = &data;
            s.spawn(move || {
                for i in 0..250 {
                    let q = &data[((i * 4 + t) % 300) * dim..][..dim];
                    shared.search(q, 3).unwrap();
                }
            });
        }
    });
    let m = shared.metrics();
    assert_eq!((m.queries, m.latency.count), (1001, 1001));
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["queries"], 1001);
    assert!(json["latency"]["p99"].as_u64().unwrap() >= json["latency"]["p50"].as_u64().unwrap());
}

// ---------- queries, batches with metadata, exact search ----------

/// NaN and infinite queries are typed errors on every search method (main
/// accepted them and returned NaN distances); binary metrics take any bits.
#[test]
fn non_finite_queries_are_refused() {
    let data = clustered(50, 3, 2, 0.3, 2);
    let mut c = collection_of(&data, 3, "l2");
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let q = [0.0, bad, 1.0];
        let refused = |r: Result<Vec<Hit>>| matches!(r, Err(VectorError::NonFiniteQuery { position: 1, value }) if value.to_bits() == bad.to_bits());
        assert!(refused(c.search(&q, 3)));
        assert!(refused(c.search_exact(&q, 3, None)));
        assert!(refused(c.range_search(&q, 1.0, None)));
        let batch = [0.0, 0.0, 0.0, 0.0, bad, 1.0];
        assert!(matches!(
            c.search_exact_batch(&batch, 3, None),
            Err(VectorError::NonFiniteQuery { position: 1, .. })
        ));
        assert!(c
            .search_batch(&batch, 3, &SearchOptions::default())
            .is_err());
    }
    let mut bits = Collection::new(CollectionConfig::new(1, "hamming")).unwrap();
    bits.insert(1u64, &[f32::from_bits(0x7fc0_0001)], None)
        .unwrap();
    assert_eq!(bits.search(&[f32::NAN], 1).unwrap().len(), 1);
}

/// Under cosine a zero query is at distance 1 from every non-zero vector and
/// 0 from a zero vector (as documented on `Collection::search`), for every
/// storage, exactly and through an index.
#[test]
fn zero_query_under_cosine_is_defined() {
    for storage in [Storage::F32, Storage::F16, Storage::I8] {
        let config = CollectionConfig::new(3, "cosine")
            .with_storage(storage)
            .with_i8_range(-2.0, 2.0);
        let mut c = Collection::new(config).unwrap();
        c.insert(1u64, &[1.0, 0.0, 0.0], None).unwrap();
        c.insert(2u64, &[0.0, 0.0, 0.0], None).unwrap();
        c.insert(3u64, &[-1.0, 1.0, 0.5], None).unwrap();
        let exact = c.search(&[0.0; 3], 3).unwrap();
        let got: Vec<(Id, f32)> = exact.iter().map(|h| (h.id.clone(), h.distance)).collect();
        assert_eq!(
            got,
            [(2u64.into(), 0.0), (1u64.into(), 1.0), (3u64.into(), 1.0)],
            "{storage}"
        );
        c.create_index("g", "hnsw", Params::defaults()).unwrap();
        let mut via_index = c.search(&[0.0; 3], 3).unwrap();
        via_index.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        assert_eq!(via_index.len(), 3);
        assert_eq!(via_index[0].distance, 0.0);
        assert!(via_index[1..].iter().all(|h| h.distance == 1.0));
    }
}

/// `insert_rows_with` stores each row's metadata, is all-or-nothing, and
/// leaves the collection exactly as per-row inserts would.
#[test]
fn insert_rows_with_metadata_equals_per_row_inserts() {
    let dim = 4;
    let n = 300;
    let data = clustered(n, dim, 5, 0.2, 6);
    let meta = |i: usize| {
        (!i.is_multiple_of(3)).then(|| {
            let mut m = Metadata::new();
            m.insert("i".into(), Value::I64(i as i64));
            m.insert("even".into(), Value::Bool(i.is_multiple_of(2)));
            m
        })
    };
    for storage in [Storage::F32, Storage::I8] {
        let config = CollectionConfig::new(dim, "l2")
            .with_storage(storage)
            .with_i8_train_rows(n);
        let mut batch = Collection::new(config.clone()).unwrap();
        let mut rows = Collection::new(config).unwrap();
        // A metadata list of the wrong length, a repeated id: nothing stored.
        assert!(matches!(
            batch.insert_rows_with(0u64..n as u64, &data, (0..n - 1).map(meta)),
            Err(VectorError::WrongDimension {
                expected: 300,
                got: 299
            })
        ));
        let mut ids: Vec<u64> = (0..n as u64).collect();
        ids[9] = 8;
        assert!(batch
            .insert_rows_with(ids, &data, (0..n).map(meta))
            .is_err());
        assert!(batch.is_empty());
        batch
            .insert_rows_with(0u64..n as u64, &data, (0..n).map(meta))
            .unwrap();
        rows.train_quantizer(&data).ok();
        for (i, r) in data.chunks_exact(dim).enumerate() {
            rows.insert(i as u64, r, meta(i)).unwrap();
        }
        assert_eq!(batch.len(), n);
        assert_eq!(batch.quantizer(), rows.quantizer());
        for (a, b) in batch.iter().zip(rows.iter()) {
            assert_eq!(a, b);
        }
        let even = |_: &Id, m: Option<&Metadata>| {
            m.and_then(|m| m.get("even")) == Some(&Value::Bool(true))
        };
        let q = &data[..dim];
        let hits = batch.search_exact(q, 10, Some(&even)).unwrap();
        assert_eq!(hits.len(), 10);
        for h in &hits {
            let Id::Num(i) = h.id else { panic!() };
            assert!(i % 2 == 0 && i % 3 != 0, "{i}");
        }
    }
}

/// `search_exact` with an index attached is brute force: the same hits as
/// an independent f64 brute force (rank by rank, distances within f32
/// error), while the index's own answer may differ.
#[test]
fn search_exact_ignores_the_index_and_equals_brute_force() {
    let dim = 8;
    let data = clustered(800, dim, 6, 0.4, 12);
    let mut c = collection_of(&data, dim, "l2");
    let sparse = HnswConfig {
        m: 2,
        ef_construction: 4,
        ..HnswConfig::default()
    };
    c.create_index("g", "hnsw", Params::typed(&sparse)).unwrap();
    let mut rng = Rng::new(3);
    let mut index_missed = 0;
    for _ in 0..20 {
        let q: Vec<f32> = (0..dim).map(|_| rng.normal() as f32).collect();
        let want = crate::util::brute_force(&data, dim, &[true; 800], &q, 10);
        let exact = c.search_exact(&q, 10, None).unwrap();
        assert_eq!(exact.len(), 10);
        for (h, (d, slot)) in exact.iter().zip(&want) {
            assert!((f64::from(h.distance) - d).abs() <= 1e-4 * d.max(1.0));
            // The same vector, or one at the same distance (a tie).
            let Id::Num(i) = h.id else { panic!() };
            let di = crate::util::l2_f64(&q, &data[i as usize * dim..][..dim]);
            assert!(i == u64::from(*slot) || (di - d).abs() <= 1e-4 * d.max(1.0));
        }
        let approx = c.search(&q, 10).unwrap();
        index_missed += usize::from(approx != exact);
    }
    // The sparse graph is approximate, so the check above is not vacuous.
    assert!(index_missed > 0, "the index answered exactly every time");
}

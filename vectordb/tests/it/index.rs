//! The flat, HNSW and IVF indexes against exact f64 brute force: results,
//! ties, recall, deletions, filters and compaction.

use unidb_vectordb::data::{clustered, Rng};
use unidb_vectordb::hnsw::{HnswConfig, HnswSearch};
use unidb_vectordb::ivf::{IvfConfig, IvfSearch};
use unidb_vectordb::*;

use crate::util::{brute_force, collection_of, dataset, gt_recall, recall, slots};

// ---------- flat ----------

#[test]
fn flat_equals_f64_brute_force_with_ties() {
    // Small integers: f32 distances are exact, so ties must be broken by
    // slot exactly as the f64 oracle does.
    let mut rng = Rng::new(11);
    let dim = 5;
    let n = 400;
    let data: Vec<f32> = (0..n * dim).map(|_| rng.index(5) as f32 - 2.0).collect();
    let mut c = collection_of(&data, dim, "l2");
    let mut live = vec![true; n];
    for i in (0..n).step_by(7) {
        c.delete(i as u64).unwrap();
        live[i] = false;
    }
    c.create_index("flat", "flat", Params::defaults()).unwrap();
    let queries: Vec<f32> = (0..20 * dim).map(|_| rng.index(5) as f32 - 2.0).collect();
    let batch = c.search_exact_batch(&queries, 10, None).unwrap();
    for (qi, q) in queries.chunks_exact(dim).enumerate() {
        let want = brute_force(&data, dim, &live, q, 10);
        let want_slots: Vec<u32> = want.iter().map(|e| e.1).collect();
        assert_eq!(
            slots(&c, q, 10, Some("flat"), Params::defaults()),
            want_slots
        );
        let hits = c.search(q, 10).unwrap();
        let got: Vec<(f64, Id)> = hits
            .iter()
            .map(|h| (f64::from(h.distance), h.id.clone()))
            .collect();
        let exp: Vec<(f64, Id)> = want
            .iter()
            .map(|e| (e.0, Id::Num(u64::from(e.1))))
            .collect();
        assert_eq!(got, exp);
        assert_eq!(batch[qi], hits);
        // Range search: exactly those within the radius.
        let radius = want[4].0 as f32;
        let mut all = brute_force(&data, dim, &live, q, n);
        all.retain(|e| e.0 <= f64::from(radius));
        let range: Vec<Id> = c
            .range_search(q, radius, None)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(
            range,
            all.iter()
                .map(|e| Id::Num(u64::from(e.1)))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn flat_recall_is_one_on_dataset() {
    let d = dataset();
    let c = collection_of(&d.base, d.dim, "l2");
    let found: Vec<Vec<u32>> = c
        .search_exact_batch(&d.query, 10, None)
        .unwrap()
        .into_iter()
        .map(|h| {
            h.into_iter()
                .map(|h| {
                    if let Id::Num(n) = h.id {
                        n as u32
                    } else {
                        u32::MAX
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(gt_recall(&found, &d.gt), 1.0);
}

// ---------- hnsw ----------

/// M=16, ef_construction=200: built serially, or in parallel by default.
fn hnsw_collection(parallel: bool) -> Collection {
    let d = dataset();
    let mut c = collection_of(&d.base, d.dim, "l2");
    let config = HnswConfig {
        m: 16,
        ef_construction: 200,
        parallel,
        ..HnswConfig::default()
    };
    let params = if parallel {
        // The defaults are this configuration, built in parallel.
        assert_eq!(config, HnswConfig::default());
        Params::defaults()
    } else {
        Params::typed(&config)
    };
    c.create_index("hnsw", "hnsw", params).unwrap();
    c
}

fn hnsw_recalls(c: &Collection) -> Vec<(usize, f64)> {
    let d = dataset();
    [20, 40, 80, 160]
        .iter()
        .map(|&ef| {
            let found: Vec<Vec<u32>> = d
                .query
                .chunks_exact(d.dim)
                .map(|q| {
                    slots(
                        c,
                        q,
                        10,
                        Some("hnsw"),
                        Params::typed(&HnswSearch { ef: Some(ef) }),
                    )
                })
                .collect();
            (ef, gt_recall(&found, &d.gt))
        })
        .collect()
}

#[test]
fn hnsw_recall_serial_deterministic_and_parallel() {
    let serial = hnsw_collection(false);
    let r = hnsw_recalls(&serial);
    assert!(r.iter().any(|&(ef, rec)| ef <= 160 && rec >= 0.95), "{r:?}");
    // Recall grows with ef.
    assert!(r.windows(2).all(|w| w[1].1 >= w[0].1 - 0.01), "{r:?}");
    // Deterministic with a seed: a second serial build gives identical results.
    let again = hnsw_collection(false);
    let d = dataset();
    for q in d.query.chunks_exact(d.dim).take(20) {
        let p = HnswSearch { ef: Some(40) };
        assert_eq!(
            slots(&serial, q, 10, Some("hnsw"), Params::typed(&p)),
            slots(&again, q, 10, Some("hnsw"), Params::typed(&p))
        );
    }
    // The default, parallel build: same recall as serial, within noise.
    let par = hnsw_collection(true);
    let rp = hnsw_recalls(&par);
    // Small query sets are noisy at low ef: compare each setting loosely and
    // the mean over settings tightly.
    // At ef < 80 recall is low and sensitive to the (thread-timing
    // dependent) insertion order of the parallel build (ef 40 once missed
    // by more than 0.06 on a loaded 2-core host), so only the mean covers
    // those settings.
    for ((ef, a), (_, b)) in r.iter().zip(&rp).filter(|((ef, _), _)| *ef >= 80) {
        assert!(*b >= a - 0.06, "ef {ef}: serial {a} parallel {b}");
    }
    let mean = |v: &[(usize, f64)]| v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
    // The parallel build must not lose recall. It may gain some: its
    // insertion order differs and is sometimes measurably better (seen: +0.03).
    assert!(mean(&rp) >= mean(&r) - 0.03, "serial {r:?} parallel {rp:?}");
}

#[test]
fn hnsw_delete_filter_compact() {
    let (n, dim) = (1500, 16);
    let data = clustered(n, dim, 10, 0.3, 5);
    let mut c = collection_of(&data, dim, "l2");
    let config = HnswConfig {
        m: 8,
        ef_construction: 64,
        ..HnswConfig::default()
    };
    c.create_index("g", "hnsw", Params::typed(&config)).unwrap();
    let mut live = vec![true; n];
    for i in (0..n).step_by(3) {
        c.delete(i as u64).unwrap();
        live[i] = false;
    }
    let mut rng = Rng::new(1);
    let is_even = |id: &Id, _: Option<&Metadata>| matches!(id, Id::Num(v) if v % 2 == 0);
    // A very selective filter: 1 id in 100.
    let rare = |id: &Id, _: Option<&Metadata>| matches!(id, Id::Num(v) if v % 100 == 1);
    // Above the exact threshold, but selective enough to need a wider walk.
    let tenth = |id: &Id, _: Option<&Metadata>| matches!(id, Id::Num(v) if v % 10 == 4);
    for _ in 0..20 {
        let q: Vec<f32> = (0..dim).map(|_| rng.normal() as f32 * 0.5).collect();
        let found = slots(&c, &q, 10, Some("g"), Params::defaults());
        assert_eq!(found.len(), 10);
        assert!(found.iter().all(|&s| live[s as usize]));
        let exact = brute_force(&data, dim, &live, &q, 10);
        assert!(recall(&found, &exact, &data, dim, &q) >= 0.8);
        for (filter, keep) in [
            (&is_even as FilterFn<'_>, 2u64),
            (&rare as FilterFn<'_>, 100),
            (&tenth as FilterFn<'_>, 10),
        ] {
            let o = SearchOptions {
                index: Some("g"),
                params: Params::defaults(),
                filter: Some(filter),
                k_factor: None,
            };
            let hits = c.search_with(&q, 10, &o).unwrap();
            let fl: Vec<bool> = (0..n)
                .map(|i| live[i] && filter(&Id::Num(i as u64), None))
                .collect();
            let exact = brute_force(&data, dim, &fl, &q, 10);
            assert_eq!(
                hits.len(),
                exact.len(),
                "filtered search returns k when k pass"
            );
            let hs: Vec<u32> = hits
                .iter()
                .map(|h| {
                    if let Id::Num(v) = h.id {
                        v as u32
                    } else {
                        u32::MAX
                    }
                })
                .collect();
            assert!(hs.iter().all(|&s| fl[s as usize]));
            assert!(recall(&hs, &exact, &data, dim, &q) >= 0.8, "keep 1/{keep}");
            if keep == 100 {
                // Below the selectivity threshold the search is exact.
                assert_eq!(hs, exact.iter().map(|e| e.1).collect::<Vec<_>>());
            }
        }
    }
    c.compact().unwrap();
    assert_eq!(c.len(), live.iter().filter(|l| **l).count());
    let q = &data[dim..2 * dim];
    let hits = c.search(q, 1).unwrap();
    assert_eq!(hits[0].id, Id::Num(1));
}

// ---------- ivf ----------

#[test]
fn ivf_recall_at_nlist_over_8() {
    let d = dataset();
    let mut c = collection_of(&d.base, d.dim, "l2");
    // About ten vectors per list: 500 lists on sift5k, 300 on generated data.
    let nlist = c.len() / 10;
    let config = IvfConfig {
        nlist,
        ..IvfConfig::default()
    };
    c.create_index("ivf", "ivf", Params::typed(&config))
        .unwrap();
    let found: Vec<Vec<u32>> = d
        .query
        .chunks_exact(d.dim)
        .map(|q| {
            slots(
                &c,
                q,
                10,
                Some("ivf"),
                Params::typed(&IvfSearch {
                    nprobe: Some(nlist / 8),
                }),
            )
        })
        .collect();
    let r = gt_recall(&found, &d.gt);
    assert!(r >= 0.9, "ivf recall {r}");
}

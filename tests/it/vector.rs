//! The vector database used as a user crate would: a custom metric
//! registered from outside `unidb-vectordb`, used by name in every index.

use unidb_vectordb::{Collection, CollectionConfig, Id, IndexConfig, SearchOptions, SearchParams};

/// Chebyshev (L∞) distance: not a built-in metric.
fn chebyshev(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

unidb_vectordb::register_metric!("chebyshev", "max |a_i - b_i|", chebyshev);

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

#[test]
fn user_metric_is_registered_and_works_in_flat_and_hnsw() {
    let info = unidb_vectordb::Metric::by_name("CHEBYSHEV").unwrap().plugin().info;
    assert_eq!(info.crate_name, "unidb");
    let dim = 6;
    let mut seed = 17;
    let data: Vec<f32> = (0..600 * dim).map(|_| lcg(&mut seed)).collect();
    let mut c = Collection::new(CollectionConfig::new(dim, "chebyshev")).unwrap();
    for (i, row) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, row, None).unwrap();
    }
    c.create_index("flat", "flat", &IndexConfig::default()).unwrap();
    c.create_index("hnsw", "hnsw", &IndexConfig::default()).unwrap();
    let mut agree = 0;
    let queries = 30;
    for _ in 0..queries {
        let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
        // Oracle: brute force with the user's function, ties by insertion order.
        let mut all: Vec<(f32, u64)> = data
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| (chebyshev(&q, r), i as u64))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<Id> = all[..10].iter().map(|e| Id::Num(e.1)).collect();
        let flat = c
            .search(&q, 10, &SearchOptions { index: Some("flat"), ..SearchOptions::default() })
            .unwrap();
        assert_eq!(flat.iter().map(|h| h.id.clone()).collect::<Vec<_>>(), want);
        let hnsw = c
            .search(
                &q,
                10,
                &SearchOptions {
                    index: Some("hnsw"),
                    params: SearchParams { ef: Some(100), nprobe: None },
                    filter: None,
                },
            )
            .unwrap();
        agree += hnsw.iter().filter(|h| want.contains(&h.id)).count();
    }
    let recall = agree as f64 / (10 * queries) as f64;
    assert!(recall >= 0.9, "hnsw recall with a user metric: {recall}");
}

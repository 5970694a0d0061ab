//! Transforms inside collections (`CollectionConfig::transforms`, factory
//! prefixes `PCA{d}`), against independent oracles: f64 brute force over
//! the vectors as inserted, and distances computed directly.

use unidb_vectordb::data::clustered;
use unidb_vectordb::*;

use crate::util::{brute_force, l2_f64, patch_crc, tmp_path};

fn step(name: &str, params: serde_json::Value) -> TransformStep {
    TransformStep::new(name, params)
}

/// Rows of `dim` values spread over a `rank`-dimensional subspace (a
/// fixed random embedding of clustered points), plus small isotropic
/// noise: what PCA to `rank` components keeps nearly whole.
#[cfg(feature = "linalg")]
fn low_rank(n: usize, dim: usize, rank: usize, seed: u64) -> Vec<f32> {
    let latent = clustered(n, rank, 20, 0.4, seed);
    let basis = clustered(rank, dim, 1, 1.0, seed + 1);
    let noise = clustered(n, dim, 1, 0.01, seed + 2);
    let mut out = vec![0.0f32; n * dim];
    for i in 0..n {
        for j in 0..dim {
            let mut v = noise[i * dim + j] - noise[j];
            for r in 0..rank {
                v += latent[i * rank + r] * basis[r * dim + j];
            }
            out[i * dim + j] = v;
        }
    }
    out
}

/// The share of the true 10 nearest (f64 brute force on the original
/// rows) among the hits.
fn recall_at_10(
    base: &[f32],
    dim: usize,
    queries: &[f32],
    search: impl Fn(&[f32]) -> Vec<Hit>,
) -> f64 {
    let live = vec![true; base.len() / dim];
    let mut found = 0;
    let mut total = 0;
    for q in queries.chunks_exact(dim) {
        let truth: Vec<Id> = brute_force(base, dim, &live, q, 10)
            .into_iter()
            .map(|(_, s)| Id::Num(u64::from(s)))
            .collect();
        let hits = search(q);
        found += hits.iter().filter(|h| truth.contains(&h.id)).count();
        total += truth.len();
    }
    found as f64 / total as f64
}

/// Exact searches of a collection whose transforms preserve l2 distances
/// return the brute-force neighbours of the original rows, at the
/// original distances.
fn assert_distances_preserved(c: &Collection, base: &[f32], dim: usize, queries: &[f32]) {
    let live = vec![true; base.len() / dim];
    for q in queries.chunks_exact(dim) {
        let truth = brute_force(base, dim, &live, q, 10);
        for hits in [
            c.search(q, 10).unwrap(),
            c.search_exact(q, 10, None).unwrap(),
            c.search_exact_batch(q, 10, None).unwrap().remove(0),
        ] {
            assert_eq!(hits.len(), 10);
            for (h, &(d, _)) in hits.iter().zip(&truth) {
                let Id::Num(s) = h.id else { panic!() };
                let own = l2_f64(q, &base[s as usize * dim..(s as usize + 1) * dim]);
                // The hit's distance is its true distance, and the k-th
                // distances agree with brute force (ties may reorder ids).
                assert!(
                    (f64::from(h.distance) - own).abs() <= 1e-3 * own.max(1.0),
                    "{h:?} vs {own}"
                );
                assert!(
                    (f64::from(h.distance) - d).abs() <= 1e-3 * d.max(1.0),
                    "{h:?} vs {d}"
                );
            }
        }
    }
}

#[test]
fn centering_in_a_collection_preserves_distances_and_waits_for_its_sample() {
    let dim = 12;
    let base = clustered(500, dim, 8, 0.3, 3);
    let queries = clustered(20, dim, 8, 0.3, 4);
    let config = CollectionConfig::new(dim, "l2")
        .with_i8_train_rows(200)
        .with_transforms(vec![step("center", serde_json::json!({}))]);
    let mut c = Collection::new(config).unwrap();
    c.insert_rows(0u64..150, &base[..150 * dim]).unwrap();
    assert!(c.is_awaiting_transform() && c.transform().is_none());
    // Searched untransformed while waiting.
    assert_distances_preserved(&c, &base[..150 * dim], dim, &queries);
    c.insert_rows(150u64..500, &base[150 * dim..]).unwrap();
    let t = c.transform().expect("fitted on the first 500 rows");
    assert_eq!((t.dim_in(), t.dim_out(), c.row_dim()), (dim, dim, dim));
    // The stored rows are the inserted ones minus the mean of the 500.
    let mean: Vec<f64> = (0..dim)
        .map(|j| {
            base.iter()
                .skip(j)
                .step_by(dim)
                .map(|&v| f64::from(v))
                .sum::<f64>()
                / 500.0
        })
        .collect();
    let stored = c.get(7u64).unwrap().vector; // inverse of the stored row
    for j in 0..dim {
        assert!((stored[j] - base[7 * dim + j]).abs() < 1e-4);
    }
    let applied = t.apply(&base[7 * dim..8 * dim]).unwrap();
    for j in 0..dim {
        assert!((f64::from(applied[j]) - (f64::from(base[7 * dim + j]) - mean[j])).abs() < 1e-4);
    }
    assert_distances_preserved(&c, &base, dim, &queries);
    c.create_index("g", "hnsw", Params::defaults()).unwrap();
    let r = recall_at_10(&base, dim, &queries, |q| c.search(q, 10).unwrap());
    assert!(r >= 0.95, "hnsw over centered rows: recall {r}");
    // Bad input: typed errors, nothing stored.
    let mut bad = base[..dim].to_vec();
    bad[3] = f32::INFINITY;
    assert!(matches!(
        c.insert(9999u64, &bad, None),
        Err(VectorError::Transform(TransformError::NotFinite {
            column: 3,
            ..
        }))
    ));
    assert!(matches!(
        c.insert(9999u64, &bad[..3], None),
        Err(VectorError::WrongDimension { .. })
    ));
    assert_eq!(c.len(), 500);
}

#[test]
fn transform_configurations_are_checked() {
    let with = |steps: Vec<TransformStep>| CollectionConfig::new(8, "l2").with_transforms(steps);
    assert!(matches!(
        Collection::new(with(vec![step("nope", serde_json::json!({}))])),
        Err(VectorError::Registry(_))
    ));
    assert!(Collection::new(with(vec![step("center", serde_json::json!([1]))])).is_err());
    assert!(Collection::new(
        with(vec![step("center", serde_json::json!({}))])
            .with_i8_range(-1.0, 1.0)
            .with_storage(Storage::I8)
    )
    .is_err());
    assert!(Collection::new(
        CollectionConfig::new(2, "hamming")
            .with_transforms(vec![step("center", serde_json::json!({}))])
    )
    .is_err());
    // A parameter the plugin does not know fails the fit, and the rows stay.
    let mut c = Collection::new(
        with(vec![step("center", serde_json::json!({"bogus": 1}))]).with_i8_train_rows(4),
    )
    .unwrap();
    c.insert_rows(0u64..3, &clustered(3, 8, 1, 1.0, 1)).unwrap();
    assert!(c.insert_rows(3u64..5, &clustered(2, 8, 1, 1.0, 2)).is_err());
    assert_eq!(c.len(), 3);
    assert!(c.is_awaiting_transform());
}

#[test]
fn transformed_collections_persist_and_refuse_crafted_bytes() {
    let dim = 8;
    let base = clustered(300, dim, 5, 0.2, 8);
    for (storage, refine) in [
        (Storage::F32, false),
        (Storage::I8, true),
        (Storage::F16, false),
    ] {
        let config = CollectionConfig::new(dim, "l2")
            .with_storage(storage)
            .with_refine(refine)
            .with_i8_train_rows(100)
            .with_transforms(vec![
                step("center", serde_json::json!({})),
                step("projection", serde_json::json!({"dim_out": 6, "seed": 3})),
            ]);
        let mut c = Collection::new(config).unwrap();
        c.insert_rows(0u64..300, &base).unwrap();
        c.create_index("g", "hnsw", Params::defaults()).unwrap();
        c.delete(3u64).unwrap();
        assert_eq!(c.row_dim(), 6);
        let path = tmp_path(&format!("xform-{storage}-{refine}"));
        c.save(&path).unwrap();
        let o = Collection::open(&path).unwrap();
        assert_eq!(o.config(), c.config());
        assert_eq!(
            o.transform().unwrap().to_bytes(),
            c.transform().unwrap().to_bytes()
        );
        for q in base.chunks_exact(dim).step_by(17) {
            for index in [None, Some("g")] {
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
            assert_eq!(
                c.search_exact(q, 5, None).unwrap(),
                o.search_exact(q, 5, None).unwrap()
            );
        }
        let mut o = o;
        o.insert(1000u64, &base[..dim], None).unwrap();
        c.insert(1000u64, &base[..dim], None).unwrap();
        assert_eq!(persist::to_bytes(&o), persist::to_bytes(&c));
        std::fs::remove_file(&path).unwrap();
    }
    // Awaiting its fit: saved with raw rows, fitted after reopening.
    let config = CollectionConfig::new(dim, "l2")
        .with_i8_train_rows(50)
        .with_transforms(vec![step("center", serde_json::json!({}))]);
    let mut c = Collection::new(config).unwrap();
    c.insert_rows(0u64..20, &base[..20 * dim]).unwrap();
    let mut o = persist::from_bytes(&persist::to_bytes(&c)).unwrap();
    assert!(o.is_awaiting_transform());
    o.insert_rows(20u64..60, &base[20 * dim..60 * dim]).unwrap();
    c.insert_rows(20u64..60, &base[20 * dim..60 * dim]).unwrap();
    assert!(o.transform().is_some());
    assert_eq!(persist::to_bytes(&o), persist::to_bytes(&c));
    // Every byte flipped (checksum recomputed): an error or a collection
    // that still answers, never a panic.
    let config = CollectionConfig::new(4, "l2")
        .with_i8_train_rows(10)
        .with_refine(true)
        .with_transforms(vec![step("center", serde_json::json!({}))]);
    let mut small = Collection::new(config).unwrap();
    let rows = clustered(24, 4, 2, 0.5, 9);
    small.insert_rows(0u64..24, &rows).unwrap();
    small.create_index("g", "hnsw", Params::defaults()).unwrap();
    let bytes = persist::to_bytes(&small);
    let mut refused = 0;
    for i in 16..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            patch_crc(&mut b);
            match persist::from_bytes(&b) {
                Err(e) => {
                    refused += 1;
                    let _ = unidb_common::Error::from(e).kind();
                }
                Ok(c) => {
                    if let Ok(hits) = c.search(&rows[..4], 3) {
                        assert!(hits.len() <= 3);
                    }
                }
            }
        }
    }
    assert!(refused > 0);
    // The fitted chain's bytes damaged inside (its own CRC catches it).
    let chain = small.transform().unwrap().to_bytes();
    let at = bytes
        .windows(chain.len())
        .position(|w| w == chain.as_slice())
        .unwrap();
    let mut b = bytes.clone();
    b[at + chain.len() / 2] ^= 0x10;
    patch_crc(&mut b);
    assert!(
        matches!(persist::from_bytes(&b), Err(VectorError::Corrupt(w)) if w.contains("transform"))
    );
}

/// A version-5 file (before transforms; saved by that build, see the
/// generator in the commit that added it) still opens and answers.
#[test]
fn a_file_of_the_format_before_transforms_still_opens() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pq_refine_v5.uvec");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 5);
    let c = Collection::open(&path).unwrap();
    // The generator inserted clustered(300, 8, 5, 0.2, 8) as pq 4x8 with
    // refine and an hnsw index, then deleted id 3.
    let base = clustered(300, 8, 5, 0.2, 8);
    assert_eq!(c.len(), 299);
    assert!(c.config().transforms.is_empty() && c.transform().is_none());
    assert_eq!(c.get(10u64).unwrap().vector.as_ref(), &base[80..88]);
    let opts = SearchOptions {
        k_factor: Some(8.0),
        ..SearchOptions::default()
    };
    let hits = c.search_with(&base[80..88], 1, &opts).unwrap();
    assert_eq!(hits[0].id, Id::Num(10));
    let again = persist::from_bytes(&persist::to_bytes(&c)).unwrap();
    assert_eq!(
        again.search_with(&base[80..88], 5, &opts).unwrap(),
        c.search_with(&base[80..88], 5, &opts).unwrap()
    );
}

#[cfg(not(feature = "linalg"))]
#[test]
fn without_linalg_pca_factory_strings_are_unsupported_naming_the_feature() {
    for s in [
        "PCA64,HNSW16,Flat",
        "PCAR64,IVF64,PQ16x8,RFlat",
        "PCAW32,Flat",
    ] {
        let e = Collection::from_factory(128, "l2", s).unwrap_err();
        assert!(e.to_string().contains("linalg"), "{e}");
        assert_eq!(
            unidb_common::Error::from(e).kind(),
            unidb_common::ErrorKind::Unsupported
        );
    }
}

#[cfg(feature = "linalg")]
mod pca {
    use super::*;
    use unidb_vectordb::hnsw::HnswSearch;
    use unidb_vectordb::ivf::IvfSearch;

    #[test]
    fn pca_with_all_components_preserves_distances() {
        let dim = 16;
        let base = clustered(400, dim, 6, 0.5, 11);
        let queries = clustered(15, dim, 6, 0.5, 12);
        for spec in ["PCA16,Flat", "PCAR16,Flat"] {
            let mut c = Collection::from_factory(dim, "l2", spec).unwrap();
            c.insert_rows(0u64..400, &base).unwrap();
            // 400 rows are below the training count: train explicitly.
            assert!(c.is_awaiting_transform());
            c.train(&[]).unwrap();
            assert_eq!(c.row_dim(), 16);
            assert_distances_preserved(&c, &base, dim, &queries);
            // The stored rows map back to the inserted ones.
            let back = c.get(5u64).unwrap().vector;
            for j in 0..dim {
                assert!((back[j] - base[5 * dim + j]).abs() < 1e-3, "{spec}");
            }
        }
    }

    #[test]
    fn pca64_hnsw16_flat_recall_against_brute_force() {
        let (dim, n) = (128, 3000);
        let base = low_rank(n, dim, 48, 21);
        let queries = low_rank(50, dim, 48, 21 + 100);
        let mut c = Collection::from_factory(dim, "l2", "PCA64,HNSW16,Flat").unwrap();
        c.insert_rows(0u64..n as u64, &base).unwrap();
        assert_eq!((c.row_dim(), c.bytes_per_vector()), (64, 256));
        let wide = HnswSearch { ef: Some(64) };
        let opts = SearchOptions {
            params: Params::typed(&wide),
            ..SearchOptions::default()
        };
        let r = recall_at_10(&base, dim, &queries, |q| {
            c.search_with(q, 10, &opts).unwrap()
        });
        assert!(r >= 0.9, "PCA64,HNSW16,Flat recall@10 {r}");
        // The batch path transforms the queries at once: same answers.
        let batch = c.search_batch(&queries, 10, &opts).unwrap();
        for (q, hits) in queries.chunks_exact(dim).zip(batch) {
            assert_eq!(hits, c.search_with(q, 10, &opts).unwrap());
        }
    }

    #[test]
    fn pca64_ivf_pq_rflat_recall_against_brute_force() {
        let (dim, n) = (128, 3000);
        let base = low_rank(n, dim, 48, 31);
        let queries = low_rank(50, dim, 48, 31 + 100);
        let mut c = Collection::from_factory(dim, "l2", "PCA64,IVF64,PQ16x8,RFlat").unwrap();
        c.insert_rows(0u64..n as u64, &base).unwrap();
        c.rebuild_index("ivf").unwrap();
        assert_eq!((c.row_dim(), c.bytes_per_vector()), (64, 16));
        let probe = IvfSearch { nprobe: Some(16) };
        let opts = SearchOptions {
            params: Params::typed(&probe),
            k_factor: Some(10.0),
            ..SearchOptions::default()
        };
        let r = recall_at_10(&base, dim, &queries, |q| {
            c.search_with(q, 10, &opts).unwrap()
        });
        assert!(r >= 0.9, "PCA64,IVF64,PQ16x8,RFlat recall@10 {r}");
        // Reranked distances are exact on the originals.
        for q in queries.chunks_exact(dim).take(5) {
            for h in c.search_with(q, 10, &opts).unwrap() {
                let Id::Num(s) = h.id else { panic!() };
                let d = l2_f64(q, &base[s as usize * dim..(s as usize + 1) * dim]);
                assert!((f64::from(h.distance) - d).abs() <= 1e-3 * d.max(1.0));
            }
        }
        let path = tmp_path("xform-pca-ivf-pq");
        c.save(&path).unwrap();
        let o = Collection::open(&path).unwrap();
        for q in queries.chunks_exact(dim).take(10) {
            assert_eq!(
                o.search_with(q, 10, &opts).unwrap(),
                c.search_with(q, 10, &opts).unwrap()
            );
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// On sift5k (`UNIDB_SIFT_DIR`), FAISS's `PCA64,HNSW16,Flat` reaches
    /// recall@10 0.752; ours is held to 0.70.
    #[test]
    fn pca64_hnsw16_flat_on_sift() {
        let d = crate::util::dataset();
        if d.dim != 128 {
            return;
        }
        let mut c = Collection::from_factory(d.dim, "l2", "PCA64,HNSW16,Flat").unwrap();
        c.insert_rows(0u64..(d.base.len() / d.dim) as u64, &d.base)
            .unwrap();
        let r = recall_at_10(&d.base, d.dim, &d.query, |q| c.search(q, 10).unwrap());
        assert!(r >= 0.70, "sift5k PCA64,HNSW16,Flat recall@10 {r}");
    }
}

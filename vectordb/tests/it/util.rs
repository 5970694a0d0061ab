//! Oracles and fixtures shared by the test modules.

use std::path::PathBuf;
use std::sync::OnceLock;

use unidb_vectordb::data::clustered;
use unidb_vectordb::io::{read_fvecs, read_ivecs};
use unidb_vectordb::*;

// ---------- oracles ----------

pub fn l2_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum()
}

pub fn brute_force(
    data: &[f32],
    dim: usize,
    live: &[bool],
    q: &[f32],
    k: usize,
) -> Vec<(f64, u32)> {
    let mut all: Vec<(f64, u32)> = data
        .chunks_exact(dim)
        .enumerate()
        .filter(|(i, _)| live[*i])
        .map(|(i, r)| (l2_f64(q, r), i as u32))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.truncate(k);
    all
}

/// Recall@k of `found` slots against exact neighbours, counting any result
/// whose exact distance ties the k-th as correct.
pub fn recall(found: &[u32], exact: &[(f64, u32)], data: &[f32], dim: usize, q: &[f32]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let kth = exact.last().map_or(0.0, |e| e.0);
    let ok = found
        .iter()
        .take(exact.len())
        .filter(|&&s| {
            l2_f64(q, &data[s as usize * dim..(s as usize + 1) * dim]) <= kth * (1.0 + 1e-6)
        })
        .count();
    ok as f64 / exact.len() as f64
}

pub struct Dataset {
    pub base: Vec<f32>,
    pub query: Vec<f32>,
    pub dim: usize,
    pub gt: Vec<Vec<u32>>,
}

/// SIFT from `UNIDB_SIFT_DIR` when present, else small seeded clustered data.
pub fn dataset() -> &'static Dataset {
    static D: OnceLock<Dataset> = OnceLock::new();
    D.get_or_init(|| {
        if let Some(dir) = std::env::var_os("UNIDB_SIFT_DIR").map(PathBuf::from) {
            let files = (
                read_fvecs(dir.join("sift5k_base.fvecs")),
                read_fvecs(dir.join("sift5k_query.fvecs")),
                read_ivecs(dir.join("sift5k_groundtruth.ivecs")),
            );
            if let (Ok(b), Ok(q), Ok(g)) = files {
                let gt = (0..q.rows)
                    .map(|i| g.row(i)[..10].iter().map(|&v| v as u32).collect())
                    .collect();
                return Dataset {
                    base: b.data,
                    query: q.data,
                    dim: b.dim,
                    gt,
                };
            }
        }
        let (n, nq, dim) = (3000, 60, 32);
        let all = clustered(n + nq, dim, 30, 0.25, 7);
        let base = all[..n * dim].to_vec();
        let query = all[n * dim..].to_vec();
        let live = vec![true; n];
        let gt = query
            .chunks_exact(dim)
            .map(|q| {
                brute_force(&base, dim, &live, q, 10)
                    .into_iter()
                    .map(|e| e.1)
                    .collect()
            })
            .collect();
        Dataset {
            base,
            query,
            dim,
            gt,
        }
    })
}

pub fn collection_of(data: &[f32], dim: usize, metric: &str) -> Collection {
    let mut c = Collection::new(CollectionConfig::new(dim, metric)).unwrap();
    for (i, r) in data.chunks_exact(dim).enumerate() {
        c.insert(i as u64, r, None).unwrap();
    }
    c
}

pub fn slots(
    c: &Collection,
    q: &[f32],
    k: usize,
    index: Option<&str>,
    params: Params<'_>,
) -> Vec<u32> {
    let o = SearchOptions {
        index,
        params,
        filter: None,
        k_factor: None,
    };
    c.search_slots(q, k, &o)
        .unwrap()
        .into_iter()
        .map(|n| n.slot)
        .collect()
}

pub fn gt_recall(found: &[Vec<u32>], gt: &[Vec<u32>]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(gt)
        .map(|(f, g)| f.iter().take(10).filter(|s| g.contains(s)).count())
        .sum();
    hit as f64 / (10 * gt.len()) as f64
}

/// `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn tmp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("unidb-vectordb-{}-{name}", std::process::id()))
}

/// Recomputes a collection file's CRC-32 (bytes 12..16 cover every byte
/// but themselves), written out from the format's definition.
pub fn patch_crc(buf: &mut [u8]) {
    let mut h = crc32fast::Hasher::new();
    h.update(&buf[..12]);
    h.update(&buf[16..]);
    let sum = h.finalize();
    buf[12..16].copy_from_slice(&sum.to_le_bytes());
}

//! Seeded generators: a small RNG and clustered test/benchmark data.

/// The seeded generator shared by the workspace (SplitMix64).
pub use unidb_common::rng::SplitMix64 as Rng;

/// `n` row-major vectors of dimension `dim` drawn around `clusters` random
/// centres (Gaussian, spread `spread` around centres in `[-1, 1)^dim`).
pub fn clustered(n: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let clusters = clusters.max(1);
    let centres: Vec<f32> = (0..clusters * dim)
        .map(|_| rng.f64() as f32 * 2.0 - 1.0)
        .collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.index(clusters);
        for j in 0..dim {
            out.push(centres[c * dim + j] + spread * rng.normal() as f32);
        }
    }
    out
}

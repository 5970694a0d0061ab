//! k-means clustering shared by the IVF coarse quantizer and the product
//! quantizer's codebooks: k-means++ initialisation and Lloyd iterations
//! (assignment in parallel with rayon), seeded, so the same input and
//! generator state give the same centroids.

use rayon::prelude::*;

use crate::data::Rng;
use crate::metric::Metric;

/// The index of the centroid (row-major `centroids` of `v.len()` values)
/// nearest `v` under `metric`, the first on ties; `buf` is scratch.
pub(crate) fn nearest(metric: Metric, centroids: &[f32], v: &[f32], buf: &mut Vec<f32>) -> usize {
    let k = centroids.len() / v.len().max(1);
    buf.resize(k, 0.0);
    metric.distance_many(v, centroids, buf);
    let mut best = 0;
    for (i, d) in buf.iter().enumerate() {
        if d.total_cmp(&buf[best]).is_lt() {
            best = i;
        }
    }
    best
}

/// `k` centroids (row-major, `k·dim` values) of the row-major points `xs`
/// (`xs.len() / dim` of them, at least one, and `k` at most that many):
/// k-means++ seeding (each next centre drawn with probability ∝ D(x)²)
/// then `iterations` Lloyd iterations, means accumulated in f64. A
/// cluster left empty is re-seeded with a random point.
pub(crate) fn train(
    xs: &[f32],
    dim: usize,
    k: usize,
    iterations: usize,
    metric: Metric,
    rng: &mut Rng,
) -> Vec<f32> {
    let n = xs.len() / dim.max(1);
    debug_assert!(n >= 1 && k <= n);
    let x = |i: usize| &xs[i * dim..(i + 1) * dim];
    // k-means++: each next centre drawn with probability ∝ D(x)².
    let mut cents: Vec<f32> = Vec::with_capacity(k * dim);
    cents.extend_from_slice(x(rng.index(n)));
    let mut d2: Vec<f64> = (0..n)
        .map(|i| f64::from(metric.distance(x(i), &cents[..dim])).max(0.0))
        .collect();
    while cents.len() < k * dim {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 && total.is_finite() {
            let mut r = rng.f64() * total;
            let mut idx = n - 1;
            for (i, d) in d2.iter().enumerate() {
                if r < *d {
                    idx = i;
                    break;
                }
                r -= d;
            }
            idx
        } else {
            rng.index(n)
        };
        let c0 = cents.len();
        cents.extend_from_slice(x(pick));
        let c = cents[c0..].to_vec();
        for (i, d) in d2.iter_mut().enumerate() {
            let nd = f64::from(metric.distance(x(i), &c)).max(0.0);
            if nd < *d {
                *d = nd;
            }
        }
    }
    // Lloyd iterations.
    for _ in 0..iterations {
        let assign: Vec<usize> = xs
            .par_chunks_exact(dim)
            .map_init(Vec::new, |buf, row| nearest(metric, &cents, row, buf))
            .collect();
        let mut sums = vec![0.0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (i, &c) in assign.iter().enumerate() {
            counts[c] += 1;
            for (acc, v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(x(i)) {
                *acc += f64::from(*v);
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // Re-seed an empty cluster with a random point.
                let i = rng.index(n);
                cents[c * dim..(c + 1) * dim].copy_from_slice(x(i));
            } else {
                for j in 0..dim {
                    cents[c * dim + j] = (sums[c * dim + j] / counts[c] as f64) as f32;
                }
            }
        }
    }
    cents
}

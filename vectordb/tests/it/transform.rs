//! Transforms against independent oracles: PCA against a Jacobi
//! eigendecomposition written here (f64) on random and rank-deficient
//! data, inverse round trips, the rotation's orthogonality and distances,
//! the Johnson–Lindenstrauss bound, unit norms, whitening's identity
//! covariance; typed errors for bad input and bad bytes.

// Matrix oracles read clearest with index loops.
#![allow(clippy::needless_range_loop)]
// Without `linalg` only the tests that need no fitted PCA or rotation run.
#![cfg_attr(not(feature = "linalg"), allow(dead_code, unused_imports))]

use serde_json::json;
use unidb_vectordb::data::Rng;
use unidb_vectordb::transform::{Center, L2Normalize, Pca, PcaConfig, Projection, Rotation};
use unidb_vectordb::*;

use crate::util::l2_f64;

// ---------- oracles ----------

/// Population covariance (divided by n) of rows of `dim`, in f64.
fn covariance(rows: &[f32], dim: usize) -> Vec<f64> {
    let n = rows.len() / dim;
    let mut mean = vec![0.0f64; dim];
    for r in rows.chunks_exact(dim) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += f64::from(*v) / n as f64;
        }
    }
    let mut c = vec![0.0f64; dim * dim];
    for r in rows.chunks_exact(dim) {
        for i in 0..dim {
            let a = f64::from(r[i]) - mean[i];
            for j in 0..dim {
                c[i * dim + j] += a * (f64::from(r[j]) - mean[j]) / n as f64;
            }
        }
    }
    c
}

/// Cyclic Jacobi eigendecomposition of a symmetric matrix: eigenvalues in
/// decreasing order and the matching unit eigenvectors (one per row).
fn jacobi(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| a[y * n + y].total_cmp(&a[x * n + x]));
    let values = order.iter().map(|&k| a[k * n + k]).collect();
    let vectors = order
        .iter()
        .map(|&k| (0..n).map(|i| v[i * n + k]).collect())
        .collect();
    (values, vectors)
}

fn dot(a: &[f64], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * f64::from(*y)).sum()
}

/// A random orthonormal basis by Gram–Schmidt (rows), independent of the
/// library's QR.
fn gram_schmidt(n: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    while basis.len() < n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        for b in &basis {
            let p: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            for (x, y) in v.iter_mut().zip(b) {
                *x -= p * y;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 {
            basis.push(v.iter().map(|x| x / norm).collect());
        }
    }
    basis
}

/// `n` rows of `dim`: independent normals with standard deviation
/// `i + 1` along the `i`-th axis of a random basis, plus an offset.
fn anisotropic(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let basis = gram_schmidt(dim, &mut rng);
    let offset: Vec<f64> = (0..dim).map(|i| 5.0 + i as f64).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let z: Vec<f64> = (0..dim).map(|i| rng.normal() * (i + 1) as f64).collect();
        for j in 0..dim {
            let x: f64 = offset[j] + (0..dim).map(|i| z[i] * basis[i][j]).sum::<f64>();
            out.push(x as f32);
        }
    }
    out
}

/// `n` rows of `dim` spanning only `rank` directions (plus an offset).
fn rank_deficient(n: usize, dim: usize, rank: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let a: Vec<Vec<f64>> = (0..rank)
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let z: Vec<f64> = (0..rank)
            .map(|k| rng.normal() * (3 - k % 3) as f64)
            .collect();
        for j in 0..dim {
            out.push((1.0 + (0..rank).map(|k| z[k] * a[k][j]).sum::<f64>()) as f32);
        }
    }
    out
}

fn gaussian(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.normal() as f32).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).abs())
        .fold(0.0, f64::max)
}

// ---------- registry ----------

#[test]
fn builtin_transforms_are_registered() {
    let builtin: Vec<&str> = TransformPlugin::names()
        .into_iter()
        .filter(|n| {
            let info = TransformPlugin::by_name(n).unwrap().info;
            info.crate_name == "unidb-vectordb" && info.module.starts_with("unidb_vectordb::")
        })
        .collect();
    assert_eq!(
        builtin,
        ["center", "l2norm", "pca", "projection", "rotation"]
    );
    assert!(<TransformPlugin as unidb_registry::PluginKind>::registry()
        .validate()
        .is_ok());
    let params = (TransformPlugin::by_name("PCA").unwrap().params)().unwrap();
    assert_eq!(
        params,
        json!({"dim_out": null, "whiten": false, "eps": 0.0})
    );
    assert!(matches!(
        fit_transform("nope", &[1.0], 1, Params::defaults()),
        Err(VectorError::Registry(_))
    ));
}

// ---------- PCA against the Jacobi oracle ----------

#[test]
#[cfg(feature = "linalg")]
fn pca_matches_jacobi_on_random_data() {
    let dim = 12;
    let sample = anisotropic(3000, dim, 1);
    let pca = Pca::fit(&sample, dim, &PcaConfig::default()).unwrap();
    let (values, vectors) = jacobi(&covariance(&sample, dim), dim);
    let largest = values[0];
    assert_eq!(pca.variances().len(), dim);
    for (i, (got, want)) in pca.variances().iter().zip(&values).enumerate() {
        assert!(
            (got - want).abs() <= 1e-9 * largest,
            "variance {i}: {got} vs {want}"
        );
    }
    // Components equal the oracle's eigenvectors up to sign (the
    // eigenvalues are well separated, so each direction is determined).
    for (i, (c, v)) in pca.components().chunks_exact(dim).zip(&vectors).enumerate() {
        let cos = dot(v, c).abs();
        assert!(cos > 1.0 - 1e-6, "component {i}: |cos| = {cos}");
        let big = c
            .iter()
            .fold(0.0f32, |m, x| if x.abs() > m.abs() { *x } else { m });
        assert!(big > 0.0, "component {i}: sign convention");
    }
    let ratios: f64 = pca.explained_variance_ratio().iter().sum();
    assert!((ratios - 1.0).abs() < 1e-9, "{ratios}");
    // The transform itself: y_i = c_i · (x - mean), checked in f64.
    let mean: Vec<f64> = {
        let n = (sample.len() / dim) as f64;
        (0..dim)
            .map(|j| {
                sample
                    .iter()
                    .skip(j)
                    .step_by(dim)
                    .map(|v| f64::from(*v))
                    .sum::<f64>()
                    / n
            })
            .collect()
    };
    let y = pca.apply(&sample[..dim * 5]).unwrap();
    for (x, y) in sample[..dim * 5].chunks_exact(dim).zip(y.chunks_exact(dim)) {
        for (i, v) in vectors.iter().enumerate() {
            let want: f64 = v
                .iter()
                .zip(x)
                .zip(&mean)
                .map(|((a, b), m)| a * (f64::from(*b) - m))
                .sum();
            let got = f64::from(y[i]);
            assert!((got.abs() - want.abs()).abs() < 1e-3, "{got} vs {want}");
        }
    }
}

#[test]
#[cfg(feature = "linalg")]
fn pca_matches_jacobi_on_rank_deficient_data() {
    let (dim, rank) = (10, 3);
    let sample = rank_deficient(500, dim, rank, 2);
    let config = PcaConfig {
        dim_out: Some(5),
        ..PcaConfig::default()
    };
    let pca = Pca::fit(&sample, dim, &config).unwrap();
    let (values, vectors) = jacobi(&covariance(&sample, dim), dim);
    let largest = values[0];
    for i in 0..5 {
        let got = pca.variances()[i];
        assert!(
            (got - values[i]).abs() <= 1e-9 * largest,
            "variance {i}: {got} vs {}",
            values[i]
        );
    }
    for v in &pca.variances()[rank..] {
        assert!(*v <= 1e-9 * largest, "{v}");
    }
    // The top-`rank` subspaces agree: compare the projectors (signs and
    // rotations within the subspace do not matter).
    let c = pca.components();
    let mut worst = 0.0f64;
    for a in 0..dim {
        for b in 0..dim {
            let p: f64 = (0..rank)
                .map(|k| f64::from(c[k * dim + a]) * f64::from(c[k * dim + b]))
                .sum();
            let q: f64 = (0..rank).map(|k| vectors[k][a] * vectors[k][b]).sum();
            worst = worst.max((p - q).abs());
        }
    }
    assert!(worst < 1e-5, "projector difference {worst}");
    // Every kept direction is a unit vector orthogonal to the others.
    for i in 0..5 {
        for j in 0..5 {
            let d: f64 = (0..dim)
                .map(|k| f64::from(c[i * dim + k]) * f64::from(c[j * dim + k]))
                .sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((d - want).abs() < 1e-5, "({i}, {j}): {d}");
        }
    }
    // Keeping the rank reconstructs the data exactly (up to rounding).
    let pca = Pca::fit(
        &sample,
        dim,
        &PcaConfig {
            dim_out: Some(rank),
            ..PcaConfig::default()
        },
    )
    .unwrap();
    let back = pca.inverse(&pca.apply(&sample).unwrap()).unwrap();
    assert!(
        max_abs_diff(&back, &sample) < 1e-3,
        "{}",
        max_abs_diff(&back, &sample)
    );
    // Whitening a component without variance is refused.
    let err = Pca::fit(
        &sample,
        dim,
        &PcaConfig {
            dim_out: Some(4),
            whiten: true,
            eps: 0.0,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, TransformError::Degenerate { component: 3, .. }),
        "{err}"
    );
    // ... unless eps regularizes it.
    assert!(Pca::fit(
        &sample,
        dim,
        &PcaConfig {
            dim_out: Some(4),
            whiten: true,
            eps: 0.1
        }
    )
    .is_ok());
}

#[test]
#[cfg(feature = "linalg")]
fn pca_inverse_round_trips_with_all_components() {
    let dim = 12;
    let sample = anisotropic(2000, dim, 3);
    let probe = anisotropic(300, dim, 4);
    for whiten in [false, true] {
        let config = PcaConfig {
            whiten,
            ..PcaConfig::default()
        };
        let pca = Pca::fit(&sample, dim, &config).unwrap();
        let back = pca.inverse(&pca.apply(&probe).unwrap()).unwrap();
        // Two f32 matrix-vector products of `dim` terms each: the error
        // is a few `dim · 2^-24` times the values' magnitude (< 80 here).
        let bound = 4.0 * dim as f64 * f64::from(f32::EPSILON) * 80.0;
        let err = max_abs_diff(&back, &probe);
        assert!(err <= bound, "whiten {whiten}: {err} > {bound}");
    }
}

#[test]
#[cfg(feature = "linalg")]
fn whitening_gives_identity_covariance_on_the_fit_sample() {
    let dim = 8;
    let sample = anisotropic(4000, dim, 5);
    let config = PcaConfig {
        dim_out: Some(6),
        whiten: true,
        eps: 0.0,
    };
    let pca = Pca::fit(&sample, dim, &config).unwrap();
    let y = pca.apply(&sample).unwrap();
    let c = covariance(&y, 6);
    for i in 0..6 {
        for j in 0..6 {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!(
                (c[i * 6 + j] - want).abs() < 1e-4,
                "({i}, {j}): {}",
                c[i * 6 + j]
            );
        }
    }
}

// ---------- rotation, projection, normalize, center ----------

#[test]
#[cfg(feature = "linalg")]
fn rotation_is_orthogonal_and_keeps_distances() {
    let dim = 24;
    let rot = Rotation::new(dim, 7).unwrap();
    // Q's columns are the images of the basis vectors: QᵀQ = I.
    let mut basis = vec![0.0f32; dim * dim];
    for i in 0..dim {
        basis[i * dim + i] = 1.0;
    }
    let cols = rot.apply(&basis).unwrap();
    for i in 0..dim {
        for j in 0..dim {
            let d: f64 = (0..dim)
                .map(|k| f64::from(cols[i * dim + k]) * f64::from(cols[j * dim + k]))
                .sum();
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((d - want).abs() < 1e-6, "({i}, {j}): {d}");
        }
    }
    let x = gaussian(dim * 50, 8);
    let y = rot.apply(&x).unwrap();
    for a in 0..50 {
        for b in a + 1..50 {
            let before = l2_f64(&x[a * dim..(a + 1) * dim], &x[b * dim..(b + 1) * dim]).sqrt();
            let after = l2_f64(&y[a * dim..(a + 1) * dim], &y[b * dim..(b + 1) * dim]).sqrt();
            assert!(
                (before - after).abs() <= 1e-5 * before,
                "{before} vs {after}"
            );
        }
    }
    assert!(max_abs_diff(&rot.inverse(&y).unwrap(), &x) < 1e-5);
    // Seeded: the same seed gives the same rotation, another seed another.
    assert_eq!(Rotation::new(dim, 7).unwrap().matrix(), rot.matrix());
    assert_ne!(Rotation::new(dim, 8).unwrap().matrix(), rot.matrix());
}

#[test]
fn projection_keeps_distances_within_the_jl_bound() {
    let (dim, dim_out, n) = (512, 256, 80);
    let eps = 0.25;
    let proj = Projection::new(dim, dim_out, 11).unwrap();
    let x = gaussian(dim * n, 12);
    let y = proj.apply(&x).unwrap();
    let (mut pairs, mut outside, mut ratio_sum) = (0usize, 0usize, 0.0f64);
    for a in 0..n {
        for b in a + 1..n {
            let before = l2_f64(&x[a * dim..(a + 1) * dim], &x[b * dim..(b + 1) * dim]);
            let after = l2_f64(
                &y[a * dim_out..(a + 1) * dim_out],
                &y[b * dim_out..(b + 1) * dim_out],
            );
            let ratio = after / before;
            ratio_sum += ratio;
            pairs += 1;
            if (ratio - 1.0).abs() > eps {
                outside += 1;
            }
        }
    }
    // Dasgupta–Gupta: P(|ratio - 1| > eps) <= 2 exp(-(eps²/2 - eps³/3) d'/2).
    let bound = 2.0 * (-(eps * eps / 2.0 - eps.powi(3) / 3.0) * dim_out as f64 / 2.0).exp();
    assert!((Projection::distortion_probability(dim_out, eps) - bound).abs() < 1e-12);
    let fraction = outside as f64 / pairs as f64;
    assert!(
        fraction <= bound,
        "{outside} of {pairs} pairs outside 1 ± {eps} (bound {bound})"
    );
    let mean = ratio_sum / pairs as f64;
    assert!(
        (mean - 1.0).abs() < 0.05,
        "mean squared-distance ratio {mean}"
    );
    assert!(matches!(
        proj.inverse(&y),
        Err(TransformError::NotInvertible {
            transform: "projection"
        })
    ));
}

#[test]
fn normalize_gives_unit_norms_and_center_zero_mean() {
    let dim = 9;
    let mut x = gaussian(dim * 40, 13);
    x[..dim].fill(0.0); // an all-zero row stays zero
    x[dim..2 * dim].fill(3e30); // its squared norm overflows f32
    let norm = L2Normalize::new(dim).unwrap();
    let y = norm.apply(&x).unwrap();
    assert!(y[..dim].iter().all(|v| *v == 0.0));
    for (r, (a, b)) in x
        .chunks_exact(dim)
        .zip(y.chunks_exact(dim))
        .enumerate()
        .skip(1)
    {
        let n: f64 = b.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
        assert!((n - 1.0).abs() < 1e-6, "row {r}: norm {n}");
        let na: f64 = a.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
        let cos: f64 = a
            .iter()
            .zip(b)
            .map(|(p, q)| f64::from(*p) * f64::from(*q))
            .sum::<f64>()
            / na;
        assert!(
            (cos - 1.0).abs() < 1e-6,
            "row {r}: direction changed ({cos})"
        );
    }

    let sample = anisotropic(500, dim, 14);
    let center = Center::fit(&sample, dim).unwrap();
    let y = center.apply(&sample).unwrap();
    for j in 0..dim {
        let m: f64 = y
            .iter()
            .skip(j)
            .step_by(dim)
            .map(|v| f64::from(*v))
            .sum::<f64>()
            / 500.0;
        assert!(m.abs() < 1e-4, "column {j}: mean {m}");
    }
    assert!(max_abs_diff(&center.inverse(&y).unwrap(), &sample) < 1e-5);
}

// ---------- chains and encoding ----------

#[cfg(feature = "linalg")]
fn fitted_chains(sample: &[f32], dim: usize) -> Vec<TransformChain> {
    let pca = json!({"dim_out": 6, "whiten": true});
    let proj = json!({"dim_out": 4, "seed": 3});
    let rot = json!({"seed": 9});
    vec![
        TransformChain::fit(sample, dim, &[]).unwrap(),
        TransformChain::fit(sample, dim, &[("l2norm", Params::defaults())]).unwrap(),
        TransformChain::fit(
            sample,
            dim,
            &[
                ("center", Params::defaults()),
                ("pca", Params::json(&pca)),
                ("rotation", Params::json(&rot)),
                ("projection", Params::json(&proj)),
            ],
        )
        .unwrap(),
    ]
}

#[test]
#[cfg(feature = "linalg")]
fn chains_apply_in_order_and_round_trip_through_bytes() {
    let dim = 10;
    let sample = anisotropic(400, dim, 15);
    let probe = anisotropic(30, dim, 16);
    for chain in fitted_chains(&sample, dim) {
        // Applying the chain equals applying its steps one by one.
        let mut want = probe.clone();
        for step in chain.steps() {
            want = step.apply(&want).unwrap();
        }
        let got = chain.apply(&probe).unwrap();
        assert_eq!(got, want);
        assert_eq!(got.len(), 30 * chain.dim_out());
        let bytes = chain.to_bytes();
        let again = TransformChain::from_bytes(&bytes).unwrap();
        assert_eq!(again.dim_in(), chain.dim_in());
        assert_eq!(again.dim_out(), chain.dim_out());
        assert_eq!(again.apply(&probe).unwrap(), got, "decoded chain differs");
        assert_eq!(again.to_bytes(), bytes);
    }
    // An invertible chain inverts (center + full whitened PCA + rotation).
    let chain = TransformChain::fit(
        &sample,
        dim,
        &[
            ("center", Params::defaults()),
            ("pca", Params::json(&json!({"whiten": true}))),
            ("rotation", Params::defaults()),
        ],
    )
    .unwrap();
    let back = chain.inverse(&chain.apply(&probe).unwrap()).unwrap();
    assert!(
        max_abs_diff(&back, &probe) < 1e-3,
        "{}",
        max_abs_diff(&back, &probe)
    );
    let lossy = TransformChain::fit(
        &sample,
        dim,
        &[
            ("center", Params::defaults()),
            ("l2norm", Params::defaults()),
        ],
    )
    .unwrap();
    assert!(matches!(
        lossy.inverse(&probe),
        Err(TransformError::NotInvertible {
            transform: "l2norm"
        })
    ));
}

#[test]
#[cfg(feature = "linalg")]
fn damaged_bytes_are_decode_errors() {
    let dim = 6;
    let sample = anisotropic(100, dim, 17);
    let chain = fitted_chains(&sample, dim).pop().unwrap();
    let bytes = chain.to_bytes();
    for len in 0..bytes.len() {
        let err = TransformChain::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, TransformError::Decode { .. }),
            "prefix {len}: {err}"
        );
    }
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x10;
        let err = TransformChain::from_bytes(&bad).unwrap_err();
        assert!(
            matches!(err, TransformError::Decode { .. }),
            "flip at {i}: {err}"
        );
    }
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(TransformChain::from_bytes(&bad)
        .unwrap_err()
        .to_string()
        .contains("magic"));
}

/// A chain of one step with a valid checksum around `payload`.
fn forge(dim: u32, name: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = b"UDBXFORM".to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&dim.to_le_bytes());
    b.push(1);
    b.push(name.len() as u8);
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    b.extend_from_slice(payload);
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn crafted_bytes_with_valid_checksums_are_rejected() {
    // Dimensions claiming a 2^20 x 2^20 matrix with 8 bytes behind them:
    // rejected as truncated, before anything that size is allocated.
    let huge = forge(1 << 20, "projection", &words(&[1 << 20, 1 << 20, 0, 0]));
    let err = TransformChain::from_bytes(&huge).unwrap_err();
    assert!(err.to_string().contains("matrix"), "{err}");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (forge(4, "nope", &words(&[4])), "unknown transform"),
        (forge(4, "l2norm", &words(&[5])), "takes 5 values"),
        (forge(4, "l2norm", &words(&[0])), "out of range"),
        (forge(4, "l2norm", &words(&[4, 0])), "end of transform"),
        (
            forge(2, "center", &words(&[2, 0, 0x7fc0_0000])),
            "not finite",
        ),
        (
            forge(2, "projection", &words(&[2, 3, 0, 0, 0, 0, 0, 0])),
            "projection from 2 to 3",
        ),
        (forge(2, "pca", &words(&[2, 1])), "flags"),
    ];
    for (bytes, want) in cases {
        let err = TransformChain::from_bytes(&bytes).unwrap_err();
        assert!(matches!(err, TransformError::Decode { .. }), "{err}");
        assert!(err.to_string().contains(want), "{err} lacks {want:?}");
    }
    // A whitened PCA whose stored variance is zero.
    let mut pca = words(&[1, 1]);
    pca.push(1); // whiten
    pca.extend_from_slice(&0f64.to_le_bytes()); // eps
    pca.extend_from_slice(&0f64.to_le_bytes()); // total variance
    pca.extend_from_slice(&0f32.to_le_bytes()); // mean
    pca.extend_from_slice(&0f64.to_le_bytes()); // variance
    pca.extend_from_slice(&1f32.to_le_bytes()); // component
    let err = TransformChain::from_bytes(&forge(1, "pca", &pca)).unwrap_err();
    assert!(err.to_string().contains("no variance"), "{err}");
}

// ---------- bad input ----------

#[test]
#[cfg(feature = "linalg")]
fn bad_input_gives_typed_errors() {
    let dim = 4;
    let sample = anisotropic(50, dim, 18);
    let pca = Pca::fit(&sample, dim, &PcaConfig::default()).unwrap();
    // Wrong dimension.
    assert!(matches!(
        pca.apply(&sample[..5]),
        Err(TransformError::NotWholeRows { len: 5, dim: 4, .. })
    ));
    assert!(matches!(
        Pca::fit(&sample[..7], dim, &PcaConfig::default()),
        Err(TransformError::NotWholeRows { len: 7, .. })
    ));
    let mut out = vec![0.0; 3];
    assert!(matches!(
        pca.apply_into(&sample[..4], &mut out),
        Err(TransformError::Dimension {
            expected: 4,
            got: 3,
            ..
        })
    ));
    assert!(matches!(
        Center::fit(&sample, 0),
        Err(TransformError::Dimension { got: 0, .. })
    ));
    // NaN and infinity, named by row and column.
    let mut bad = sample.clone();
    bad[2 * dim + 1] = f32::NAN;
    for name in ["center", "pca", "l2norm", "rotation", "projection"] {
        let err = fit_transform(name, &bad, dim, Params::defaults()).unwrap_err();
        assert!(
            matches!(
                err,
                VectorError::Transform(TransformError::NotFinite {
                    row: 2,
                    column: 1,
                    ..
                })
            ),
            "{name}: {err}"
        );
    }
    bad[2 * dim + 1] = f32::INFINITY;
    assert!(matches!(
        pca.apply(&bad),
        Err(TransformError::NotFinite {
            row: 2,
            column: 1,
            ..
        })
    ));
    // Empty sample.
    for name in ["center", "pca"] {
        let err = fit_transform(name, &[], dim, Params::defaults()).unwrap_err();
        assert!(
            matches!(
                err,
                VectorError::Transform(TransformError::EmptySample { .. })
            ),
            "{name}: {err}"
        );
    }
    // More output dimensions than input ones.
    let err = fit_transform("pca", &sample, dim, Params::json(&json!({"dim_out": 5}))).unwrap_err();
    assert!(matches!(
        err,
        VectorError::Transform(TransformError::TooManyDimensions {
            requested: 5,
            available: 4,
            ..
        })
    ));
    let err = fit_transform(
        "projection",
        &sample,
        dim,
        Params::json(&json!({"dim_out": 5})),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        VectorError::Transform(TransformError::TooManyDimensions { .. })
    ));
    // Parameters are checked by name.
    let err = fit_transform("pca", &sample, dim, Params::json(&json!({"dims": 2}))).unwrap_err();
    assert!(
        matches!(err, VectorError::UnknownParam { ref key, .. } if key == "dims"),
        "{err}"
    );
    let err = fit_transform("pca", &sample, dim, Params::json(&json!({"dim_out": 0}))).unwrap_err();
    assert!(
        matches!(err, VectorError::InvalidParam { ref key, .. } if key == "dim_out"),
        "{err}"
    );
    let err = fit_transform("pca", &sample, dim, Params::json(&json!({"eps": -1.0}))).unwrap_err();
    assert!(
        matches!(err, VectorError::InvalidParam { ref key, .. } if key == "eps"),
        "{err}"
    );
    // A chain whose steps do not fit together.
    let a = fit_transform(
        "projection",
        &sample,
        dim,
        Params::json(&json!({"dim_out": 2})),
    )
    .unwrap();
    let b = fit_transform("center", &sample, dim, Params::defaults()).unwrap();
    assert!(matches!(
        TransformChain::new(dim, vec![a, b]),
        Err(TransformError::Dimension {
            expected: 2,
            got: 4,
            ..
        })
    ));
    // Errors convert into the project-wide error with their kind.
    let e: unidb_common::Error = TransformError::EmptySample { transform: "pca" }.into();
    assert_eq!(e.kind(), unidb_common::ErrorKind::Validation);
    let e: unidb_common::Error =
        VectorError::from(TransformChain::from_bytes(b"x").unwrap_err()).into();
    assert_eq!(e.kind(), unidb_common::ErrorKind::CorruptData);
}

#[test]
#[cfg(not(feature = "linalg"))]
fn without_linalg_pca_and_rotation_are_unsupported() {
    for name in ["pca", "rotation"] {
        let err = fit_transform(name, &[1.0, 2.0], 2, Params::defaults()).unwrap_err();
        assert!(
            matches!(
                err,
                VectorError::Transform(TransformError::Unsupported {
                    feature: "linalg",
                    ..
                })
            ),
            "{name}: {err}"
        );
    }
}

// ---------- a transform registered by the program ----------

/// Negates every value (its own inverse).
#[derive(Debug)]
struct Negate(usize);

impl Transform for Negate {
    fn name(&self) -> &'static str {
        "negate-test"
    }
    fn dim_in(&self) -> usize {
        self.0
    }
    fn dim_out(&self) -> usize {
        self.0
    }
    fn transform_rows(&self, input: &[f32], output: &mut [f32]) {
        for (o, v) in output.iter_mut().zip(input) {
            *o = -v;
        }
    }
    fn is_invertible(&self) -> bool {
        true
    }
    fn inverse_rows(&self, input: &[f32], output: &mut [f32]) {
        self.transform_rows(input, output);
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0 as u32).to_le_bytes());
    }
}

fn fit_negate(_: &[f32], dim: usize, params: Params<'_>) -> Result<Box<dyn Transform>> {
    params.get::<NoParams>("negate-test")?;
    Ok(Box::new(Negate(dim)))
}

fn decode_negate(bytes: &[u8]) -> std::result::Result<Box<dyn Transform>, TransformError> {
    let dim: [u8; 4] = bytes.try_into().map_err(|_| TransformError::Decode {
        offset: 0,
        reason: "negate-test: 4 bytes".into(),
    })?;
    Ok(Box::new(Negate(u32::from_le_bytes(dim) as usize)))
}

register_transform!(
    "negate-test",
    "negates every value",
    NoParams,
    fit_negate,
    decode_negate
);

#[test]
fn a_registered_transform_fits_chains_and_decodes() {
    assert!(TransformPlugin::names().contains(&"negate-test"));
    let sample = anisotropic(20, 3, 19);
    let chain = TransformChain::fit(
        &sample,
        3,
        &[
            ("center", Params::defaults()),
            ("negate-test", Params::defaults()),
        ],
    )
    .unwrap();
    let center = Center::fit(&sample, 3).unwrap();
    let want: Vec<f32> = center.apply(&sample).unwrap().iter().map(|v| -v).collect();
    assert_eq!(chain.apply(&sample).unwrap(), want);
    let again = TransformChain::from_bytes(&chain.to_bytes()).unwrap();
    assert_eq!(again.apply(&sample).unwrap(), want);
    assert!(max_abs_diff(&again.inverse(&want).unwrap(), &sample) < 1e-5);
}

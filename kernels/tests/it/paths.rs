//! Every kernel path against the scalar reference.
//!
//! Paths this CPU lacks are skipped because `Kernels::for_isa` returns
//! `None` for them, never by `cfg(target_feature)`.
//!
//! # Tolerances
//!
//! Integer kernels, popcounts, `min_max_f32` and the half conversion must
//! match the scalar path exactly. Floating-point sums differ only by the
//! order of the additions (and by FMA, which rounds once instead of twice).
//! For a sum of `n` terms `tᵢ`, any evaluation order gives
//! `|computed - exact| <= γₙ Σ|tᵢ| + n·η` with `γₙ = n·u / (1 - n·u)`, `u`
//! the unit roundoff (`ε/2`) and `η = 2⁻¹⁵⁰` the absolute error of one
//! operation in the subnormal range (Higham, *Accuracy and Stability of
//! Numerical Algorithms*, §3.1). Two evaluations therefore differ by at most
//! twice that; we allow `2(n+2)·ε·Σ|tᵢ| + (n+2)·2⁻¹⁴⁹`, which also covers
//! the one extra rounding of each product. Σ|tᵢ| is computed in f64 from
//! the exact products. Cosine propagates those errors through
//! `ab / √(aa·bb)` (see [`cosine_tolerance`]). f64 statistics use the same
//! bound with the f64 epsilon.
//!
//! Non-finite inputs: with infinities and NaN (but no finite overflow, which
//! the generators avoid), whether a sum is NaN or ±inf does not depend on
//! the order of the additions, so those results must match exactly.

use crate::{all_paths, config};
use proptest::prelude::*;
use unidb_kernels::f16::{f16_to_f32, f32_to_f16};
use unidb_kernels::{Isa, KernelError, Kernels};

/// Lengths every kernel is tried at (in addition to random ones).
#[cfg(not(miri))]
const LENGTHS: &[usize] = &[
    0, 1, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 1023, 1536,
];
#[cfg(miri)]
const LENGTHS: &[usize] = &[0, 1, 7, 8, 9, 17];

/// Largest random length.
#[cfg(not(miri))]
const MAX_RANDOM_LEN: usize = 2100;
#[cfg(miri)]
const MAX_RANDOM_LEN: usize = 20;

/// Shapes of the one-to-many property test.
#[cfg(not(miri))]
const MANY_MAX_DIM: usize = 70;
#[cfg(not(miri))]
const MANY_MAX_ROWS: usize = 11;
#[cfg(miri)]
const MANY_MAX_DIM: usize = 12;
#[cfg(miri)]
const MANY_MAX_ROWS: usize = 6;

fn reference() -> &'static Kernels {
    Kernels::for_isa(Isa::Scalar).expect("scalar is always available")
}

/// The non-reference paths this CPU can run.
fn paths() -> Vec<&'static Kernels> {
    all_paths()
        .into_iter()
        .filter(|k| k.isa() != Isa::Scalar)
        .collect()
}

// ---------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        proptest::sample::select(LENGTHS.to_vec()),
        0..=MAX_RANDOM_LEN,
    ]
}

/// Moderate f32 values (no overflow at any length), with occasional zeros,
/// subnormals, tiny normals and, when `special`, NaN and infinities.
fn f32_value(special: bool) -> BoxedStrategy<f32> {
    let moderate = prop_oneof![-100.0f32..100.0, -1.0f32..1.0];
    let edge = proptest::sample::select(vec![
        0.0f32,
        -0.0,
        1e-40,
        -3e-42,
        f32::from_bits(1),
        f32::MIN_POSITIVE,
        1e-20,
        -7.5,
        1.0,
    ]);
    if special {
        let nonfinite = proptest::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        prop_oneof![40 => moderate, 5 => edge, 1 => nonfinite].boxed()
    } else {
        prop_oneof![40 => moderate, 5 => edge].boxed()
    }
}

/// Two vectors of the same length, each starting at offset 0..4 of a larger
/// allocation (so SIMD loads are unaligned).
fn pair<T: std::fmt::Debug + Clone>(
    value: BoxedStrategy<T>,
) -> impl Strategy<Value = (Vec<T>, usize, Vec<T>, usize)> {
    (length(), 0usize..4, 0usize..4).prop_flat_map(move |(n, oa, ob)| {
        (
            proptest::collection::vec(value.clone(), n + oa),
            Just(oa),
            proptest::collection::vec(value.clone(), n + ob),
            Just(ob),
        )
    })
}

// ---------------------------------------------------------------------------
// Checkers.
// ---------------------------------------------------------------------------

/// `got` equals `want` in class (NaN, ±inf) and, when finite, within `tol`.
fn close(
    what: &str,
    isa: Isa,
    n: usize,
    got: f64,
    want: f64,
    tol: f64,
) -> Result<(), TestCaseError> {
    if want.is_nan() {
        prop_assert!(got.is_nan(), "{what} on {isa}, n={n}: got {got}, want NaN");
    } else if want.is_infinite() {
        prop_assert_eq!(got, want, "{} on {}, n={}", what, isa, n);
    } else {
        prop_assert!(
            approx::abs_diff_eq!(got, want, epsilon = tol),
            "{what} on {isa}, n={n}: got {got}, want {want}, tolerance {tol:e}"
        );
    }
    Ok(())
}

/// Allowed difference between two f32 sums of `n` terms whose absolute
/// values sum to `abs_sum` (module docs).
fn sum_tolerance(n: usize, abs_sum: f64) -> f64 {
    let k = (n + 2) as f64;
    2.0 * k * f64::from(f32::EPSILON) * abs_sum + k * 2f64.powi(-149)
}

/// Allowed difference between two cosine distances of `n`-vectors.
///
/// With `δ` the sum tolerance of each of `ab`, `aa`, `bb`, the cosine
/// `c = ab / √(aa·bb)` moves by at most `δab/√(aa·bb) + |c|·(δaa/aa + δbb/bb)`
/// (twice the first-order term, to cover the second-order terms while the
/// relative errors stay below 1/2), plus the f32 rounding of the result and
/// of the f64 square root. When a norm's relative error could exceed 1/2
/// (values so small that their squares underflow), or when both norms are
/// zero, nothing but the class and the range [0, 2] is guaranteed.
fn cosine_tolerance(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len();
    let (mut ab, mut abs_ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        abs_ab += (x * y).abs();
        aa += x * x;
        bb += y * y;
    }
    let (dab, daa, dbb) = (
        sum_tolerance(n, abs_ab),
        sum_tolerance(n, aa),
        sum_tolerance(n, bb),
    );
    if aa == 0.0 && bb == 0.0 {
        return 0.0;
    }
    if daa * 2.0 >= aa || dbb * 2.0 >= bb {
        return 2.0;
    }
    let denom = (aa * bb).sqrt();
    let c = (ab / denom).abs().min(1.0);
    dab / denom + c * (daa / aa + dbb / bb) + 4.0 * f64::from(f32::EPSILON)
}

fn abs_sum(terms: impl Iterator<Item = f64>) -> f64 {
    terms.map(f64::abs).sum()
}

fn f32_dot_terms(a: &[f32], b: &[f32]) -> f64 {
    abs_sum(a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)))
}

fn f32_l2_terms(a: &[f32], b: &[f32]) -> f64 {
    abs_sum(a.iter().zip(b).map(|(&x, &y)| {
        let d = f64::from(x - y);
        d * d
    }))
}

fn f32_l1_terms(a: &[f32], b: &[f32]) -> f64 {
    abs_sum(a.iter().zip(b).map(|(&x, &y)| f64::from(x - y)))
}

fn check_f32_kernels(a: &[f32], b: &[f32]) -> Result<(), TestCaseError> {
    let r = reference();
    let n = a.len();
    for k in paths() {
        let isa = k.isa();
        close(
            "dot_f32",
            isa,
            n,
            k.dot_f32(a, b).unwrap().into(),
            r.dot_f32(a, b).unwrap().into(),
            sum_tolerance(n, f32_dot_terms(a, b)),
        )?;
        close(
            "l2sq_f32",
            isa,
            n,
            k.l2sq_f32(a, b).unwrap().into(),
            r.l2sq_f32(a, b).unwrap().into(),
            sum_tolerance(n, f32_l2_terms(a, b)),
        )?;
        close(
            "l1_f32",
            isa,
            n,
            k.l1_f32(a, b).unwrap().into(),
            r.l1_f32(a, b).unwrap().into(),
            sum_tolerance(n, f32_l1_terms(a, b)),
        )?;
        let cos = k.cosine_f32(a, b).unwrap();
        prop_assert!(
            cos.is_nan() || (0.0..=2.0).contains(&cos),
            "cosine {cos} out of range"
        );
        close(
            "cosine_f32",
            isa,
            n,
            cos.into(),
            r.cosine_f32(a, b).unwrap().into(),
            cosine_tolerance(a, b),
        )?;
    }
    Ok(())
}

/// Dense inputs saturate the SIMD paths' per-byte counters: every length
/// around their flush points (31 and 32 vectors of 256 or 128 bits), checked
/// against the closed form.
#[test]
fn bit_kernels_count_dense_inputs_exactly() {
    let lengths: &[usize] = if cfg!(miri) {
        &[0, 1, 5, 33]
    } else {
        &[
            0, 1, 3, 4, 5, 61, 62, 63, 64, 123, 124, 125, 128, 129, 248, 1000, 4099,
        ]
    };
    for &n in lengths {
        let ones = vec![u64::MAX; n];
        let zeros = vec![0u64; n];
        let half = vec![0x5555_5555_5555_5555u64; n];
        let bits = 64 * n as u64;
        for k in paths().into_iter().chain([reference()]) {
            let isa = k.isa();
            assert_eq!(k.hamming_u64(&ones, &zeros).unwrap(), bits, "{isa} n={n}");
            assert_eq!(k.hamming_u64(&ones, &ones).unwrap(), 0, "{isa} n={n}");
            assert_eq!(
                k.hamming_u64(&ones, &half).unwrap(),
                bits / 2,
                "{isa} n={n}"
            );
            assert_eq!(k.jaccard_u64(&ones, &ones).unwrap(), 0.0, "{isa} n={n}");
            let want = if n == 0 { 0.0 } else { 0.5 };
            assert_eq!(k.jaccard_u64(&ones, &half).unwrap(), want, "{isa} n={n}");
            let want = if n == 0 { 0.0 } else { 1.0 };
            assert_eq!(k.jaccard_u64(&zeros, &ones).unwrap(), want, "{isa} n={n}");
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn f32_kernels_match_scalar((a, oa, b, ob) in pair(f32_value(false))) {
        check_f32_kernels(&a[oa..], &b[ob..])?;
    }

    #[test]
    fn f32_kernels_with_nan_and_inf((a, oa, b, ob) in pair(f32_value(true))) {
        check_f32_kernels(&a[oa..], &b[ob..])?;
    }

    #[test]
    fn f16_kernels_match_scalar((a, oa, b, ob) in pair(any::<u16>().boxed())) {
        // Any bit pattern: NaN, ±inf, subnormals, ±65504. Halves are at most
        // 65504 in magnitude, so no f32 sum of these lengths overflows.
        let (a, b) = (&a[oa..], &b[ob..]);
        let fa: Vec<f32> = a.iter().map(|&h| f16_to_f32(h)).collect();
        let fb: Vec<f32> = b.iter().map(|&h| f16_to_f32(h)).collect();
        let r = reference();
        let n = a.len();
        for k in paths() {
            let isa = k.isa();
            close("dot_f16", isa, n, k.dot_f16(a, b).unwrap().into(), r.dot_f16(a, b).unwrap().into(),
                sum_tolerance(n, f32_dot_terms(&fa, &fb)))?;
            close("l2sq_f16", isa, n, k.l2sq_f16(a, b).unwrap().into(), r.l2sq_f16(a, b).unwrap().into(),
                sum_tolerance(n, f32_l2_terms(&fa, &fb)))?;
            close("cosine_f16", isa, n, k.cosine_f16(a, b).unwrap().into(), r.cosine_f16(a, b).unwrap().into(),
                cosine_tolerance(&fa, &fb))?;
        }
    }

    #[test]
    fn i8_u8_kernels_match_scalar_exactly(
        (a, oa, b, ob) in pair(prop_oneof![any::<i8>(), proptest::sample::select(vec![-128i8, 127])].boxed())
    ) {
        let (a, b) = (&a[oa..], &b[ob..]);
        let ua: Vec<u8> = a.iter().map(|&x| x as u8).collect();
        let ub: Vec<u8> = b.iter().map(|&x| x as u8).collect();
        let r = reference();
        // Independent oracle in i64 (exact at these lengths).
        let dot: i64 = a.iter().zip(b).map(|(&x, &y)| i64::from(x) * i64::from(y)).sum();
        prop_assert_eq!(i64::from(r.dot_i8(a, b).unwrap()), dot);
        for k in paths() {
            prop_assert_eq!(k.dot_i8(a, b).unwrap(), r.dot_i8(a, b).unwrap(), "{}", k.isa());
            prop_assert_eq!(k.l2sq_i8(a, b).unwrap(), r.l2sq_i8(a, b).unwrap(), "{}", k.isa());
            prop_assert_eq!(k.l2sq_u8(&ua, &ub).unwrap(), r.l2sq_u8(&ua, &ub).unwrap(), "{}", k.isa());
        }
    }

    #[test]
    fn bit_kernels_match_scalar_exactly(
        (a, oa, b, ob) in pair(prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX)].boxed())
    ) {
        let (a, b) = (&a[oa..], &b[ob..]);
        let r = reference();
        let ones: u64 = a.iter().zip(b).map(|(x, y)| u64::from((x ^ y).count_ones())).sum();
        prop_assert_eq!(r.hamming_u64(a, b).unwrap(), ones);
        for k in paths() {
            prop_assert_eq!(k.hamming_u64(a, b).unwrap(), r.hamming_u64(a, b).unwrap(), "{}", k.isa());
            prop_assert_eq!(k.jaccard_u64(a, b).unwrap(), r.jaccard_u64(a, b).unwrap(), "{}", k.isa());
        }
    }

    #[test]
    fn many_kernels_match_one_at_a_time(
        dim in prop_oneof![proptest::sample::select(vec![0usize, 1, 7, 8, 9, 16, 33]), 0usize..MANY_MAX_DIM],
        rows in 0usize..MANY_MAX_ROWS,
        offset in 0usize..4,
        seed in any::<u64>(),
        special in proptest::bool::weighted(0.2),
    ) {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut value = || {
            let x = next();
            if special && x % 23 == 0 {
                [f32::NAN, f32::INFINITY, 0.0, 1e-40][(x >> 8) as usize % 4]
            } else {
                ((x >> 11) as f64 / (1u64 << 53) as f64 * 20.0 - 10.0) as f32
            }
        };
        let q: Vec<f32> = (0..dim).map(|_| value()).collect();
        let storage: Vec<f32> = (0..rows * dim + offset).map(|_| value()).collect();
        let matrix = &storage[offset..];
        let r = reference();
        for k in std::iter::once(r).chain(paths()) {
            let isa = k.isa();
            let mut out = vec![f32::NAN; rows];
            k.dot_f32_many(&q, matrix, &mut out).unwrap();
            for (i, &got) in out.iter().enumerate() {
                let row = &matrix[i * dim..(i + 1) * dim];
                let tol = sum_tolerance(dim, f32_dot_terms(&q, row));
                close("dot_f32_many", isa, dim, got.into(), k.dot_f32(&q, row).unwrap().into(), tol)?;
                close("dot_f32_many", isa, dim, got.into(), r.dot_f32(&q, row).unwrap().into(), tol)?;
            }
            k.l2sq_f32_many(&q, matrix, &mut out).unwrap();
            for (i, &got) in out.iter().enumerate() {
                let row = &matrix[i * dim..(i + 1) * dim];
                let tol = sum_tolerance(dim, f32_l2_terms(&q, row));
                close("l2sq_f32_many", isa, dim, got.into(), k.l2sq_f32(&q, row).unwrap().into(), tol)?;
                close("l2sq_f32_many", isa, dim, got.into(), r.l2sq_f32(&q, row).unwrap().into(), tol)?;
            }
            k.cosine_f32_many(&q, matrix, &mut out).unwrap();
            for (i, &got) in out.iter().enumerate() {
                let row = &matrix[i * dim..(i + 1) * dim];
                let tol = cosine_tolerance(&q, row);
                close("cosine_f32_many", isa, dim, got.into(), k.cosine_f32(&q, row).unwrap().into(), tol)?;
                close("cosine_f32_many", isa, dim, got.into(), r.cosine_f32(&q, row).unwrap().into(), tol)?;
            }
        }
    }

    #[test]
    fn statistics_match_scalar(
        (v, o, _, _) in pair(f32_value(true)),
        ddof in 0usize..3,
    ) {
        let v = &v[o..];
        let r = reference();
        let n = v.len();
        let finite: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
        // Min/max oracle: sort the non-NaN values.
        let mut sorted: Vec<f32> = v.iter().copied().filter(|x| !x.is_nan()).collect();
        sorted.sort_by(f32::total_cmp);
        let want = sorted.first().map(|&lo| (lo, *sorted.last().unwrap()));
        let ours = r.min_max_f32(v).unwrap();
        prop_assert_eq!(ours.is_some(), want.is_some());
        if let (Some((l, h)), Some((wl, wh))) = (ours, want) {
            // == so that -0.0 and 0.0 compare equal (documented policy).
            prop_assert!(l == wl && h == wh, "scalar min_max {:?} vs sorted {:?}", ours, want);
        }
        let f64_tol = |n: usize, abs: f64| 2.0 * (n + 2) as f64 * f64::EPSILON * abs;
        for k in paths() {
            let isa = k.isa();
            let got = k.min_max_f32(v).unwrap();
            prop_assert_eq!(got.is_some(), ours.is_some(), "{}", isa);
            if let (Some((l, h)), Some((wl, wh))) = (got, ours) {
                prop_assert!(l == wl && h == wh, "min_max on {}: {:?} vs {:?}", isa, got, ours);
            }
            let abs: f64 = v.iter().map(|&x| f64::from(x).abs()).sum();
            close("sum_f32", isa, n, k.sum_f32(v).unwrap(), r.sum_f32(v).unwrap(), f64_tol(n, abs))?;
            // Variance on finite data: two-pass, so the tolerance is that of
            // the mean (scaled by the sum of |x - mean|) plus that of the
            // sum of squares of deviations.
            let m = finite.len();
            if let Some(want) = r.variance_f32(&finite, ddof).unwrap() {
                let mean = r.mean_f32(&finite).unwrap().unwrap();
                let dev: f64 = finite.iter().map(|&x| (f64::from(x) - mean).abs()).sum();
                let abs: f64 = finite.iter().map(|&x| f64::from(x).abs()).sum();
                let dmean = f64_tol(m, abs) / m as f64;
                let tol = (f64_tol(m, dev * dev.max(1.0)) + 2.0 * dmean * dev + m as f64 * dmean * dmean)
                    / (m - ddof) as f64;
                let got = k.variance_f32(&finite, ddof).unwrap().unwrap();
                close("variance_f32", isa, m, got, want, tol)?;
            } else {
                prop_assert!(k.variance_f32(&finite, ddof).unwrap().is_none());
            }
            prop_assert_eq!(k.mean_f32(&[]).unwrap(), None);
        }
    }
}

// ---------------------------------------------------------------------------
// Explicit cases.
// ---------------------------------------------------------------------------

#[test]
fn nan_in_gives_nan_out_everywhere() {
    for &n in LENGTHS.iter().filter(|&&n| n > 0) {
        for pos in [0, n / 2, n - 1] {
            let mut a = vec![0.5f32; n];
            let b = vec![0.25f32; n];
            a[pos] = f32::NAN;
            let mut h = vec![f32_to_f16(0.5); n];
            let hb = vec![f32_to_f16(0.25); n];
            h[pos] = 0x7E00;
            for isa in Isa::available() {
                let k = Kernels::for_isa(isa).unwrap();
                let ctx = format!("{isa} n={n} pos={pos}");
                assert!(k.dot_f32(&a, &b).unwrap().is_nan(), "dot {ctx}");
                assert!(k.l2sq_f32(&a, &b).unwrap().is_nan(), "l2sq {ctx}");
                assert!(k.l1_f32(&a, &b).unwrap().is_nan(), "l1 {ctx}");
                assert!(k.cosine_f32(&a, &b).unwrap().is_nan(), "cosine {ctx}");
                assert!(k.cosine_f32(&b, &a).unwrap().is_nan(), "cosine {ctx}");
                assert!(k.dot_f16(&h, &hb).unwrap().is_nan(), "dot_f16 {ctx}");
                assert!(k.l2sq_f16(&h, &hb).unwrap().is_nan(), "l2sq_f16 {ctx}");
                assert!(k.cosine_f16(&hb, &h).unwrap().is_nan(), "cosine_f16 {ctx}");
                assert!(k.sum_f32(&a).unwrap().is_nan(), "sum {ctx}");
                let mut out = vec![0.0f32; 5];
                let rows: Vec<f32> = (0..5).flat_map(|_| a.iter().copied()).collect();
                k.dot_f32_many(&b, &rows, &mut out).unwrap();
                assert!(out.iter().all(|x| x.is_nan()), "dot_many {ctx}");
                k.l2sq_f32_many(&b, &rows, &mut out).unwrap();
                assert!(out.iter().all(|x| x.is_nan()), "l2sq_many {ctx}");
                k.cosine_f32_many(&b, &rows, &mut out).unwrap();
                assert!(out.iter().all(|x| x.is_nan()), "cosine_many {ctx}");
                k.cosine_f32_many(&a, &rows[..b.len() * 5], &mut out)
                    .unwrap();
                assert!(
                    out.iter().all(|x| x.is_nan()),
                    "cosine_many nan query {ctx}"
                );
                // min_max ignores NaN.
                assert_eq!(
                    k.min_max_f32(&a).unwrap(),
                    if n == 1 { None } else { Some((0.5, 0.5)) },
                    "{ctx}"
                );
            }
        }
    }
}

#[test]
fn all_nan_and_empty_min_max() {
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        for &n in LENGTHS {
            assert_eq!(
                k.min_max_f32(&vec![f32::NAN; n]).unwrap(),
                None,
                "{isa} {n}"
            );
        }
        let mut v = vec![f32::NAN; 40];
        v[37] = -3.0;
        v[2] = f32::INFINITY;
        assert_eq!(
            k.min_max_f32(&v).unwrap(),
            Some((-3.0, f32::INFINITY)),
            "{isa}"
        );
        let v = [f32::NEG_INFINITY; 17];
        assert_eq!(
            k.min_max_f32(&v).unwrap(),
            Some((f32::NEG_INFINITY, f32::NEG_INFINITY)),
            "{isa}"
        );
    }
}

#[test]
fn cosine_zero_vector_rules() {
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        for &n in LENGTHS.iter().filter(|&&n| n > 0) {
            let z = vec![0.0f32; n];
            let x: Vec<f32> = (0..n).map(|i| i as f32 + 1.0).collect();
            let neg: Vec<f32> = x.iter().map(|v| -v).collect();
            assert_eq!(k.cosine_f32(&z, &z).unwrap(), 0.0, "{isa}");
            assert_eq!(k.cosine_f32(&z, &x).unwrap(), 1.0, "{isa}");
            assert_eq!(k.cosine_f32(&x, &z).unwrap(), 1.0, "{isa}");
            assert!(k.cosine_f32(&x, &x).unwrap() < 1e-6, "{isa}");
            assert!(
                (k.cosine_f32(&x, &neg).unwrap() - 2.0).abs() < 1e-6,
                "{isa}"
            );
            let hz = vec![0u16; n];
            assert_eq!(k.cosine_f16(&hz, &hz).unwrap(), 0.0, "{isa}");
        }
        assert_eq!(k.cosine_f32(&[], &[]).unwrap(), 0.0, "{isa}");
        assert_eq!(k.jaccard_u64(&[], &[]).unwrap(), 0.0, "{isa}");
        assert_eq!(k.jaccard_u64(&[0, 0], &[0, 0]).unwrap(), 0.0, "{isa}");
        let mut out = [7.0f32; 3];
        k.cosine_f32_many(&[], &[], &mut out).unwrap();
        assert_eq!(out, [0.0; 3], "{isa}");
        k.dot_f32_many(&[], &[], &mut out).unwrap();
        assert_eq!(out, [0.0; 3], "{isa}");
    }
}

#[test]
fn every_half_converts_exactly_on_every_path() {
    let one = f32_to_f16(1.0);
    let step = if cfg!(miri) { 997 } else { 1 };
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        for bits in (0..=u16::MAX).step_by(step) {
            let want = f16_to_f32(bits);
            // Length 1 (tail path) and length 8 with the value in lane 3
            // (full-vector path; the other lanes add +0.0 products).
            let mut a = [0u16; 8];
            a[3] = bits;
            for got in [
                k.dot_f16(&[bits], &[one]).unwrap(),
                k.dot_f16(&a, &[one; 8]).unwrap(),
            ] {
                if want.is_nan() {
                    assert!(got.is_nan(), "{isa} {bits:#06x}");
                } else {
                    assert!(got == want, "{isa} {bits:#06x}: {got} vs {want}");
                }
            }
        }
    }
}

#[test]
fn integer_extremes_do_not_overflow() {
    // The documented exact ranges: dot_i8 up to 131 072 elements of
    // (-128)·(-128), l2sq up to 66 051 elements of 255².
    let n = if cfg!(miri) { 40 } else { 131_072 };
    let lo = vec![-128i8; n];
    let hi = vec![127i8; n];
    let m = if cfg!(miri) { 40 } else { 66_051 };
    let zeros = vec![0u8; m + 3];
    let full = vec![255u8; m + 3];
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        // 131 071 · 128² = 2³¹ - 2¹⁴ is the largest all-(-128) sum that fits i32.
        let exact = n - 1;
        assert_eq!(
            i64::from(k.dot_i8(&lo[..exact], &lo[..exact]).unwrap()),
            exact as i64 * 16384,
            "{isa}"
        );
        // One more element wraps modulo 2³², on every path alike.
        assert_eq!(
            k.dot_i8(&lo, &lo).unwrap(),
            (n as u64 * 16384) as u32 as i32,
            "{isa}"
        );
        assert_eq!(
            i64::from(k.dot_i8(&lo, &hi).unwrap()),
            -(n as i64) * 128 * 127,
            "{isa}"
        );
        assert_eq!(
            u64::from(k.l2sq_i8(&lo[..m], &hi[..m]).unwrap()),
            m as u64 * 255 * 255,
            "{isa}"
        );
        assert_eq!(
            u64::from(k.l2sq_u8(&zeros[3..], &full[..m]).unwrap()),
            m as u64 * 255 * 255,
            "{isa}"
        );
        // Past the exact range the sums wrap identically on every path.
        let wrapped = (zeros.len() as u64 * 255 * 255) as u32;
        assert_eq!(k.l2sq_u8(&zeros, &full).unwrap(), wrapped, "{isa}");
    }
}

#[test]
fn mismatched_lengths_are_errors() {
    let mismatch = KernelError::LengthMismatch { left: 3, right: 2 };
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        let (a, b) = ([1.0f32; 3], [1.0f32; 2]);
        assert_eq!(k.dot_f32(&a, &b), Err(mismatch.clone()));
        assert_eq!(k.l2sq_f32(&a, &b), Err(mismatch.clone()));
        assert_eq!(k.cosine_f32(&a, &b), Err(mismatch.clone()));
        assert_eq!(k.l1_f32(&a, &b), Err(mismatch.clone()));
        assert_eq!(k.dot_i8(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.l2sq_i8(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.l2sq_u8(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.hamming_u64(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.jaccard_u64(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.dot_f16(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.l2sq_f16(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        assert_eq!(k.cosine_f16(&[1; 3], &[1; 2]), Err(mismatch.clone()));
        let mut out = [0.0f32; 2];
        let shape = KernelError::RowsShape {
            dim: 3,
            rows_len: 5,
            out_len: 2,
        };
        assert_eq!(k.dot_f32_many(&a, &[0.0; 5], &mut out), Err(shape.clone()));
        assert_eq!(k.l2sq_f32_many(&a, &[0.0; 5], &mut out), Err(shape.clone()));
        assert_eq!(k.cosine_f32_many(&a, &[0.0; 5], &mut out), Err(shape));
        assert!(k.dot_f32_many(&[], &[1.0], &mut out).is_err());
    }
}

#[test]
fn for_isa_is_none_only_for_unavailable_paths() {
    for isa in Isa::ALL {
        match Kernels::for_isa(isa) {
            Some(k) => {
                assert!(isa.is_available());
                assert_eq!(k.isa(), isa);
            }
            None => assert!(!isa.is_available(), "{isa} is available but has no kernels"),
        }
    }
    assert!(Kernels::for_isa(Isa::Scalar).is_some());
    assert!(Kernels::for_isa(Isa::Portable).is_some());
    // At most one architecture-specific family exists in any build.
    assert!(!(Isa::Avx2.is_available() && Isa::Neon.is_available()));
    // The AVX-512 path reuses AVX2 kernels, so it requires everything the
    // AVX2 path does.
    assert!(!Isa::Avx512.is_available() || Isa::Avx2.is_available());
    assert_eq!(Kernels::best().isa(), Isa::available()[0]);
    // The architecture paths are really exercised where they exist (Miri
    // reports them unavailable because it cannot run `std::arch`).
    #[cfg(all(target_arch = "aarch64", not(miri)))]
    assert!(
        Kernels::for_isa(Isa::Neon).is_some(),
        "NEON is baseline on aarch64"
    );
    #[cfg(miri)]
    assert_eq!(Isa::available(), vec![Isa::Portable, Isa::Scalar]);
}

/// Every length up to 70 (all remainders of the 32-, 16-, 8- and 4-wide
/// blocks) at offsets 0..3, with small integers as data: every product and
/// partial sum is then an exactly representable integer, so every path must
/// return the scalar result bit for bit (up to the sign of a zero),
/// whatever its order of additions.
#[test]
fn every_short_length_and_offset_exactly() {
    let max = if cfg!(miri) { 20 } else { 70 };
    let r = reference();
    let ints = |n: usize, seed: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7 + seed * 13) % 17) as f32 - 8.0)
            .collect()
    };
    for n in 0..=max {
        for off in 0..3 {
            let (sa, sb) = (ints(n + off, 1), ints(n + off, 2));
            let (a, b) = (&sa[off..], &sb[off..]);
            let (ha, hb): (Vec<u16>, Vec<u16>) = (
                a.iter().map(|&x| f32_to_f16(x)).collect(),
                b.iter().map(|&x| f32_to_f16(x)).collect(),
            );
            let (ia, ib): (Vec<i8>, Vec<i8>) = (
                a.iter().map(|&x| (x * 16.0) as i8).collect(),
                b.iter().map(|&x| (x * 15.0) as i8).collect(),
            );
            let (ua, ub): (Vec<u8>, Vec<u8>) = (
                ia.iter().map(|&x| x as u8).collect(),
                ib.iter().map(|&x| x as u8).collect(),
            );
            let (wa, wb): (Vec<u64>, Vec<u64>) = (
                (0..n)
                    .map(|i| (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .collect(),
                (0..n)
                    .map(|i| (i as u64 + 3).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
                    .collect(),
            );
            let rows = 5;
            let matrix: Vec<f32> = (0..rows).flat_map(|s| ints(n, s + 3)).collect();
            for k in paths() {
                let ctx = format!("{} n={n} off={off}", k.isa());
                // Compared as numbers: the sign of a zero result may differ
                // (the scalar `Iterator::sum` starts from -0.0).
                let bits = |x: f32| if x == 0.0 { 0 } else { x.to_bits() };
                assert_eq!(
                    bits(k.dot_f32(a, b).unwrap()),
                    bits(r.dot_f32(a, b).unwrap()),
                    "dot {ctx}"
                );
                assert_eq!(
                    bits(k.l2sq_f32(a, b).unwrap()),
                    bits(r.l2sq_f32(a, b).unwrap()),
                    "l2sq {ctx}"
                );
                assert_eq!(
                    bits(k.l1_f32(a, b).unwrap()),
                    bits(r.l1_f32(a, b).unwrap()),
                    "l1 {ctx}"
                );
                assert_eq!(
                    bits(k.cosine_f32(a, b).unwrap()),
                    bits(r.cosine_f32(a, b).unwrap()),
                    "cosine {ctx}"
                );
                assert_eq!(
                    bits(k.dot_f16(&ha, &hb).unwrap()),
                    bits(r.dot_f16(&ha, &hb).unwrap()),
                    "dot_f16 {ctx}"
                );
                assert_eq!(
                    bits(k.l2sq_f16(&ha, &hb).unwrap()),
                    bits(r.l2sq_f16(&ha, &hb).unwrap()),
                    "l2sq_f16 {ctx}"
                );
                assert_eq!(
                    bits(k.cosine_f16(&ha, &hb).unwrap()),
                    bits(r.cosine_f16(&ha, &hb).unwrap()),
                    "cosine_f16 {ctx}"
                );
                assert_eq!(
                    k.dot_i8(&ia, &ib).unwrap(),
                    r.dot_i8(&ia, &ib).unwrap(),
                    "dot_i8 {ctx}"
                );
                assert_eq!(
                    k.l2sq_i8(&ia, &ib).unwrap(),
                    r.l2sq_i8(&ia, &ib).unwrap(),
                    "l2sq_i8 {ctx}"
                );
                assert_eq!(
                    k.l2sq_u8(&ua, &ub).unwrap(),
                    r.l2sq_u8(&ua, &ub).unwrap(),
                    "l2sq_u8 {ctx}"
                );
                assert_eq!(
                    k.hamming_u64(&wa, &wb).unwrap(),
                    r.hamming_u64(&wa, &wb).unwrap(),
                    "hamming {ctx}"
                );
                assert_eq!(
                    k.jaccard_u64(&wa, &wb).unwrap(),
                    r.jaccard_u64(&wa, &wb).unwrap(),
                    "jaccard {ctx}"
                );
                assert_eq!(k.sum_f32(a).unwrap(), r.sum_f32(a).unwrap(), "sum {ctx}");
                // The variance's deviations from a non-integer mean are not exact:
                // reassociation bound of the f64 sum of squares (module docs).
                let (gv, wv) = (k.variance_f32(a, 0).unwrap(), r.variance_f32(a, 0).unwrap());
                assert_eq!(gv.is_some(), wv.is_some(), "variance {ctx}");
                if let (Some(g), Some(w)) = (gv, wv) {
                    let tol = 2.0 * (n + 2) as f64 * f64::EPSILON * w;
                    assert!(
                        approx::abs_diff_eq!(g, w, epsilon = tol),
                        "variance {ctx}: {g} vs {w}"
                    );
                }
                assert_eq!(
                    k.min_max_f32(a).unwrap(),
                    r.min_max_f32(a).unwrap(),
                    "min_max {ctx}"
                );
                type Many = fn(&Kernels, &[f32], &[f32], &mut [f32]) -> Result<(), KernelError>;
                let manys: [(&str, Many); 3] = [
                    ("dot_many", Kernels::dot_f32_many),
                    ("l2sq_many", Kernels::l2sq_f32_many),
                    ("cosine_many", Kernels::cosine_f32_many),
                ];
                for (name, f) in manys {
                    let (mut got, mut want) = (vec![0.0f32; rows], vec![0.0f32; rows]);
                    f(k, a, &matrix, &mut got).unwrap();
                    f(r, a, &matrix, &mut want).unwrap();
                    assert_eq!(
                        got.iter().map(|&x| bits(x)).collect::<Vec<_>>(),
                        want.iter().map(|&x| bits(x)).collect::<Vec<_>>(),
                        "{name} {ctx}"
                    );
                }
            }
        }
    }
}

/// Lengths around the 16-lane vectors and 64-value blocks of the wide paths
/// (including the lengths from which a path may peel a head to align its
/// loads), at every start offset within a 64-byte line, with small
/// integers as data so every path must match the scalar result exactly.
#[test]
fn block_boundaries_at_every_alignment_exactly() {
    let lengths: &[usize] = if cfg!(miri) {
        &[17, 33]
    } else {
        &[
            79, 80, 81, 127, 128, 129, 143, 144, 145, 191, 192, 193, 255, 256, 257, 1023, 1536,
        ]
    };
    let offsets = if cfg!(miri) { 2 } else { 16 };
    let r = reference();
    let ints = |n: usize, seed: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 5 + seed * 11) % 17) as f32 - 8.0)
            .collect()
    };
    let bits = |x: f32| if x == 0.0 { 0 } else { x.to_bits() };
    for &n in lengths {
        for off in 0..offsets {
            // The second slice starts one value later, so the two are
            // aligned differently whenever the first is.
            let (sa, sb) = (ints(n + off, 1), ints(n + off + 1, 2));
            let (a, b) = (&sa[off..], &sb[off + 1..]);
            let (ha, hb): (Vec<u16>, Vec<u16>) = (
                a.iter().map(|&x| f32_to_f16(x)).collect(),
                b.iter().map(|&x| f32_to_f16(x)).collect(),
            );
            let (ia, ib): (Vec<i8>, Vec<i8>) = (
                a.iter().map(|&x| (x * 15.0) as i8).collect(),
                b.iter().map(|&x| (x * 16.0) as i8).collect(),
            );
            let (wa, wb): (Vec<u64>, Vec<u64>) = (
                (0..n)
                    .map(|i| (i as u64 + 5).wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .collect(),
                (0..n)
                    .map(|i| (i as u64 + 7).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
                    .collect(),
            );
            for k in paths() {
                let ctx = format!("{} n={n} off={off}", k.isa());
                type F32 = fn(&Kernels, &[f32], &[f32]) -> Result<f32, KernelError>;
                let f32s: [(&str, F32); 4] = [
                    ("dot", Kernels::dot_f32),
                    ("l2sq", Kernels::l2sq_f32),
                    ("l1", Kernels::l1_f32),
                    ("cosine", Kernels::cosine_f32),
                ];
                for (name, f) in f32s {
                    assert_eq!(
                        bits(f(k, a, b).unwrap()),
                        bits(f(r, a, b).unwrap()),
                        "{name} {ctx}"
                    );
                }
                assert_eq!(
                    bits(k.cosine_f16(&ha, &hb).unwrap()),
                    bits(r.cosine_f16(&ha, &hb).unwrap()),
                    "cosine_f16 {ctx}"
                );
                assert_eq!(
                    bits(k.l2sq_f16(&ha, &hb).unwrap()),
                    bits(r.l2sq_f16(&ha, &hb).unwrap()),
                    "l2sq_f16 {ctx}"
                );
                assert_eq!(
                    k.dot_i8(&ia, &ib).unwrap(),
                    r.dot_i8(&ia, &ib).unwrap(),
                    "dot_i8 {ctx}"
                );
                assert_eq!(
                    k.l2sq_i8(&ia, &ib).unwrap(),
                    r.l2sq_i8(&ia, &ib).unwrap(),
                    "l2sq_i8 {ctx}"
                );
                assert_eq!(
                    k.jaccard_u64(&wa, &wb).unwrap(),
                    r.jaccard_u64(&wa, &wb).unwrap(),
                    "jaccard {ctx}"
                );
                assert_eq!(k.sum_f32(a).unwrap(), r.sum_f32(a).unwrap(), "sum {ctx}");
                assert_eq!(
                    k.min_max_f32(b).unwrap(),
                    r.min_max_f32(b).unwrap(),
                    "min_max {ctx}"
                );
            }
        }
    }
}

/// min/max must ignore a NaN wherever it is (every position, every lane),
/// and must find a single non-NaN value among NaNs at any position.
#[test]
fn min_max_ignores_nan_at_every_position() {
    let lengths: &[usize] = if cfg!(miri) {
        &[1, 9, 17, 33]
    } else {
        &[1, 8, 15, 16, 17, 31, 32, 33, 64, 100, 257]
    };
    let r = reference();
    for &n in lengths {
        let base: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % n) as f32 - (n / 2) as f32)
            .collect();
        for p in 0..n {
            let mut v = base.clone();
            v[p] = f32::NAN;
            let mut lone = vec![f32::NAN; n];
            lone[p] = p as f32 - 3.5;
            for k in paths() {
                assert_eq!(
                    k.min_max_f32(&v).unwrap(),
                    r.min_max_f32(&v).unwrap(),
                    "{} n={n} nan at {p}",
                    k.isa()
                );
                assert_eq!(
                    k.min_max_f32(&lone).unwrap(),
                    Some((lone[p], lone[p])),
                    "{} n={n} lone {p}",
                    k.isa()
                );
            }
        }
    }
}

/// Empty inputs give +0.0 on every path (a plain `Iterator::sum` of floats
/// would start from -0.0; the sign must not depend on the path).
#[test]
fn empty_sums_are_positive_zero_on_every_path() {
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        for v in [
            k.dot_f32(&[], &[]).unwrap(),
            k.l2sq_f32(&[], &[]).unwrap(),
            k.l1_f32(&[], &[]).unwrap(),
            k.dot_f16(&[], &[]).unwrap(),
            k.l2sq_f16(&[], &[]).unwrap(),
        ] {
            assert_eq!(v.to_bits(), 0.0f32.to_bits(), "{isa}");
        }
        assert_eq!(k.sum_f32(&[]).unwrap().to_bits(), 0.0f64.to_bits(), "{isa}");
    }
}

/// Dimensions and row counts of the f16/i8 one-to-many checks: every
/// remainder class of the 16-, 32-, 64- and 128-wide blocks and of the
/// 4-row groups.
const F16_I8_MANY_DIMS: &[usize] = if cfg!(miri) {
    &[0, 1, 7, 17]
} else {
    &[0, 1, 7, 15, 16, 17, 31, 33, 63, 65, 127, 128, 129, 1023]
};
const F16_I8_MANY_ROWS: &[usize] = &[0, 1, 3, 4, 5, 9];

/// A xorshift stream for deterministic test data.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Half values of `mode`: 0 ordinary values in [-10, 10), 1 the same mixed
/// with NaN, ±inf, ±0, subnormals and ±65504, 2 any bit pattern.
fn halves(next: &mut impl FnMut() -> u64, n: usize, mode: u32) -> Vec<u16> {
    const SPECIAL: [u16; 9] = [
        0x7E00, 0x7C00, 0xFC00, 0x0000, 0x8000, 0x0001, 0x83FF, 0x7BFF, 0xFBFF,
    ];
    (0..n)
        .map(|_| {
            let x = next();
            match mode {
                2 => x as u16,
                1 if x.is_multiple_of(7) => SPECIAL[(x >> 8) as usize % SPECIAL.len()],
                _ => f32_to_f16(((x >> 11) as f64 / (1u64 << 53) as f64 * 20.0 - 10.0) as f32),
            }
        })
        .collect()
}

/// Bytes of `mode`: 0 any byte, 1 only the extremes -128 and 127, 2 mixed.
fn bytes(next: &mut impl FnMut() -> u64, n: usize, mode: u32) -> Vec<i8> {
    (0..n)
        .map(|_| {
            let x = next();
            match mode {
                1 => [-128i8, 127][(x >> 5) as usize % 2],
                2 if x.is_multiple_of(3) => [-128i8, 127][(x >> 5) as usize % 2],
                _ => (x >> 24) as i8,
            }
        })
        .collect()
}

/// Same value including NaN-ness (the sign of a zero is compared too: the
/// one-to-many kernels run the one-to-one kernel's exact operations).
fn same_f32(got: f32, want: f32) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

#[test]
fn f16_many_kernels_equal_one_to_one_on_every_path() {
    let r = reference();
    let mut next = xorshift(0x05EE_DF16);
    for &dim in F16_I8_MANY_DIMS {
        for &rows in F16_I8_MANY_ROWS {
            for off in 0..2 {
                for mode in 0..3 {
                    // Unaligned query and matrix: both start `off` halves in.
                    let qs = halves(&mut next, dim + off, mode);
                    let ms = halves(&mut next, rows * dim + off, mode);
                    let (q, m) = (&qs[off..], &ms[off..]);
                    let fq: Vec<f32> = q.iter().map(|&h| f16_to_f32(h)).collect();
                    for k in std::iter::once(r).chain(paths()) {
                        let isa = k.isa();
                        let ctx = format!("{isa} dim={dim} rows={rows} off={off} mode={mode}");
                        let mut dot = vec![f32::NAN; rows];
                        let mut l2 = vec![f32::NAN; rows];
                        let mut cos = vec![f32::NAN; rows];
                        k.dot_f16_many(q, m, &mut dot).unwrap();
                        k.l2sq_f16_many(q, m, &mut l2).unwrap();
                        k.cosine_f16_many(q, m, &mut cos).unwrap();
                        for i in 0..rows {
                            let row = &m[i * dim..(i + 1) * dim];
                            let fr: Vec<f32> = row.iter().map(|&h| f16_to_f32(h)).collect();
                            let one = (
                                k.dot_f16(q, row).unwrap(),
                                k.l2sq_f16(q, row).unwrap(),
                                k.cosine_f16(q, row).unwrap(),
                            );
                            assert!(
                                same_f32(dot[i], one.0),
                                "dot_f16_many row {i} {ctx}: {} vs {}",
                                dot[i],
                                one.0
                            );
                            assert!(
                                same_f32(l2[i], one.1),
                                "l2sq_f16_many row {i} {ctx}: {} vs {}",
                                l2[i],
                                one.1
                            );
                            assert!(
                                same_f32(cos[i], one.2),
                                "cosine_f16_many row {i} {ctx}: {} vs {}",
                                cos[i],
                                one.2
                            );
                            close(
                                "dot_f16_many",
                                isa,
                                dim,
                                dot[i].into(),
                                r.dot_f16(q, row).unwrap().into(),
                                sum_tolerance(dim, f32_dot_terms(&fq, &fr)),
                            )
                            .unwrap();
                            close(
                                "l2sq_f16_many",
                                isa,
                                dim,
                                l2[i].into(),
                                r.l2sq_f16(q, row).unwrap().into(),
                                sum_tolerance(dim, f32_l2_terms(&fq, &fr)),
                            )
                            .unwrap();
                            close(
                                "cosine_f16_many",
                                isa,
                                dim,
                                cos[i].into(),
                                r.cosine_f16(q, row).unwrap().into(),
                                cosine_tolerance(&fq, &fr),
                            )
                            .unwrap();
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn i8_many_kernels_equal_one_to_one_on_every_path() {
    let r = reference();
    let mut next = xorshift(0x005E_ED18);
    for &dim in F16_I8_MANY_DIMS {
        for &rows in F16_I8_MANY_ROWS {
            for off in 0..2 {
                for mode in 0..3 {
                    let qs = bytes(&mut next, dim + off, mode);
                    let ms = bytes(&mut next, rows * dim + off, mode);
                    let (q, m) = (&qs[off..], &ms[off..]);
                    for k in std::iter::once(r).chain(paths()) {
                        let ctx =
                            format!("{} dim={dim} rows={rows} off={off} mode={mode}", k.isa());
                        let mut dot = vec![i32::MIN; rows];
                        let mut l2 = vec![u32::MAX; rows];
                        k.dot_i8_many(q, m, &mut dot).unwrap();
                        k.l2sq_i8_many(q, m, &mut l2).unwrap();
                        for i in 0..rows {
                            let row = &m[i * dim..(i + 1) * dim];
                            // Independent oracle in i64 (exact at these sizes).
                            let want_dot: i64 = q
                                .iter()
                                .zip(row)
                                .map(|(&x, &y)| i64::from(x) * i64::from(y))
                                .sum();
                            let want_l2: i64 = q
                                .iter()
                                .zip(row)
                                .map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2))
                                .sum();
                            assert_eq!(
                                dot[i],
                                k.dot_i8(q, row).unwrap(),
                                "dot_i8_many row {i} {ctx}"
                            );
                            assert_eq!(
                                l2[i],
                                k.l2sq_i8(q, row).unwrap(),
                                "l2sq_i8_many row {i} {ctx}"
                            );
                            assert_eq!(i64::from(dot[i]), want_dot, "dot_i8_many row {i} {ctx}");
                            assert_eq!(i64::from(l2[i]), want_l2, "l2sq_i8_many row {i} {ctx}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn f16_i8_many_shape_errors() {
    let shape = KernelError::RowsShape {
        dim: 3,
        rows_len: 5,
        out_len: 2,
    };
    for isa in Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        let (mut fo, mut io, mut uo) = ([0.0f32; 2], [0i32; 2], [0u32; 2]);
        assert_eq!(k.dot_i8_many(&[1; 3], &[1; 5], &mut io), Err(shape.clone()));
        assert_eq!(
            k.l2sq_i8_many(&[1; 3], &[1; 5], &mut uo),
            Err(shape.clone())
        );
        assert_eq!(
            k.dot_f16_many(&[1; 3], &[1; 5], &mut fo),
            Err(shape.clone())
        );
        assert_eq!(
            k.l2sq_f16_many(&[1; 3], &[1; 5], &mut fo),
            Err(shape.clone())
        );
        assert_eq!(
            k.cosine_f16_many(&[1; 3], &[1; 5], &mut fo),
            Err(shape.clone())
        );
        // A zero-dimensional query with non-empty rows, and too many rows.
        assert!(k.dot_f16_many(&[], &[1], &mut fo).is_err(), "{isa}");
        assert!(k.dot_i8_many(&[1; 3], &[1; 9], &mut io).is_err(), "{isa}");
        // Zero dimensions: every row is the empty vector.
        k.dot_i8_many(&[], &[], &mut io).unwrap();
        assert_eq!(io, [0, 0], "{isa}");
        k.cosine_f16_many(&[], &[], &mut fo).unwrap();
        assert_eq!(fo, [0.0, 0.0], "{isa}");
    }
}

// ---------- an invalid UNIDB_ISA ----------

/// Set in the child process of `invalid_isa_is_an_error_and_active_falls_back`.
const CHILD_ENV: &str = "UNIDB_KERNELS_ISA_CHILD";

/// Run in a child process with `UNIDB_ISA` set to an invalid value (the
/// choice is made once per process): `try_active` and `selection` return
/// the typed error, every time; `active` is the best detected path.
#[test]
#[ignore = "run by invalid_isa_is_an_error_and_active_falls_back"]
fn invalid_isa_child() {
    let Ok(expect) = std::env::var(CHILD_ENV) else {
        return;
    };
    let value = std::env::var(unidb_kernels::ISA_ENV_VAR).unwrap();
    for _ in 0..2 {
        let err = Kernels::try_active().unwrap_err();
        match expect.as_str() {
            "unknown" => assert_eq!(
                err,
                KernelError::UnknownIsa {
                    value: value.clone()
                }
            ),
            "unavailable" => assert!(
                matches!(&err, KernelError::UnavailableIsa { isa, available }
                    if isa.name() == value && *available == Isa::available()),
                "{err:?}"
            ),
            other => panic!("unexpected mode {other}"),
        }
        assert_eq!(Kernels::selection().unwrap_err(), err);
    }
    assert_eq!(Kernels::active().isa(), Isa::best());
    assert_eq!(
        Kernels::active().dot_f32(&[1.0, 2.0], &[3.0, 4.0]),
        Ok(11.0)
    );
}

/// An invalid `UNIDB_ISA` is a typed error for library users, and the
/// library prints nothing: the child's stderr is empty.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot start a child process")]
fn invalid_isa_is_an_error_and_active_falls_back() {
    // A path name of another architecture is known but unavailable.
    let foreign = if cfg!(target_arch = "aarch64") {
        "avx2"
    } else {
        "neon"
    };
    for (value, mode) in [("no-such-path", "unknown"), (foreign, "unavailable")] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "paths::invalid_isa_child",
                "--ignored",
                "--quiet",
            ])
            .args(["--test-threads=1", "--nocapture"])
            .env(unidb_kernels::ISA_ENV_VAR, value)
            .env(CHILD_ENV, mode)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if cfg!(not(target_arch = "x86_64")) && !stdout.contains("running 1 test") {
            // The test binary could not start itself: a user-mode emulator
            // (qemu for aarch64) runs only the first process. Native x86
            // runs always check the child.
            eprintln!(
                "skipped: the test binary cannot run itself here ({}; {})",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        assert!(out.status.success(), "{value}: {stdout}");
        assert!(stdout.contains("1 passed"), "{value}: {stdout}");
        assert!(
            out.stderr.is_empty(),
            "{value}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `min_max_i64` on every path against the iterator's minimum and maximum
/// (and the scalar reference), at every listed length, with the extremes
/// placed at the start, the end, and inside the last partial vector.
#[test]
fn min_max_i64_matches_the_iterator_on_every_path() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        seed
    };
    let r = reference();
    for &n in LENGTHS.iter().chain(&[2, 3, 4, 5, 9, 24, 25, 300]) {
        for shift in [0u32, 20, 50, 62] {
            let base: Vec<i64> = (0..n).map(|_| (next() as i64) >> shift).collect();
            let mut cases = vec![base.clone()];
            for at in [0, n / 2, n.saturating_sub(1)] {
                for extreme in [i64::MIN, i64::MAX] {
                    let mut v = base.clone();
                    if let Some(x) = v.get_mut(at) {
                        *x = extreme;
                    }
                    cases.push(v);
                }
            }
            for v in &cases {
                let want = v
                    .iter()
                    .copied()
                    .min()
                    .map(|lo| (lo, v.iter().copied().max().unwrap()));
                assert_eq!(r.min_max_i64(v).unwrap(), want, "scalar, n={n}");
                for k in paths() {
                    assert_eq!(k.min_max_i64(v).unwrap(), want, "{}, n={n}", k.isa());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn min_max_i64_random(v in prop::collection::vec(any::<i64>(), 0..MAX_RANDOM_LEN)) {
        let want = v.iter().copied().min().map(|lo| (lo, v.iter().copied().max().unwrap()));
        for k in paths() {
            prop_assert_eq!(k.min_max_i64(&v).unwrap(), want, "{}", k.isa());
        }
    }
}

//! Distance and statistics kernels: every kernel on every path this CPU
//! has, at dimensions 128, 768 and 1536 (in cache), next to `simsimd` and a
//! naive iterator loop; the one-to-many kernels over a 64 MiB matrix next to
//! `sum_f32` over the same bytes (the memory-bound yardstick).
//!
//! Every setup checks its results against the scalar path before timing.
//!
//! Filter as usual: `cargo bench --bench kernels -- dot_f32/768`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use simsimd::{BinarySimilarity, SpatialSimilarity};
use std::hint::black_box;
use unidb_benches::*;
use unidb_kernels::{Isa, KernelError, Kernels};

fn paths() -> Vec<&'static Kernels> {
    Isa::available()
        .into_iter()
        .filter_map(Kernels::for_isa)
        .collect()
}

fn scalar() -> &'static Kernels {
    Kernels::for_isa(Isa::Scalar).expect("the scalar path always exists")
}

/// A peer implementation: name and function returning f64.
type Peer<'a, T> = (&'static str, &'a dyn Fn(&[T], &[T]) -> f64);

/// A pairwise kernel method of `Kernels`.
type Pairwise<T, R> = fn(&Kernels, &[T], &[T]) -> Result<R, KernelError>;

/// A kernel's result as f64 for comparisons.
trait AsF64: Copy {
    fn as_f64(self) -> f64;
}
impl AsF64 for f32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}
impl AsF64 for i32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}
impl AsF64 for u32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}
impl AsF64 for u64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

/// How far a path or peer may be from the scalar reference, given the two
/// inputs: the rounding-error scale of the kernel times a relative bound.
type Tolerance<'a, T> = &'a dyn Fn(&[T], &[T]) -> f64;

/// Benches one pairwise kernel at every dimension on every path and peer.
///
/// `len(dim)` is the slice length for a vector of `dim` elements (bits for
/// the binary kernels, which are counted in bits).
#[allow(clippy::too_many_arguments)]
fn pairwise<T: Copy, R: AsF64>(
    c: &mut Criterion,
    name: &str,
    gen: fn(usize, u64) -> Vec<T>,
    len: fn(usize) -> usize,
    kernel: Pairwise<T, R>,
    tol: Tolerance<'_, T>,
    peers: &[Peer<'_, T>],
    peer_tol: Tolerance<'_, T>,
) {
    let mut group = c.benchmark_group(name);
    for dim in DIMS {
        let a = gen(len(dim), 1000 + dim as u64);
        let b = gen(len(dim), 2000 + dim as u64);
        let want = kernel(scalar(), &a, &b).expect("equal lengths").as_f64();
        group.throughput(Throughput::Elements(dim as u64));
        for k in paths() {
            let got = kernel(k, &a, &b).expect("equal lengths").as_f64();
            check_close(
                &format!("{name}/{dim} on {}", k.isa()),
                got,
                want,
                tol(&a, &b),
            )
            .unwrap();
            group.bench_with_input(BenchmarkId::new(k.isa().name(), dim), &dim, |bch, _| {
                bch.iter(|| kernel(k, black_box(&a), black_box(&b)))
            });
        }
        for (peer, f) in peers {
            let got = f(&a, &b);
            check_close(
                &format!("{name}/{dim} by {peer}"),
                got,
                want,
                peer_tol(&a, &b),
            )
            .unwrap();
            group.bench_with_input(BenchmarkId::new(*peer, dim), &dim, |bch, _| {
                bch.iter(|| f(black_box(&a), black_box(&b)))
            });
        }
    }
    group.finish();
}

fn same(dim: usize) -> usize {
    dim
}

fn words(bits: usize) -> usize {
    bits.div_ceil(64)
}

fn distances_f32(c: &mut Criterion) {
    // f32 dot and l2: rounding error scales with Σ|terms|; 2e-5 of it is far
    // above any summation-order difference at these lengths (about
    // sqrt(n)·2⁻²⁴) and far below the effect of a wrong element.
    let dot_tol = |a: &[f32], b: &[f32]| 2e-5 * abs_dot_f64(a, b) + 1e-6;
    let l2_tol = |a: &[f32], b: &[f32]| 2e-5 * f64::from(naive_l2sq(a, b)) + 1e-6;
    let cos_tol = |_: &[f32], _: &[f32]| 1e-4;
    // simsimd may use an approximate reciprocal square root in cosine.
    let cos_peer_tol = |_: &[f32], _: &[f32]| 2e-3;

    let simsimd_dot =
        |a: &[f32], b: &[f32]| <f32 as SpatialSimilarity>::dot(a, b).expect("equal lengths");
    let naive_dot_f = |a: &[f32], b: &[f32]| f64::from(naive_dot(a, b));
    pairwise(
        c,
        "dot_f32",
        random_f32,
        same,
        Kernels::dot_f32,
        &dot_tol,
        &[("simsimd", &simsimd_dot), ("naive", &naive_dot_f)],
        &dot_tol,
    );

    let simsimd_l2 =
        |a: &[f32], b: &[f32]| <f32 as SpatialSimilarity>::l2sq(a, b).expect("equal lengths");
    let naive_l2_f = |a: &[f32], b: &[f32]| f64::from(naive_l2sq(a, b));
    pairwise(
        c,
        "l2sq_f32",
        random_f32,
        same,
        Kernels::l2sq_f32,
        &l2_tol,
        &[("simsimd", &simsimd_l2), ("naive", &naive_l2_f)],
        &l2_tol,
    );

    let simsimd_cos =
        |a: &[f32], b: &[f32]| <f32 as SpatialSimilarity>::cos(a, b).expect("equal lengths");
    let naive_cos_f = |a: &[f32], b: &[f32]| f64::from(naive_cosine(a, b));
    pairwise(
        c,
        "cosine_f32",
        random_f32,
        same,
        Kernels::cosine_f32,
        &cos_tol,
        &[("simsimd", &simsimd_cos), ("naive", &naive_cos_f)],
        &cos_peer_tol,
    );

    let l1_tol = |a: &[f32], b: &[f32]| {
        2e-5 * a
            .iter()
            .zip(b)
            .map(|(x, y)| f64::from((x - y).abs()))
            .sum::<f64>()
            + 1e-6
    };
    pairwise(
        c,
        "l1_f32",
        random_f32,
        same,
        Kernels::l1_f32,
        &l1_tol,
        &[],
        &l1_tol,
    );
}

fn distances_int(c: &mut Criterion) {
    let exact_i8 = |_: &[i8], _: &[i8]| 0.0;
    let simsimd_dot_i8 =
        |a: &[i8], b: &[i8]| <i8 as SpatialSimilarity>::dot(a, b).expect("equal lengths");
    pairwise(
        c,
        "dot_i8",
        random_i8,
        same,
        Kernels::dot_i8,
        &exact_i8,
        &[("simsimd", &simsimd_dot_i8)],
        &exact_i8,
    );
    let simsimd_l2_i8 =
        |a: &[i8], b: &[i8]| <i8 as SpatialSimilarity>::l2sq(a, b).expect("equal lengths");
    pairwise(
        c,
        "l2sq_i8",
        random_i8,
        same,
        Kernels::l2sq_i8,
        &exact_i8,
        &[("simsimd", &simsimd_l2_i8)],
        &exact_i8,
    );
    let exact_u8 = |_: &[u8], _: &[u8]| 0.0;
    pairwise(
        c,
        "l2sq_u8",
        random_u8,
        same,
        Kernels::l2sq_u8,
        &exact_u8,
        &[],
        &exact_u8,
    );

    // Binary vectors: `dim` is a number of bits, packed into u64 words.
    let exact_u64 = |_: &[u64], _: &[u64]| 0.0;
    let simsimd_hamming =
        |a: &[u64], b: &[u64]| u8::hamming(words_bytes(a), words_bytes(b)).expect("equal lengths");
    pairwise(
        c,
        "hamming_u64",
        random_u64,
        words,
        Kernels::hamming_u64,
        &exact_u64,
        &[("simsimd", &simsimd_hamming)],
        &exact_u64,
    );
    let jac_tol = |_: &[u64], _: &[u64]| 1e-5;
    let simsimd_jaccard =
        |a: &[u64], b: &[u64]| u8::jaccard(words_bytes(a), words_bytes(b)).expect("equal lengths");
    pairwise(
        c,
        "jaccard_u64",
        random_u64,
        words,
        Kernels::jaccard_u64,
        &jac_tol,
        &[("simsimd", &simsimd_jaccard)],
        &jac_tol,
    );
}

fn distances_f16(c: &mut Criterion) {
    let as_f32 = |v: &[u16]| -> Vec<f32> {
        v.iter()
            .map(|&h| unidb_kernels::f16::f16_to_f32(h))
            .collect()
    };
    let dot_tol = move |a: &[u16], b: &[u16]| 2e-5 * abs_dot_f64(&as_f32(a), &as_f32(b)) + 1e-6;
    let l2_tol =
        move |a: &[u16], b: &[u16]| 2e-5 * f64::from(naive_l2sq(&as_f32(a), &as_f32(b))) + 1e-6;
    let cos_tol = |_: &[u16], _: &[u16]| 1e-4;
    // simsimd converts halves with its own routines and may use an
    // approximate reciprocal square root.
    let peer_rel = move |a: &[u16], b: &[u16]| 1e-3 * abs_dot_f64(&as_f32(a), &as_f32(b)) + 1e-3;
    let peer_l2 =
        move |a: &[u16], b: &[u16]| 1e-3 * f64::from(naive_l2sq(&as_f32(a), &as_f32(b))) + 1e-3;
    let cos_peer_tol = |_: &[u16], _: &[u16]| 2e-3;

    fn halves(v: &[u16]) -> &[simsimd::f16] {
        // SAFETY: simsimd::f16 is `#[repr(transparent)]` over u16, so the
        // slices have the same layout.
        unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<simsimd::f16>(), v.len()) }
    }
    let simsimd_dot =
        |a: &[u16], b: &[u16]| simsimd::f16::dot(halves(a), halves(b)).expect("equal lengths");
    pairwise(
        c,
        "dot_f16",
        random_f16,
        same,
        Kernels::dot_f16,
        &dot_tol,
        &[("simsimd", &simsimd_dot)],
        &peer_rel,
    );
    let simsimd_l2 =
        |a: &[u16], b: &[u16]| simsimd::f16::l2sq(halves(a), halves(b)).expect("equal lengths");
    pairwise(
        c,
        "l2sq_f16",
        random_f16,
        same,
        Kernels::l2sq_f16,
        &l2_tol,
        &[("simsimd", &simsimd_l2)],
        &peer_l2,
    );
    let simsimd_cos =
        |a: &[u16], b: &[u16]| simsimd::f16::cos(halves(a), halves(b)).expect("equal lengths");
    pairwise(
        c,
        "cosine_f16",
        random_f16,
        same,
        Kernels::cosine_f16,
        &cos_tol,
        &[("simsimd", &simsimd_cos)],
        &cos_peer_tol,
    );
}

type Many = fn(&Kernels, &[f32], &[f32], &mut [f32]) -> Result<(), KernelError>;

/// One-to-many kernels over a 64 MiB row matrix, next to `sum_f32` over the
/// same values; throughput in bytes of the matrix read per call.
fn one_to_many(c: &mut Criterion) {
    let rows_n = MATRIX_BYTES / 4 / MATRIX_DIM;
    let rows = random_f32(rows_n * MATRIX_DIM, 7);
    let query = random_f32(MATRIX_DIM, 8);
    let bytes = (rows.len() * 4) as u64;
    let kernels: [(&str, Many); 3] = [
        ("dot_f32_many", Kernels::dot_f32_many),
        ("l2sq_f32_many", Kernels::l2sq_f32_many),
        ("cosine_f32_many", Kernels::cosine_f32_many),
    ];
    let mut group = c.benchmark_group("many_64MiB");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);

    let want_sum = scalar().sum_f32(&rows).expect("infallible");
    for k in paths() {
        let got = k.sum_f32(&rows).expect("infallible");
        check_close(
            &format!("sum_f32 on {}", k.isa()),
            got,
            want_sum,
            1e-9 * rows.len() as f64,
        )
        .unwrap();
        group.bench_function(BenchmarkId::new("sum_f32", k.isa().name()), |bch| {
            bch.iter(|| k.sum_f32(black_box(&rows)))
        });
    }
    let mut want = vec![0f32; rows_n];
    let mut out = vec![0f32; rows_n];
    for (name, many) in kernels {
        many(scalar(), &query, &rows, &mut want).expect("shapes match");
        for k in paths() {
            out.fill(f32::NAN);
            many(k, &query, &rows, &mut out).expect("shapes match");
            for (i, (g, w)) in out.iter().zip(&want).enumerate() {
                let row = &rows[i * MATRIX_DIM..(i + 1) * MATRIX_DIM];
                let tol = if name.starts_with("cosine") {
                    1e-4
                } else {
                    2e-5 * (abs_dot_f64(&query, row) + f64::from(naive_dot(row, row))) + 1e-6
                };
                check_close(
                    &format!("{name} row {i} on {}", k.isa()),
                    f64::from(*g),
                    f64::from(*w),
                    tol,
                )
                .unwrap();
            }
            group.bench_function(BenchmarkId::new(name, k.isa().name()), |bch| {
                bch.iter(|| many(k, black_box(&query), black_box(&rows), &mut out))
            });
        }
    }
    // Peer: simsimd has no one-to-many call; a loop over rows is how it is used.
    group.bench_function(BenchmarkId::new("dot_f32_many", "simsimd_loop"), |bch| {
        bch.iter(|| {
            for (o, row) in out.iter_mut().zip(rows.chunks_exact(MATRIX_DIM)) {
                *o = <f32 as SpatialSimilarity>::dot(black_box(&query), row).expect("equal lengths")
                    as f32;
            }
        })
    });
    group.finish();
}

/// Statistics over an L2-resident slice (256 KiB) on every path.
fn statistics(c: &mut Criterion) {
    let n = 1 << 16;
    let values = random_f32(n, 9);
    let mut group = c.benchmark_group("stats_64Ki");
    group.throughput(Throughput::Elements(n as u64));
    let want_var = scalar()
        .variance_f32(&values, 1)
        .expect("infallible")
        .expect("non-empty");
    let want_mm = scalar().min_max_f32(&values).expect("infallible");
    for k in paths() {
        let isa = k.isa().name();
        let var = k
            .variance_f32(&values, 1)
            .expect("infallible")
            .expect("non-empty");
        check_close(
            &format!("variance_f32 on {isa}"),
            var,
            want_var,
            1e-9 * want_var,
        )
        .unwrap();
        assert_eq!(
            k.min_max_f32(&values).expect("infallible"),
            want_mm,
            "min_max_f32 on {isa}"
        );
        group.bench_function(BenchmarkId::new("sum_f32", isa), |bch| {
            bch.iter(|| k.sum_f32(black_box(&values)))
        });
        group.bench_function(BenchmarkId::new("variance_f32", isa), |bch| {
            bch.iter(|| k.variance_f32(black_box(&values), 1))
        });
        group.bench_function(BenchmarkId::new("min_max_f32", isa), |bch| {
            bch.iter(|| k.min_max_f32(black_box(&values)))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    distances_f32,
    distances_int,
    distances_f16,
    one_to_many,
    statistics
);
criterion_main!(benches);

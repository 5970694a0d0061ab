//! `unidb bench kernels`: a quick throughput table of every kernel on every
//! available path, with the ratio to the scalar reference.
//!
//! Each cell runs its kernel in a loop for a fixed time budget
//! (`std::time::Instant`), after one warm-up call, and checks every result
//! against the scalar path's, so a fast but wrong path is reported as an
//! error, not as a speed-up. The paths of one row take turns in short
//! rounds and keep their best, so a change of machine load hits them alike. The criterion benches in `benches/` are the
//! careful measurement; this is the few-seconds overview.
//!
//! The table is a list of [`Case`]s; other kernel families add rows by
//! appending their own cases (see [`kernel_cases`]) before [`run_cases`].

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use unidb_kernels::{Isa, KernelError, Kernels};

use crate::output::{progress_enabled, sig3, StageBars};

/// Options of `unidb bench kernels`, also its command-line arguments:
/// [`Default`] is the one home of their defaults, which the arguments take
/// from it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct KernelBenchArgs {
    /// `all` (every path this CPU can run) or one path name; scalar is
    /// always measured too, as the baseline of the ratios.
    #[arg(long, default_value_t = KernelBenchArgs::default().isa)]
    pub isa: String,
    /// Vector dimension; default: 128, 768 and 1536.
    #[arg(long, value_parser = crate::at_least_one::<usize>)]
    pub dim: Option<usize>,
    /// Time budget per table cell, in milliseconds.
    #[arg(long, value_parser = crate::at_least_one::<u64>, default_value_t = KernelBenchArgs::default().budget_ms)]
    pub budget_ms: u64,
    /// Size in MiB of the row-major matrix for the memory-bound rows
    /// (one-to-many kernels and `sum_f32` over the same bytes); 0 skips them.
    #[arg(long, default_value_t = KernelBenchArgs::default().matrix_mib)]
    pub matrix_mib: usize,
    /// Number of u32 values for the stream-vbyte rows, and of vectors
    /// (rounded up to whole blocks of 32) for the `pq4_fastscan` rows.
    #[arg(long, value_parser = crate::at_least_one::<usize>, default_value_t = KernelBenchArgs::default().codec_values)]
    pub codec_values: usize,
}

impl Default for KernelBenchArgs {
    fn default() -> Self {
        KernelBenchArgs {
            isa: "all".to_owned(),
            dim: None,
            budget_ms: 15,
            matrix_mib: 64,
            codec_values: 1 << 20,
        }
    }
}

impl KernelBenchArgs {
    /// Checks the sizes: `dim` (when given), `budget_ms` and `codec_values`
    /// must be at least 1 (`matrix_mib` 0 skips the matrix rows).
    ///
    /// # Errors
    /// [`BenchError::Size`] naming the first that is not.
    pub fn validate(&self) -> Result<(), BenchError> {
        for (name, v) in [
            ("--dim", self.dim.map_or(1, |d| d as u64)),
            ("--budget-ms", self.budget_ms),
            ("--codec-values", self.codec_values as u64),
        ] {
            if v == 0 {
                return Err(BenchError::Size(format!("{name} must be at least 1")));
            }
        }
        Ok(())
    }
}

/// Errors of the kernel bench.
#[derive(Debug)]
pub enum BenchError {
    /// An invalid path name (in `--isa` or `UNIDB_ISA`).
    Isa(KernelError),
    /// `--dim 0`.
    Size(String),
    /// A path returned a result that differs from the scalar reference.
    Mismatch {
        /// Kernel name.
        kernel: String,
        /// Size label.
        size: String,
        /// Path that disagreed.
        isa: Isa,
        /// What differed.
        detail: String,
    },
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Isa(e) => write!(f, "{e}"),
            BenchError::Size(what) => write!(f, "invalid bench size: {what}"),
            BenchError::Mismatch {
                kernel,
                size,
                isa,
                detail,
            } => write!(f, "{kernel} ({size}) on {isa}: {detail}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Isa(e) => Some(e),
            _ => None,
        }
    }
}

impl BenchError {
    /// The project-wide category: a path name the kernels' kind, a bad
    /// size [`Validation`](unidb_common::ErrorKind::Validation), a path
    /// that disagrees with the scalar reference
    /// [`CorruptData`](unidb_common::ErrorKind::CorruptData) (its result
    /// fails the check).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        match self {
            BenchError::Isa(e) => e.kind(),
            BenchError::Size(_) => unidb_common::ErrorKind::Validation,
            BenchError::Mismatch { .. } => unidb_common::ErrorKind::CorruptData,
        }
    }
}

impl From<BenchError> for unidb_common::Error {
    fn from(e: BenchError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

impl From<KernelError> for BenchError {
    fn from(e: KernelError) -> Self {
        BenchError::Isa(e)
    }
}

/// One kernel call, checked: `Ok(())` when the result matches the
/// reference, `Err(description)` otherwise.
pub type Runner = Box<dyn FnMut(&'static Kernels) -> Result<(), String>>;

/// One row group of the table: a kernel at one size.
pub struct Case {
    /// Kernel name (first column).
    pub kernel: String,
    /// Size label, e.g. `768` or `64 MiB`.
    pub size: String,
    /// Elements processed per call (for elements/s).
    pub elements: u64,
    /// Bytes read per call (for GB/s).
    pub bytes: u64,
    /// Runs one call and checks it.
    pub run: Runner,
}

/// One measured cell; [`serde::Serialize`] gives the JSON object
/// `unidb bench kernels --json` prints per line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cell {
    /// Kernel name.
    pub kernel: String,
    /// Size label.
    pub size: String,
    /// Path measured.
    #[serde(rename = "path", serialize_with = "isa_name")]
    pub isa: Isa,
    /// Elements per second.
    pub elements_per_sec: f64,
    /// Bytes per second.
    pub bytes_per_sec: f64,
    /// Throughput relative to the scalar path on the same case.
    pub vs_scalar: Option<f64>,
}

/// Writes an [`Isa`] as its name.
fn isa_name<S: serde::Serializer>(isa: &Isa, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(isa.name())
}

/// Deterministic pseudo-random data, so runs are comparable.
struct Rng(unidb_common::rng::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

fn scalar() -> &'static Kernels {
    Kernels::for_isa(Isa::Scalar).expect("the scalar path is always available")
}

/// Checks `got` against `want` with an absolute tolerance.
fn near(got: f64, want: f64, tol: f64) -> Result<(), String> {
    if (got - want).abs() <= tol || (got.is_nan() && want.is_nan()) {
        Ok(())
    } else {
        Err(format!(
            "result {got} differs from scalar {want} (tolerance {tol:e})"
        ))
    }
}

/// A two-slice kernel method of [`Kernels`].
type PairFn<T, R> = fn(&Kernels, &[T], &[T]) -> Result<R, KernelError>;

/// A one-to-many kernel method of [`Kernels`].
type ManyFn<T, R> = fn(&Kernels, &[T], &[T], &mut [R]) -> Result<(), KernelError>;

/// A case for a two-slice kernel returning a number.
fn pair_case<T: Copy + 'static, R: Copy + Into<f64> + 'static>(
    kernel: &str,
    dim: usize,
    a: Vec<T>,
    b: Vec<T>,
    tol: f64,
    f: PairFn<T, R>,
) -> Case {
    let want: f64 = f(scalar(), &a, &b).expect("equal lengths").into();
    let bytes = (2 * dim * std::mem::size_of::<T>()) as u64;
    Case {
        kernel: kernel.to_owned(),
        size: dim.to_string(),
        elements: dim as u64,
        bytes,
        run: Box::new(move |k| {
            let got = f(k, black_box(&a), black_box(&b)).map_err(|e| e.to_string())?;
            near(black_box(got).into(), want, tol)
        }),
    }
}

/// A case for a one-to-many kernel over `rows` rows of dimension `dim`.
fn many_case<T: Copy + 'static, R: Copy + Default + Into<f64> + 'static>(
    kernel: &str,
    size: String,
    q: Vec<T>,
    rows: std::sync::Arc<Vec<T>>,
    tol: f64,
    f: ManyFn<T, R>,
) -> Case {
    let dim = q.len();
    let n = rows.len() / dim;
    let mut want = vec![R::default(); n];
    f(scalar(), &q, &rows, &mut want).expect("shapes match");
    let mut out = vec![R::default(); n];
    Case {
        kernel: kernel.to_owned(),
        size,
        elements: (n * dim) as u64,
        bytes: ((n + 1) * dim * std::mem::size_of::<T>()) as u64,
        run: Box::new(move |k| {
            f(k, black_box(&q), black_box(&rows), &mut out).map_err(|e| e.to_string())?;
            for (i, (&g, &w)) in black_box(&out).iter().zip(&want).enumerate() {
                near(g.into(), w.into(), tol).map_err(|e| format!("row {i}: {e}"))?;
            }
            Ok(())
        }),
    }
}

/// A case for a one-slice statistic returning a number.
fn stat_case(
    kernel: &str,
    size: String,
    v: std::sync::Arc<Vec<f32>>,
    tol: f64,
    f: fn(&Kernels, &[f32]) -> Result<f64, KernelError>,
) -> Case {
    let want = f(scalar(), &v).expect("never fails");
    Case {
        kernel: kernel.to_owned(),
        size,
        elements: v.len() as u64,
        bytes: (v.len() * 4) as u64,
        run: Box::new(move |k| {
            let got = f(k, black_box(&v)).map_err(|e| e.to_string())?;
            near(black_box(got), want, tol)
        }),
    }
}

/// The distance and statistics kernels at each dimension, and (when
/// `matrix_mib > 0`) the memory-bound one-to-many rows and `sum_f32` over
/// the same matrix.
///
/// Tolerances are loose sanity checks (data uniform in [-1, 1), so sums of
/// `n` terms are at most `n` in magnitude and reassociation changes them by
/// far less than `1e-4·n`); the property tests hold the exact bounds.
pub fn kernel_cases(dims: &[usize], matrix_mib: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut rng = Rng(unidb_common::rng::SplitMix64::new(0x9E37_79B9_7F4A_7C15));
    for &dim in dims {
        let tol = 1e-4 * (dim as f64 + 1.0);
        let (a, b) = (rng.f32s(dim), rng.f32s(dim));
        cases.push(pair_case(
            "dot_f32",
            dim,
            a.clone(),
            b.clone(),
            tol,
            Kernels::dot_f32,
        ));
        cases.push(pair_case(
            "l2sq_f32",
            dim,
            a.clone(),
            b.clone(),
            tol,
            Kernels::l2sq_f32,
        ));
        cases.push(pair_case(
            "cosine_f32",
            dim,
            a.clone(),
            b.clone(),
            1e-4,
            Kernels::cosine_f32,
        ));
        cases.push(pair_case(
            "l1_f32",
            dim,
            a.clone(),
            b.clone(),
            tol,
            Kernels::l1_f32,
        ));
        let ia: Vec<i8> = (0..dim).map(|_| rng.next() as i8).collect();
        let ib: Vec<i8> = (0..dim).map(|_| rng.next() as i8).collect();
        cases.push(pair_case(
            "dot_i8",
            dim,
            ia.clone(),
            ib.clone(),
            0.0,
            Kernels::dot_i8,
        ));
        cases.push(pair_case("l2sq_i8", dim, ia, ib, 0.0, Kernels::l2sq_i8));
        let ua: Vec<u8> = (0..dim).map(|_| rng.next() as u8).collect();
        let ub: Vec<u8> = (0..dim).map(|_| rng.next() as u8).collect();
        cases.push(pair_case("l2sq_u8", dim, ua, ub, 0.0, Kernels::l2sq_u8));
        let ha: Vec<u16> = a
            .iter()
            .map(|&x| unidb_kernels::f16::f32_to_f16(x))
            .collect();
        let hb: Vec<u16> = b
            .iter()
            .map(|&x| unidb_kernels::f16::f32_to_f16(x))
            .collect();
        cases.push(pair_case(
            "dot_f16",
            dim,
            ha.clone(),
            hb.clone(),
            tol,
            Kernels::dot_f16,
        ));
        cases.push(pair_case(
            "l2sq_f16",
            dim,
            ha.clone(),
            hb.clone(),
            tol,
            Kernels::l2sq_f16,
        ));
        cases.push(pair_case(
            "cosine_f16",
            dim,
            ha,
            hb,
            1e-4,
            Kernels::cosine_f16,
        ));
        // Binary vectors of `dim` bits (at least one word).
        let words = dim.div_ceil(64);
        let wa: Vec<u64> = (0..words).map(|_| rng.next()).collect();
        let wb: Vec<u64> = (0..words).map(|_| rng.next()).collect();
        let mut c = pair_case(
            "hamming_u64",
            words,
            wa.clone(),
            wb.clone(),
            0.0,
            |k, a, b| k.hamming_u64(a, b).map(|v| v as f64),
        );
        c.size = format!("{dim} bits");
        cases.push(c);
        let mut c = pair_case("jaccard_u64", words, wa, wb, 0.0, Kernels::jaccard_u64);
        c.size = format!("{dim} bits");
        cases.push(c);
        // One-to-many over 64 rows (in cache).
        let q = rng.f32s(dim);
        let rows = std::sync::Arc::new(rng.f32s(64 * dim));
        let size = format!("64x{dim}");
        cases.push(many_case(
            "dot_f32_many",
            size.clone(),
            q.clone(),
            rows.clone(),
            tol,
            Kernels::dot_f32_many,
        ));
        cases.push(many_case(
            "l2sq_f32_many",
            size.clone(),
            q.clone(),
            rows.clone(),
            tol,
            Kernels::l2sq_f32_many,
        ));
        cases.push(many_case(
            "cosine_f32_many",
            size.clone(),
            q.clone(),
            rows.clone(),
            1e-4,
            Kernels::cosine_f32_many,
        ));
        // The same 64 rows as halves and as i8 codes.
        let hq: Vec<u16> = q
            .iter()
            .map(|&x| unidb_kernels::f16::f32_to_f16(x))
            .collect();
        let hrows = std::sync::Arc::new(
            rows.iter()
                .map(|&x| unidb_kernels::f16::f32_to_f16(x))
                .collect::<Vec<u16>>(),
        );
        for (name, f) in [
            ("dot_f16_many", Kernels::dot_f16_many as ManyFn<u16, f32>),
            ("l2sq_f16_many", Kernels::l2sq_f16_many),
        ] {
            cases.push(many_case(
                name,
                size.clone(),
                hq.clone(),
                hrows.clone(),
                tol,
                f,
            ));
        }
        cases.push(many_case(
            "cosine_f16_many",
            size.clone(),
            hq,
            hrows,
            1e-4,
            Kernels::cosine_f16_many,
        ));
        let iq: Vec<i8> = (0..dim).map(|_| rng.next() as i8).collect();
        let irows =
            std::sync::Arc::new((0..64 * dim).map(|_| rng.next() as i8).collect::<Vec<i8>>());
        cases.push(many_case(
            "dot_i8_many",
            size.clone(),
            iq.clone(),
            irows.clone(),
            0.0,
            Kernels::dot_i8_many,
        ));
        cases.push(many_case(
            "l2sq_i8_many",
            size.clone(),
            iq,
            irows,
            0.0,
            Kernels::l2sq_i8_many,
        ));
        // Statistics over the same 64·dim values.
        let stol = 1e-9 * (rows.len() as f64);
        cases.push(stat_case(
            "sum_f32",
            size.clone(),
            rows.clone(),
            stol,
            Kernels::sum_f32,
        ));
        cases.push(stat_case(
            "variance_f32",
            size.clone(),
            rows.clone(),
            stol,
            |k, v| k.variance_f32(v, 1).map(|x| x.unwrap_or(f64::NAN)),
        ));
        cases.push(stat_case("min_max_f32", size, rows, 0.0, |k, v| {
            k.min_max_f32(v)
                .map(|m| m.map_or(f64::NAN, |(lo, hi)| f64::from(hi - lo)))
        }));
    }
    if matrix_mib > 0 {
        let dim = dims.get(dims.len() / 2).copied().unwrap_or(768);
        let n = (matrix_mib << 20) / (4 * dim);
        if n > 0 {
            let tol = 1e-4 * (dim as f64 + 1.0);
            let q = rng.f32s(dim);
            let rows = std::sync::Arc::new(rng.f32s(n * dim));
            let size = format!("{matrix_mib} MiB d{dim}");
            cases.push(stat_case(
                "sum_f32",
                size.clone(),
                rows.clone(),
                1e-9 * rows.len() as f64,
                Kernels::sum_f32,
            ));
            cases.push(many_case(
                "dot_f32_many",
                size.clone(),
                q.clone(),
                rows.clone(),
                tol,
                Kernels::dot_f32_many,
            ));
            cases.push(many_case(
                "l2sq_f32_many",
                size.clone(),
                q.clone(),
                rows.clone(),
                tol,
                Kernels::l2sq_f32_many,
            ));
            cases.push(many_case(
                "cosine_f32_many",
                size,
                q,
                rows,
                1e-4,
                Kernels::cosine_f32_many,
            ));
        }
    }
    cases
}

/// Checks a codec output against the reference: in full on a path's first
/// call, then its length and a few sampled elements (so the timed calls
/// measure the kernel, not a full comparison; the first full check proves
/// the path right on this input).
struct OutputCheck<T> {
    want: Vec<T>,
    checked: Vec<Isa>,
}

impl<T: PartialEq + std::fmt::Debug> OutputCheck<T> {
    fn new(want: Vec<T>) -> Self {
        OutputCheck {
            want,
            checked: Vec::new(),
        }
    }

    fn check(&mut self, isa: Isa, got: &[T]) -> Result<(), String> {
        if got.len() != self.want.len() {
            return Err(format!(
                "{} elements, the scalar path gives {}",
                got.len(),
                self.want.len()
            ));
        }
        let n = got.len();
        let sampled = [0, n / 3, n / 2, n.saturating_sub(1)];
        let bad = if self.checked.contains(&isa) {
            sampled
                .into_iter()
                .find(|&i| i < n && got[i] != self.want[i])
        } else {
            self.checked.push(isa);
            got.iter().zip(&self.want).position(|(g, w)| g != w)
        };
        match bad {
            None => Ok(()),
            Some(i) => Err(format!(
                "element {i} is {:?}, the scalar path gives {:?}",
                got[i], self.want[i]
            )),
        }
    }
}

/// Stream-vbyte encode/decode (plain and differential) on `count` u32 of
/// mixed magnitudes (70% below 2^7, 25% in [2^7, 2^14), 5% any u32, as the
/// criterion bench), bit-unpacking of 65 536 values at widths 11 and 27
/// (the 32-bit and 64-bit lane variants of the SIMD paths) and bit-packing
/// of 65 536 values at widths 3, 11 and 27 (value check included), and
/// interleaved rANS decoding of `count` symbols (`rans16_decode`). Elements
/// are values; bytes are the uncompressed `u32`s (rANS: the symbols).
pub fn codec_cases(count: usize) -> Vec<Case> {
    use unidb_kernels::varint::stream;
    use unidb_kernels::{bitpack, rans};
    let mut rng = Rng(unidb_common::rng::SplitMix64::new(0x05EE_D0FC_0DEC));
    let values: std::sync::Arc<Vec<u32>> = std::sync::Arc::new(
        (0..count)
            .map(|_| {
                let r = rng.next();
                match r % 100 {
                    0..=69 => (r >> 32) as u32 % (1 << 7),
                    70..=94 => (1 << 7) + (r >> 32) as u32 % ((1 << 14) - (1 << 7)),
                    _ => (r >> 32) as u32,
                }
            })
            .collect(),
    );
    let mut sorted = (*values).clone();
    sorted.sort_unstable();
    let sorted = std::sync::Arc::new(sorted);
    let size = if count > 0 && count.is_multiple_of(1 << 20) {
        format!("{}M u32", count >> 20)
    } else {
        format!("{count} u32")
    };
    let mut cases = Vec::new();
    for (kernel, input, initial) in [
        ("svb_encode", values.clone(), None),
        ("svb_delta_encode", sorted.clone(), Some(0u32)),
    ] {
        let mut want = Vec::new();
        stream::encode_into(&input, initial, &mut want);
        let mut check = OutputCheck::new(want);
        let mut buf = Vec::new();
        cases.push(Case {
            kernel: kernel.to_owned(),
            size: size.clone(),
            elements: count as u64,
            bytes: 4 * count as u64,
            run: Box::new(move |k| {
                buf.clear();
                stream::encode_into_with(k.isa(), black_box(&input), initial, &mut buf)
                    .map_err(|e| e.to_string())?;
                check.check(k.isa(), black_box(&buf))
            }),
        });
    }
    for (kernel, input, initial) in [
        ("svb_decode", values.clone(), None),
        ("svb_delta_decode", sorted, Some(0u32)),
    ] {
        let mut bytes = Vec::new();
        stream::encode_into(&input, initial, &mut bytes);
        let mut check = OutputCheck::new((*input).clone());
        let mut out = Vec::with_capacity(count);
        cases.push(Case {
            kernel: kernel.to_owned(),
            size: size.clone(),
            elements: count as u64,
            bytes: 4 * count as u64,
            run: Box::new(move |k| {
                out.clear();
                let d = stream::Decoder::for_isa(k.isa()).ok_or("path unavailable")?;
                d.decode_into(black_box(&bytes), count, initial, &mut out)
                    .map_err(|e| e.to_string())?;
                check.check(k.isa(), black_box(&out))
            }),
        });
    }
    let n = 1 << 16;
    for width in [11u32, 27] {
        let v: Vec<u32> = (0..n)
            .map(|_| (rng.next() >> 32) as u32 & ((1 << width) - 1))
            .collect();
        let mut packed = Vec::new();
        bitpack::pack_u32(&v, width, &mut packed).expect("values fit the width");
        let mut check = OutputCheck::new(v);
        let mut out = vec![0u32; n];
        cases.push(Case {
            kernel: "unpack_u32".to_owned(),
            size: format!("64Ki w{width}"),
            elements: n as u64,
            bytes: 4 * n as u64,
            run: Box::new(move |k| {
                bitpack::unpack_u32_into_with(k.isa(), black_box(&packed), width, &mut out)
                    .map_err(|e| e.to_string())?;
                check.check(k.isa(), black_box(&out))
            }),
        });
    }
    for width in [3u32, 11, 27] {
        let v: Vec<u32> = (0..n)
            .map(|_| (rng.next() >> 32) as u32 & ((1 << width) - 1))
            .collect();
        let mut want = Vec::new();
        bitpack::pack_u32_with(Isa::Scalar, &v, width, &mut want).expect("values fit the width");
        let mut out = vec![0u8; want.len()];
        let mut check = OutputCheck::new(want);
        cases.push(Case {
            kernel: "pack_u32".to_owned(),
            size: format!("64Ki w{width}"),
            elements: n as u64,
            bytes: 4 * n as u64,
            run: Box::new(move |k| {
                bitpack::pack_u32_into_with(k.isa(), black_box(&v), width, &mut out)
                    .map_err(|e| e.to_string())?;
                check.check(k.isa(), black_box(&out))
            }),
        });
    }
    // Interleaved rANS: 16 states decoding `count` symbols of a skewed
    // distribution over 40 bins (table of 2^11 slots, about 3.3 bits a
    // symbol) from random words, which is how a real stream reads.
    let freq: Vec<u32> = {
        let w: Vec<f64> = (0..40).map(|k| 0.8f64.powi(k)).collect();
        let total: f64 = w.iter().sum();
        let mut f: Vec<u32> = w
            .iter()
            .map(|x| ((x / total * 2048.0) as u32).max(1))
            .collect();
        let sum: u32 = f.iter().sum();
        f[0] += 2048 - sum;
        f
    };
    let table: Vec<u32> = freq
        .iter()
        .enumerate()
        .flat_map(|(k, &f)| (0..f).map(move |b| rans::entry(f, b, k as u8)))
        .collect();
    let words: Vec<u16> = (0..count).map(|_| (rng.next() >> 48) as u16).collect();
    let states: [u32; rans::LANES] = std::array::from_fn(|_| (rng.next() >> 32) as u32 | 1 << 31);
    let mut want = vec![0u8; count];
    let mut s = states;
    scalar()
        .rans16_decode(&table, &mut s, &words, 0, &mut want)
        .expect("a table of 2^11 entries");
    let mut check = OutputCheck::new(want);
    let mut out = vec![0u8; count];
    cases.push(Case {
        kernel: "rans16_decode".to_owned(),
        size: size.replace("u32", "u8"),
        elements: count as u64,
        bytes: count as u64,
        run: Box::new(move |k| {
            let mut s = states;
            k.rans16_decode(black_box(&table), &mut s, black_box(&words), 0, &mut out)
                .map_err(|e| e.to_string())?;
            check.check(k.isa(), black_box(&out))
        }),
    });
    cases
}

/// The 4-bit PQ fast-scan kernel over `count` vectors (rounded up to
/// blocks of 32) of random codes with `m` = 16 and 64 sub-quantizers and
/// random tables (entries below 64, so sums of 64 never saturate). Elements
/// are vectors scored; bytes are the codes read (`m / 2` per vector).
pub fn pq_cases(count: usize) -> Vec<Case> {
    use unidb_kernels::pq4;
    let mut rng = Rng(unidb_common::rng::SplitMix64::new(0x0F45_7C4A_0000_0004));
    let n = count.div_ceil(pq4::BLOCK) * pq4::BLOCK;
    let size = if n > 0 && n.is_multiple_of(1 << 20) {
        format!("{}M m", n >> 20)
    } else {
        format!("{n} m")
    };
    let mut cases = Vec::new();
    for m in [16usize, 64] {
        let codes: Vec<u8> = (0..n * m).map(|_| (rng.next() >> 60) as u8).collect();
        let mut packed = Vec::new();
        pq4::pack(&codes, m, &mut packed).expect("codes below 16, whole vectors");
        let luts: Vec<u8> = (0..16 * m).map(|_| (rng.next() >> 58) as u8).collect();
        let mut want = vec![0u16; n];
        scalar()
            .pq4_fastscan(&packed, &luts, m, &mut want)
            .expect("shapes match");
        let mut check = OutputCheck::new(want);
        let mut out = vec![0u16; n];
        cases.push(Case {
            kernel: "pq4_fastscan".to_owned(),
            size: format!("{size}{m}"),
            elements: n as u64,
            bytes: packed.len() as u64,
            run: Box::new(move |k| {
                k.pq4_fastscan(black_box(&packed), black_box(&luts), m, &mut out)
                    .map_err(|e| e.to_string())?;
                check.check(k.isa(), black_box(&out))
            }),
        });
    }
    cases
}

/// The error for a result of `k` that differs from the reference.
fn mismatch(case: &Case, k: &Kernels, detail: String) -> BenchError {
    BenchError::Mismatch {
        kernel: case.kernel.clone(),
        size: case.size.clone(),
        isa: k.isa(),
        detail,
    }
}

/// Times one round of one case on one path: batches of doubling size until
/// `round` has passed; returns calls per second.
fn time_round(case: &mut Case, k: &'static Kernels, round: Duration) -> Result<f64, BenchError> {
    let start = Instant::now();
    let mut calls = 0u64;
    let mut batch = 1u64;
    loop {
        for _ in 0..batch {
            (case.run)(k).map_err(|d| mismatch(case, k, d))?;
        }
        calls += batch;
        let elapsed = start.elapsed();
        if elapsed >= round {
            return Ok(calls as f64 / elapsed.as_secs_f64());
        }
        batch = batch.saturating_mul(2);
    }
}

/// Times one case on every path in `kernels`: a checked warm-up call per
/// path, then [`ROUNDS`] rounds of `budget / ROUNDS` per path, the paths
/// taking turns within each round, and returns each path's best round in
/// calls per second. Taking turns exposes every path to the same changes
/// of machine load, and the best round is the one least disturbed, which
/// matters on a shared machine.
fn time_case(
    case: &mut Case,
    kernels: &[&'static Kernels],
    budget: Duration,
) -> Result<Vec<f64>, BenchError> {
    for &k in kernels {
        (case.run)(k).map_err(|d| mismatch(case, k, d))?;
    }
    let round = budget / ROUNDS;
    let mut best = vec![0.0f64; kernels.len()];
    for _ in 0..ROUNDS {
        for (b, &k) in best.iter_mut().zip(kernels) {
            *b = b.max(time_round(case, k, round)?);
        }
    }
    Ok(best)
}

/// Timing rounds per cell (see [`time_case`]).
const ROUNDS: u32 = 5;

/// The paths selected by `--isa`: every available path for `all`, else
/// scalar plus the one named. Also validates `UNIDB_ISA`.
///
/// # Errors
/// An unknown or unavailable path name, in `--isa` or in `UNIDB_ISA`.
pub fn selected_isas(isa: &str) -> Result<Vec<Isa>, BenchError> {
    Kernels::try_active()?;
    let mut isas = if isa.trim().eq_ignore_ascii_case("all") {
        Isa::available()
    } else {
        vec![Isa::parse_available(isa)?]
    };
    if !isas.contains(&Isa::Scalar) {
        isas.push(Isa::Scalar);
    }
    // Scalar first (the baseline), then the others in ascending order.
    isas.sort();
    Ok(isas)
}

/// Measures every case on every path in `isas` (scalar is measured first
/// and is the baseline of `vs_scalar`), calling `progress(done, total)`
/// after each case.
///
/// # Errors
/// [`BenchError::Mismatch`] when a path's result differs from the scalar one.
pub fn run_cases(
    cases: &mut [Case],
    isas: &[Isa],
    budget: Duration,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<Cell>, BenchError> {
    let mut cells = Vec::new();
    let kernels: Vec<&'static Kernels> = isas.iter().filter_map(|&i| Kernels::for_isa(i)).collect();
    let total = cases.len();
    for (done, case) in cases.iter_mut().enumerate() {
        let mut baseline = None;
        for (k, per_sec) in kernels.iter().zip(time_case(case, &kernels, budget)?) {
            let isa = k.isa();
            if isa == Isa::Scalar {
                baseline = Some(per_sec);
            }
            cells.push(Cell {
                kernel: case.kernel.clone(),
                size: case.size.clone(),
                isa,
                elements_per_sec: per_sec * case.elements as f64,
                bytes_per_sec: per_sec * case.bytes as f64,
                vs_scalar: baseline.map(|b| per_sec / b),
            });
        }
        progress(done + 1, total);
    }
    Ok(cells)
}

/// Formats cells as a text table, figures to 3 significant digits.
pub fn format_table(cells: &[Cell]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:>16} {:<9} {:>12} {:>9} {:>10}",
        "kernel", "size", "path", "Melem/s", "GB/s", "vs scalar"
    );
    let mut last = None;
    for c in cells {
        let key = (&c.kernel, &c.size);
        if last.is_some() && last != Some(key) {
            out.push('\n');
        }
        last = Some(key);
        let ratio = c
            .vs_scalar
            .map_or("-".to_owned(), |r| format!("{}x", sig3(r)));
        let _ = writeln!(
            out,
            "{:<16} {:>16} {:<9} {:>12} {:>9} {:>10}",
            c.kernel,
            c.size,
            c.isa.name(),
            sig3(c.elements_per_sec / 1e6),
            sig3(c.bytes_per_sec / 1e9),
            ratio
        );
    }
    out
}

/// For each path, the bytes/s of each one-to-many kernel over the matrix as
/// a fraction of `sum_f32` over the same matrix (the memory-bound ceiling).
fn matrix_summary(cells: &[Cell]) -> String {
    let mut out = String::new();
    let matrix: Vec<&Cell> = cells.iter().filter(|c| c.size.contains("MiB")).collect();
    let mut isas: Vec<Isa> = matrix.iter().map(|c| c.isa).collect();
    isas.sort();
    isas.dedup();
    for isa in isas {
        let Some(sum) = matrix
            .iter()
            .find(|c| c.isa == isa && c.kernel == "sum_f32")
        else {
            continue;
        };
        let parts: Vec<String> = matrix
            .iter()
            .filter(|c| c.isa == isa && c.kernel != "sum_f32")
            .map(|c| {
                format!(
                    "{} {}%",
                    c.kernel,
                    sig3(100.0 * c.bytes_per_sec / sum.bytes_per_sec)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{} one-to-many vs sum_f32 bytes/s: {}",
            isa,
            parts.join(", ")
        );
    }
    out
}

/// Measures the cells `unidb bench kernels` reports, calling
/// `progress(done, total)` after each kernel and size.
///
/// # Errors
/// Invalid `--isa`/`UNIDB_ISA`, a zero size, or a path whose result
/// differs from the scalar reference.
pub fn measure_kernels(
    args: &KernelBenchArgs,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<Cell>, BenchError> {
    args.validate()?;
    let isas = selected_isas(&args.isa)?;
    let dims = match args.dim {
        Some(d) => vec![d],
        None => vec![128, 768, 1536],
    };
    let budget = Duration::from_millis(args.budget_ms);
    let mut cases = kernel_cases(&dims, args.matrix_mib);
    cases.extend(codec_cases(args.codec_values));
    cases.extend(pq_cases(args.codec_values));
    run_cases(&mut cases, &isas, budget, progress)
}

/// Runs `unidb bench kernels` and returns the report: the table and the
/// memory-bound summary, or with `json` one JSON object per cell and line
/// (`kernel`, `size`, `path`, `elements_per_sec`, `bytes_per_sec`,
/// `vs_scalar`). On a terminal (and without `json`) a progress bar shows
/// on standard error.
///
/// # Errors
/// As [`measure_kernels`].
pub fn bench_kernels(args: &KernelBenchArgs, json: bool) -> Result<String, BenchError> {
    let bars = StageBars::new(progress_enabled(json));
    let cells = measure_kernels(args, &|done, total| {
        bars.update("measuring", done as u64, total as u64)
    })?;
    drop(bars);
    if json {
        let mut out = String::new();
        for c in &cells {
            // Names and numbers (NaN becomes null): this cannot fail.
            let line = serde_json::to_string(c).expect("a cell serialises");
            out.push_str(&line);
            out.push('\n');
        }
        return Ok(out);
    }
    let mut out = format_table(&cells);
    let summary = matrix_summary(&cells);
    if !summary.is_empty() {
        out.push('\n');
        out.push_str(&summary);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

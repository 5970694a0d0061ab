//! The dispatch table: one `Kernels` value per path, chosen once.

use std::sync::OnceLock;

use crate::{Isa, KernelError};

/// Function pointers of one path. Lengths are validated by the `Kernels`
/// methods before a pointer is called, so implementations may assume
/// `a.len() == b.len()` and, for the `_many` kernels, `rows.len() ==
/// out.len() * query.len()`.
pub(crate) struct Table {
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    pub l2sq_f32: fn(&[f32], &[f32]) -> f32,
    pub cosine_f32: fn(&[f32], &[f32]) -> f32,
    pub l1_f32: fn(&[f32], &[f32]) -> f32,
    pub dot_i8: fn(&[i8], &[i8]) -> i32,
    pub l2sq_i8: fn(&[i8], &[i8]) -> u32,
    pub l2sq_u8: fn(&[u8], &[u8]) -> u32,
    pub hamming_u64: fn(&[u64], &[u64]) -> u64,
    pub jaccard_u64: fn(&[u64], &[u64]) -> f32,
    pub dot_f16: fn(&[u16], &[u16]) -> f32,
    pub l2sq_f16: fn(&[u16], &[u16]) -> f32,
    pub cosine_f16: fn(&[u16], &[u16]) -> f32,
    pub dot_f32_many: fn(&[f32], &[f32], &mut [f32]),
    pub l2sq_f32_many: fn(&[f32], &[f32], &mut [f32]),
    pub cosine_f32_many: fn(&[f32], &[f32], &mut [f32]),
    pub dot_i8_many: fn(&[i8], &[i8], &mut [i32]),
    pub l2sq_i8_many: fn(&[i8], &[i8], &mut [u32]),
    pub dot_f16_many: fn(&[u16], &[u16], &mut [f32]),
    pub l2sq_f16_many: fn(&[u16], &[u16], &mut [f32]),
    pub cosine_f16_many: fn(&[u16], &[u16], &mut [f32]),
    pub sum_f32: fn(&[f32]) -> f64,
    pub sum_sq_dev_f32: fn(&[f32], f64) -> f64,
    pub min_max_f32: fn(&[f32]) -> Option<(f32, f32)>,
    /// The stream-vbyte decoder of this path (`varint::stream`).
    pub stream_decoder: crate::varint::stream::Decoder,
    /// The stream-vbyte encoder of this path (`varint::stream`).
    pub stream_encode: fn(&[u32], Option<u32>, &mut Vec<u8>) -> usize,
    /// Bit-unpacking of u32 values (`bitpack`).
    pub unpack_u32: fn(&[u8], u32, &mut [u32]),
    /// Bit-packing of u32 values (`bitpack`): the values already fit the
    /// width (0..=32; 0 writes nothing) and `out` holds exactly
    /// `packed_len(values.len(), width)` bytes, possibly garbage on entry;
    /// every byte is written, the last one's unused high bits as zeros.
    pub pack_u32: fn(&[u32], u32, &mut [u8]),
}

/// The kernels of one path.
///
/// Obtain one with [`Kernels::active`] (the path chosen for this process),
/// [`Kernels::best`] or [`Kernels::for_isa`] (any path this CPU can run, to
/// compare paths). Holding a `&Kernels` proves its path is supported here.
///
/// ```
/// use unidb_kernels::{Isa, Kernels};
/// # fn main() -> Result<(), unidb_kernels::KernelError> {
/// let k = Kernels::active();
/// assert_eq!(k.dot_f32(&[1.0, 2.0], &[3.0, 4.0])?, 11.0);
/// let reference = Kernels::for_isa(Isa::Scalar).unwrap();
/// assert_eq!(reference.l2sq_f32(&[1.0, 2.0], &[3.0, 4.0])?, 8.0);
/// assert!(k.dot_f32(&[1.0], &[1.0, 2.0]).is_err());
/// # Ok(()) }
/// ```
pub struct Kernels {
    isa: Isa,
    t: Table,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("isa", &self.isa).finish()
    }
}

static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    t: crate::scalar::TABLE,
};

static PORTABLE: Kernels = Kernels {
    isa: Isa::Portable,
    t: crate::portable::TABLE,
};

#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    isa: Isa::Avx2,
    t: crate::x86::avx2::TABLE,
};

#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    isa: Isa::Avx512,
    t: crate::x86::avx512::TABLE,
};

#[cfg(target_arch = "aarch64")]
static NEON: Kernels = Kernels {
    isa: Isa::Neon,
    t: crate::aarch64::neon::TABLE,
};

/// Why the active path was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The best path detected on this CPU.
    Detected,
    /// Forced by the `UNIDB_ISA` environment variable.
    Forced,
}

static ACTIVE: OnceLock<Result<(&'static Kernels, Selection), KernelError>> = OnceLock::new();

fn choose() -> Result<(&'static Kernels, Selection), KernelError> {
    match Isa::from_env()? {
        Some(isa) => Kernels::for_isa(isa).map(|k| (k, Selection::Forced)).ok_or(
            KernelError::UnavailableIsa {
                isa,
                available: Isa::available(),
            },
        ),
        None => Ok((Kernels::best(), Selection::Detected)),
    }
}

macro_rules! check_len {
    ($a:expr, $b:expr) => {
        if $a.len() != $b.len() {
            return Err(KernelError::LengthMismatch {
                left: $a.len(),
                right: $b.len(),
            });
        }
    };
}

fn check_many<T, O>(query: &[T], rows: &[T], out: &[O]) -> Result<(), KernelError> {
    let expected = out.len().checked_mul(query.len());
    if expected != Some(rows.len()) {
        return Err(KernelError::RowsShape {
            dim: query.len(),
            rows_len: rows.len(),
            out_len: out.len(),
        });
    }
    Ok(())
}

impl Kernels {
    /// The kernels of `isa`, or `None` when this CPU (or build) lacks it.
    pub fn for_isa(isa: Isa) -> Option<&'static Kernels> {
        if !isa.is_available() {
            return None;
        }
        match isa {
            Isa::Scalar => Some(&SCALAR),
            Isa::Portable => Some(&PORTABLE),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Some(&AVX2),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Some(&AVX512),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Some(&NEON),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The best path on this CPU, ignoring `UNIDB_ISA`.
    pub fn best() -> &'static Kernels {
        Kernels::for_isa(Isa::best()).unwrap_or(&SCALAR)
    }

    /// The path chosen for this process: `UNIDB_ISA` if set, else the best
    /// detected. Decided once, on first use.
    ///
    /// # Errors
    /// When `UNIDB_ISA` names an unknown path or one this CPU lacks. The
    /// error is remembered: every later call returns it too.
    pub fn try_active() -> Result<&'static Kernels, KernelError> {
        Kernels::selection().map(|(k, _)| k)
    }

    /// The active kernels and why they were chosen.
    ///
    /// # Errors
    /// As [`Kernels::try_active`].
    pub fn selection() -> Result<(&'static Kernels, Selection), KernelError> {
        ACTIVE.get_or_init(choose).clone()
    }

    /// The path chosen for this process (see [`Kernels::try_active`]).
    ///
    /// If `UNIDB_ISA` is invalid this returns the best detected path; the
    /// library never prints. Applications that must refuse or report an
    /// invalid setting call [`Kernels::try_active`] or
    /// [`Kernels::selection`] at start-up (the `unidb` CLI refuses it).
    pub fn active() -> &'static Kernels {
        // Borrow the cached choice: this runs on every kernel call made
        // through the active path, so it must not clone the error.
        match ACTIVE.get_or_init(choose) {
            Ok((k, _)) => k,
            Err(_) => Kernels::best(),
        }
    }

    /// The path these kernels belong to.
    #[inline]
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The function table of this path, for the kernel modules that keep
    /// their own safe front ends (`varint::stream`, `bitpack`).
    pub(crate) fn table(&self) -> &Table {
        &self.t
    }

    /// Dot product `Σ aᵢbᵢ`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn dot_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.dot_f32)(a, b))
    }

    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.l2sq_f32)(a, b))
    }

    /// Cosine distance `1 - a·b / (‖a‖‖b‖)`, clamped to `[0, 2]`.
    ///
    /// Two zero vectors are identical (distance 0); a zero vector and a
    /// non-zero one are orthogonal (distance 1). The square root is exact,
    /// so `cosine(x, x)` is 0 up to the rounding of the dot product.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn cosine_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.cosine_f32)(a, b))
    }

    /// Manhattan distance `Σ |aᵢ - bᵢ|`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l1_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.l1_f32)(a, b))
    }

    /// Integer dot product. Exact for up to 131 071 elements; beyond that
    /// the sum wraps modulo 2³² identically on every path.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn dot_i8(&self, a: &[i8], b: &[i8]) -> Result<i32, KernelError> {
        check_len!(a, b);
        Ok((self.t.dot_i8)(a, b))
    }

    /// Squared Euclidean distance of i8 vectors. Exact for up to 66 051
    /// elements; beyond that the sum wraps modulo 2³² identically on every path.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_i8(&self, a: &[i8], b: &[i8]) -> Result<u32, KernelError> {
        check_len!(a, b);
        Ok((self.t.l2sq_i8)(a, b))
    }

    /// Squared Euclidean distance of u8 vectors. Exact for up to 66 051
    /// elements; beyond that the sum wraps modulo 2³² identically on every path.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_u8(&self, a: &[u8], b: &[u8]) -> Result<u32, KernelError> {
        check_len!(a, b);
        Ok((self.t.l2sq_u8)(a, b))
    }

    /// Number of differing bits between two bit-packed vectors.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn hamming_u64(&self, a: &[u64], b: &[u64]) -> Result<u64, KernelError> {
        check_len!(a, b);
        Ok((self.t.hamming_u64)(a, b))
    }

    /// Jaccard distance `1 - |a ∧ b| / |a ∨ b|` of bit-packed sets; two
    /// empty sets are identical (distance 0).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn jaccard_u64(&self, a: &[u64], b: &[u64]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.jaccard_u64)(a, b))
    }

    /// Dot product of IEEE half vectors (bits in `u16`), accumulated in f32.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn dot_f16(&self, a: &[u16], b: &[u16]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.dot_f16)(a, b))
    }

    /// Squared Euclidean distance of IEEE half vectors, accumulated in f32.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_f16(&self, a: &[u16], b: &[u16]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.l2sq_f16)(a, b))
    }

    /// Cosine distance of IEEE half vectors (rules as [`Kernels::cosine_f32`]).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn cosine_f16(&self, a: &[u16], b: &[u16]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok((self.t.cosine_f16)(a, b))
    }

    /// `out[i] = dot(query, row i)` for row-major `rows` of `query.len()` values.
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn dot_f32_many(
        &self,
        query: &[f32],
        rows: &[f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.dot_f32_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = l2sq(query, row i)`; shapes as [`Kernels::dot_f32_many`].
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn l2sq_f32_many(
        &self,
        query: &[f32],
        rows: &[f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.l2sq_f32_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = cosine(query, row i)`; shapes as [`Kernels::dot_f32_many`].
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn cosine_f32_many(
        &self,
        query: &[f32],
        rows: &[f32],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.cosine_f32_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = dot_i8(query, row i)` (as [`Kernels::dot_i8`], bit for bit
    /// on the same path) for row-major `rows` of `query.len()` values.
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn dot_i8_many(
        &self,
        query: &[i8],
        rows: &[i8],
        out: &mut [i32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.dot_i8_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = l2sq_i8(query, row i)` (as [`Kernels::l2sq_i8`], bit for bit
    /// on the same path); shapes as [`Kernels::dot_i8_many`].
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn l2sq_i8_many(
        &self,
        query: &[i8],
        rows: &[i8],
        out: &mut [u32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.l2sq_i8_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = dot_f16(query, row i)` (as [`Kernels::dot_f16`], bit for bit
    /// on the same path) for row-major half `rows` of `query.len()` values.
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn dot_f16_many(
        &self,
        query: &[u16],
        rows: &[u16],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.dot_f16_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = l2sq_f16(query, row i)` (as [`Kernels::l2sq_f16`], bit for
    /// bit on the same path); shapes as [`Kernels::dot_f16_many`].
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn l2sq_f16_many(
        &self,
        query: &[u16],
        rows: &[u16],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.l2sq_f16_many)(query, rows, out);
        Ok(())
    }

    /// `out[i] = cosine_f16(query, row i)` (as [`Kernels::cosine_f16`], bit
    /// for bit on the same path); shapes as [`Kernels::dot_f16_many`].
    ///
    /// # Errors
    /// [`KernelError::RowsShape`] unless `rows.len() == out.len() * query.len()`.
    #[inline]
    pub fn cosine_f16_many(
        &self,
        query: &[u16],
        rows: &[u16],
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_many(query, rows, out)?;
        (self.t.cosine_f16_many)(query, rows, out);
        Ok(())
    }

    /// Sum of the values, accumulated in f64 (relative error about
    /// `n · 2⁻⁵³`, far below a pairwise f32 sum). NaN or infinities propagate.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    #[inline]
    pub fn sum_f32(&self, values: &[f32]) -> Result<f64, KernelError> {
        Ok((self.t.sum_f32)(values))
    }

    /// Arithmetic mean, `None` for an empty slice.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    pub fn mean_f32(&self, values: &[f32]) -> Result<Option<f64>, KernelError> {
        if values.is_empty() {
            return Ok(None);
        }
        Ok(Some((self.t.sum_f32)(values) / values.len() as f64))
    }

    /// Variance with `ddof` delta degrees of freedom (0: population, 1:
    /// sample), by the two-pass algorithm in f64. `None` when
    /// `values.len() <= ddof`.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    pub fn variance_f32(&self, values: &[f32], ddof: usize) -> Result<Option<f64>, KernelError> {
        if values.len() <= ddof {
            return Ok(None);
        }
        let mean = (self.t.sum_f32)(values) / values.len() as f64;
        let ss = (self.t.sum_sq_dev_f32)(values, mean);
        Ok(Some(ss / (values.len() - ddof) as f64))
    }

    /// Smallest and largest value, ignoring NaN. `None` when the slice is
    /// empty or holds only NaN. `-0.0` and `0.0` compare equal, so either
    /// may be returned when both are present.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    pub fn min_max_f32(&self, values: &[f32]) -> Result<Option<(f32, f32)>, KernelError> {
        Ok((self.t.min_max_f32)(values))
    }
}

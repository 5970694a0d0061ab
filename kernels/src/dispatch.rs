//! The dispatch table: one `Kernels` value per path, chosen once.
//!
//! This is the one door to the SIMD paths. A path's [`Table`] holds
//! `unsafe fn` pointers to its `#[target_feature]` functions; only the
//! `Kernels` methods here call them (the public kernels, and `pub(crate)`
//! ones for `bitpack` and `varint::stream`), each in one `unsafe` block
//! (the `call!` macro) justified by one invariant: a `&Kernels` of a SIMD
//! path exists only after [`Kernels::for_isa`] checked CPU detection.

use std::mem::MaybeUninit;
use std::sync::OnceLock;

use crate::varint::stream::{BlockEncoder, DecodeFn, Decoder};
use crate::varint::VarintError;
use crate::{Isa, KernelError};

/// An interleaved rANS decoder of one path (`rans`): table, states, words,
/// word position and output; returns the new position.
pub(crate) type RansDecodeFn = unsafe fn(&[u32], &mut [u32; 16], &[u16], usize, &mut [u8]) -> usize;

/// Function pointers of one path: the only way to a SIMD path's code.
///
/// Every entry is an `unsafe fn` pointer. For a SIMD path it points at the
/// `#[target_feature]` function itself, so its one precondition is that
/// the CPU has the path's features; the scalar and portable entries are
/// safe functions behind the same type. Entries are called only by the
/// `Kernels` methods below (`call!`), and a `&Kernels` of a SIMD path
/// exists only after `Kernels::for_isa` checked CPU detection.
///
/// Lengths are validated by those methods before a pointer is called, so
/// implementations may assume `a.len() == b.len()` and, for the `_many`
/// kernels, `rows.len() == out.len() * query.len()`.
pub(crate) struct Table {
    pub dot_f32: unsafe fn(&[f32], &[f32]) -> f32,
    pub l2sq_f32: unsafe fn(&[f32], &[f32]) -> f32,
    pub cosine_f32: unsafe fn(&[f32], &[f32]) -> f32,
    pub l1_f32: unsafe fn(&[f32], &[f32]) -> f32,
    pub dot_i8: unsafe fn(&[i8], &[i8]) -> i32,
    pub l2sq_i8: unsafe fn(&[i8], &[i8]) -> u32,
    pub l2sq_u8: unsafe fn(&[u8], &[u8]) -> u32,
    pub hamming_u64: unsafe fn(&[u64], &[u64]) -> u64,
    pub jaccard_u64: unsafe fn(&[u64], &[u64]) -> f32,
    pub dot_f16: unsafe fn(&[u16], &[u16]) -> f32,
    pub l2sq_f16: unsafe fn(&[u16], &[u16]) -> f32,
    pub cosine_f16: unsafe fn(&[u16], &[u16]) -> f32,
    pub dot_f32_many: unsafe fn(&[f32], &[f32], &mut [f32]),
    pub l2sq_f32_many: unsafe fn(&[f32], &[f32], &mut [f32]),
    pub cosine_f32_many: unsafe fn(&[f32], &[f32], &mut [f32]),
    pub dot_i8_many: unsafe fn(&[i8], &[i8], &mut [i32]),
    pub l2sq_i8_many: unsafe fn(&[i8], &[i8], &mut [u32]),
    pub dot_f16_many: unsafe fn(&[u16], &[u16], &mut [f32]),
    pub l2sq_f16_many: unsafe fn(&[u16], &[u16], &mut [f32]),
    pub cosine_f16_many: unsafe fn(&[u16], &[u16], &mut [f32]),
    pub sum_f32: unsafe fn(&[f32]) -> f64,
    pub sum_sq_dev_f32: unsafe fn(&[f32], f64) -> f64,
    pub min_max_f32: unsafe fn(&[f32]) -> Option<(f32, f32)>,
    pub min_max_i64: unsafe fn(&[i64]) -> Option<(i64, i64)>,
    /// The stream-vbyte decoder of this path (`varint::stream`).
    pub stream_decode: DecodeFn,
    /// The differential stream-vbyte decoder of this path.
    pub stream_decode_delta: DecodeFn,
    /// The stream-vbyte block encoders of this path (plain, differential),
    /// or `None` where the scalar encoder does all the work.
    pub stream_blocks: Option<(BlockEncoder, BlockEncoder)>,
    /// Bit-unpacking of u32 values (`bitpack`).
    pub unpack_u32: unsafe fn(&[u8], u32, &mut [u32]),
    /// Bit-packing of u32 values (`bitpack`): the values already fit the
    /// width (0..=32; 0 writes nothing) and `out` holds exactly
    /// `packed_len(values.len(), width)` bytes, possibly garbage on entry;
    /// every byte is written, the last one's unused high bits as zeros.
    pub pack_u32: unsafe fn(&[u32], u32, &mut [u8]),
    /// 4-bit PQ fast-scan (`pq4`): `out.len()` is a multiple of 32,
    /// `luts.len() == 16·m` and `codes.len() == out.len() / 32 · 16·m`.
    pub pq4_fastscan: unsafe fn(&[u8], &[u8], usize, &mut [u16]),
    /// Interleaved rANS decoding (`rans`): `table.len()` is a power of
    /// two in `2..=2^11`; any states, words, position and output length.
    pub rans16_decode: RansDecodeFn,
}

/// Calls the table entry `$f` of `$k` (a `&Kernels`) with the arguments.
///
/// The one place a path's code is entered, so the one argument of why that
/// is sound: a `&Kernels` of a SIMD path exists only after
/// `Kernels::for_isa` found, by run-time detection, every CPU feature that
/// path's functions are compiled for (scalar and portable entries need
/// none), and the `Kernels` method using this macro has checked the
/// lengths the entry's documentation asks for.
macro_rules! call {
    ($k:ident . $f:ident ( $($arg:expr),* $(,)? )) => {
        // SAFETY: see the macro's documentation: `$k` is a `&Kernels`, which
        // proves its path's CPU features; the caller checked the lengths.
        unsafe { ($k.t.$f)($($arg),*) }
    };
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
    /// This path's stream-vbyte decoder (it points back at this value).
    decoder: Decoder,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernels").field("isa", &self.isa).finish()
    }
}

static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    t: crate::scalar::TABLE,
    decoder: Decoder::new(&SCALAR),
};

static PORTABLE: Kernels = Kernels {
    isa: Isa::Portable,
    t: crate::portable::TABLE,
    decoder: Decoder::new(&PORTABLE),
};

#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    isa: Isa::Avx2,
    t: crate::x86::avx2::TABLE,
    decoder: Decoder::new(&AVX2),
};

#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    isa: Isa::Avx512,
    t: crate::x86::avx512::TABLE,
    decoder: Decoder::new(&AVX512),
};

#[cfg(target_arch = "aarch64")]
static NEON: Kernels = Kernels {
    isa: Isa::Neon,
    t: crate::aarch64::neon::TABLE,
    decoder: Decoder::new(&NEON),
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

    /// The path chosen for this process (see [`Kernels::try_active`]),
    /// infallible because every kernel call made through the active path
    /// goes through it.
    ///
    /// If `UNIDB_ISA` is invalid (unknown, or a path this CPU lacks) this
    /// returns the best detected path, as if the variable were unset, and
    /// writes nothing anywhere: the library never prints. The error is
    /// not lost: [`Kernels::try_active`] and [`Kernels::selection`] return
    /// it, and the crates built on the kernels return it from their entry
    /// points (a vectordb `Collection` cannot be created or opened, the
    /// `unidb` CLI refuses every command).
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

    /// This path's stream-vbyte decoder.
    pub(crate) fn stream_decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Stream-vbyte decoding on this path (the `varint::stream::DecodeFn`
    /// contract): decodes `out.len()` values with control bytes `ctrl` and
    /// data from `data[0]`, differential from `delta` when it is `Some`;
    /// returns the data bytes used. Safe for any lengths: a path never
    /// reads outside `ctrl` and `data` nor writes outside `out`.
    pub(crate) fn stream_decode(
        &self,
        ctrl: &[u8],
        data: &[u8],
        out: &mut [MaybeUninit<u32>],
        delta: Option<u32>,
        base: usize,
    ) -> Result<usize, VarintError> {
        debug_assert_eq!(ctrl.len(), out.len().div_ceil(4));
        match delta {
            None => call!(self.stream_decode(ctrl, data, out, 0, base)),
            Some(initial) => call!(self.stream_decode_delta(ctrl, data, out, initial, base)),
        }
    }

    /// The stream-vbyte block encoder of this path (the
    /// `varint::stream::BlockEncoder` contract), differential when
    /// `initial` is `Some`: encodes `values[..k]` for some multiple of four
    /// `k` into `dst` and returns `k`, the data end and the last value
    /// encoded. Paths without one encode nothing: `(0, ceil(n / 4),
    /// initial)`. `dst` must hold `max_encoded_len(values.len())` bytes
    /// (the encoders check it).
    pub(crate) fn stream_blocks(
        &self,
        values: &[u32],
        initial: Option<u32>,
        dst: &mut [MaybeUninit<u8>],
    ) -> (usize, usize, u32) {
        let Some((plain, differential)) = self.t.stream_blocks else {
            return (0, values.len().div_ceil(4), initial.unwrap_or(0));
        };
        let (encode, prev) = match initial {
            None => (plain, 0),
            Some(initial) => (differential, initial),
        };
        // SAFETY: as in `call!`: `self` proves the path's CPU features; the
        // encoder checks that `dst` is long enough before writing.
        unsafe { encode(values, prev, dst) }
    }

    /// Bit-unpacking on this path: `out.len()` values of `width <= 32` bits
    /// from `input`, which holds at least `packed_len(out.len(), width)`
    /// bytes (the `bitpack` front ends check this and return errors; the
    /// assertion here only guards the path's contract).
    pub(crate) fn unpack_u32(&self, input: &[u8], width: u32, out: &mut [u32]) {
        assert!(width <= 32 && input.len() >= crate::bitpack::packed_len(out.len(), width));
        call!(self.unpack_u32(input, width, out));
    }

    /// Bit-packing on this path: `values`, each fitting `width <= 32` bits,
    /// into `out` of exactly `packed_len(values.len(), width)` bytes (the
    /// `bitpack` front ends check all three and return errors; the
    /// assertion here only guards the path's contract).
    pub(crate) fn pack_u32(&self, values: &[u32], width: u32, out: &mut [u8]) {
        assert!(width <= 32 && out.len() == crate::bitpack::packed_len(values.len(), width));
        call!(self.pack_u32(values, width, out));
    }

    /// 4-bit PQ fast-scan on this path, shapes already checked by
    /// `pq4::check_shape` (asserted again here: it guards the path's
    /// contract).
    pub(crate) fn pq4_fastscan_checked(
        &self,
        codes: &[u8],
        luts: &[u8],
        m: usize,
        out: &mut [u16],
    ) {
        assert!(crate::pq4::check_shape(codes, luts, m, out).is_ok());
        call!(self.pq4_fastscan(codes, luts, m, out));
    }

    /// Interleaved rANS decoding on this path, the table already checked
    /// by `rans::check_table` (asserted again here: it guards the path's
    /// contract).
    pub(crate) fn rans16_decode_checked(
        &self,
        table: &[u32],
        states: &mut [u32; 16],
        words: &[u16],
        pos: usize,
        out: &mut [u8],
    ) -> usize {
        assert!(crate::rans::check_table(table).is_ok());
        call!(self.rans16_decode(table, states, words, pos, out))
    }

    /// Dot product `Σ aᵢbᵢ`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn dot_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.dot_f32(a, b)))
    }

    /// Squared Euclidean distance `Σ (aᵢ - bᵢ)²`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.l2sq_f32(a, b)))
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
        Ok(call!(self.cosine_f32(a, b)))
    }

    /// Manhattan distance `Σ |aᵢ - bᵢ|`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l1_f32(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.l1_f32(a, b)))
    }

    /// Integer dot product. Exact for up to 131 071 elements; beyond that
    /// the sum wraps modulo 2³² identically on every path.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn dot_i8(&self, a: &[i8], b: &[i8]) -> Result<i32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.dot_i8(a, b)))
    }

    /// Squared Euclidean distance of i8 vectors. Exact for up to 66 051
    /// elements; beyond that the sum wraps modulo 2³² identically on every path.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_i8(&self, a: &[i8], b: &[i8]) -> Result<u32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.l2sq_i8(a, b)))
    }

    /// Squared Euclidean distance of u8 vectors. Exact for up to 66 051
    /// elements; beyond that the sum wraps modulo 2³² identically on every path.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_u8(&self, a: &[u8], b: &[u8]) -> Result<u32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.l2sq_u8(a, b)))
    }

    /// Number of differing bits between two bit-packed vectors.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn hamming_u64(&self, a: &[u64], b: &[u64]) -> Result<u64, KernelError> {
        check_len!(a, b);
        Ok(call!(self.hamming_u64(a, b)))
    }

    /// Jaccard distance `1 - |a ∧ b| / |a ∨ b|` of bit-packed sets; two
    /// empty sets are identical (distance 0).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn jaccard_u64(&self, a: &[u64], b: &[u64]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.jaccard_u64(a, b)))
    }

    /// Dot product of IEEE half vectors (bits in `u16`), accumulated in f32.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn dot_f16(&self, a: &[u16], b: &[u16]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.dot_f16(a, b)))
    }

    /// Squared Euclidean distance of IEEE half vectors, accumulated in f32.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn l2sq_f16(&self, a: &[u16], b: &[u16]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.l2sq_f16(a, b)))
    }

    /// Cosine distance of IEEE half vectors (rules as [`Kernels::cosine_f32`]).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] when the lengths differ.
    #[inline]
    pub fn cosine_f16(&self, a: &[u16], b: &[u16]) -> Result<f32, KernelError> {
        check_len!(a, b);
        Ok(call!(self.cosine_f16(a, b)))
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
        call!(self.dot_f32_many(query, rows, out));
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
        call!(self.l2sq_f32_many(query, rows, out));
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
        call!(self.cosine_f32_many(query, rows, out));
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
        call!(self.dot_i8_many(query, rows, out));
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
        call!(self.l2sq_i8_many(query, rows, out));
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
        call!(self.dot_f16_many(query, rows, out));
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
        call!(self.l2sq_f16_many(query, rows, out));
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
        call!(self.cosine_f16_many(query, rows, out));
        Ok(())
    }

    /// Sum of the values, accumulated in f64 (relative error about
    /// `n · 2⁻⁵³`, far below a pairwise f32 sum). NaN or infinities propagate.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    #[inline]
    pub fn sum_f32(&self, values: &[f32]) -> Result<f64, KernelError> {
        Ok(call!(self.sum_f32(values)))
    }

    /// Arithmetic mean, `None` for an empty slice.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    pub fn mean_f32(&self, values: &[f32]) -> Result<Option<f64>, KernelError> {
        if values.is_empty() {
            return Ok(None);
        }
        Ok(Some(call!(self.sum_f32(values)) / values.len() as f64))
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
        let mean = call!(self.sum_f32(values)) / values.len() as f64;
        let ss = call!(self.sum_sq_dev_f32(values, mean));
        Ok(Some(ss / (values.len() - ddof) as f64))
    }

    /// Smallest and largest value, ignoring NaN. `None` when the slice is
    /// empty or holds only NaN. `-0.0` and `0.0` compare equal, so either
    /// may be returned when both are present.
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    pub fn min_max_f32(&self, values: &[f32]) -> Result<Option<(f32, f32)>, KernelError> {
        Ok(call!(self.min_max_f32(values)))
    }

    /// Smallest and largest value; `None` when the slice is empty (the
    /// range a decoder picks its conversion by, e.g. a table per distinct
    /// value or a direct computation).
    ///
    /// # Errors
    /// Never fails today; `Result` keeps the kernel contract uniform.
    pub fn min_max_i64(&self, values: &[i64]) -> Result<Option<(i64, i64)>, KernelError> {
        Ok(call!(self.min_max_i64(values)))
    }
}

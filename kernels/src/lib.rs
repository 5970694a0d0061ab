//! SIMD distance, statistics and varint kernels with runtime CPU dispatch.
//!
//! Each kernel exists on several paths ([`Isa`]): a scalar reference, a
//! portable SIMD path built on `wide`, and `std::arch` paths for AVX2+FMA
//! and AVX-512 (x86-64) and NEON (aarch64). The best path is detected once
//! per process; `UNIDB_ISA=scalar|portable|avx2|avx512|neon` forces one. Every path can be
//! obtained explicitly with [`Kernels::for_isa`] to compare them.
//!
//! ```
//! use unidb_kernels::{Isa, Kernels};
//! # fn main() -> Result<(), unidb_kernels::KernelError> {
//! let a = [1.0f32, 2.0, 3.0];
//! let b = [4.0f32, 5.0, 6.0];
//! for isa in Isa::available() {
//!     let k = Kernels::for_isa(isa).expect("available paths have kernels");
//!     assert_eq!(k.dot_f32(&a, &b)?, 32.0);
//! }
//! assert_eq!(Kernels::active().l2sq_f32(&a, &b)?, 27.0);
//! # Ok(()) }
//! ```

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod bitpack;
mod cache;
mod dispatch;
mod errors;
pub mod f16;
mod isa;
mod lanes;
mod portable;
pub mod pq4;
pub mod rans;
mod scalar;
pub mod stats;
pub mod varint;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use cache::prefetch;
pub use dispatch::{Kernels, Selection};
pub use isa::{cpu_features, CpuFeatures, Isa, ISA_ENV_VAR};

/// Errors of the kernels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The two vectors have different lengths.
    #[error("vector lengths differ: {left} vs {right}")]
    LengthMismatch {
        /// Length of the first argument.
        left: usize,
        /// Length of the second argument.
        right: usize,
    },
    /// `rows` does not hold `out.len()` rows of `query.len()` values.
    #[error("rows hold {rows_len} values, expected {out_len} rows of dimension {dim}")]
    RowsShape {
        /// The query's dimension.
        dim: usize,
        /// Number of values in `rows`.
        rows_len: usize,
        /// Number of outputs requested.
        out_len: usize,
    },
    /// The arguments of [`Kernels::pq4_fastscan`] do not have its shapes.
    #[error(
        "pq4 fast-scan shapes: {codes_len} code bytes, {luts_len} table bytes and {out_len} \
         outputs for m = {m} (need outputs a multiple of 32, 16·m table bytes and 16·m code \
         bytes per 32 outputs)"
    )]
    Pq4Shape {
        /// Sub-quantizers per vector.
        m: usize,
        /// Bytes of block-layout codes given.
        codes_len: usize,
        /// Bytes of lookup tables given.
        luts_len: usize,
        /// Outputs asked for.
        out_len: usize,
    },
    /// Codes given to [`pq4::pack`] or [`pq4::unpack`] that do not fit
    /// the 4-bit layout.
    #[error("pq4 codes: {reason}")]
    Pq4Codes {
        /// What was wrong, naming the offending index or length.
        reason: String,
    },
    /// A table given to [`Kernels::rans16_decode`] whose length is not a
    /// power of two in `2..=2^11`.
    #[error("rans decode table of {len} entries, expected a power of two in 2..=2048")]
    RansTable {
        /// Entries given.
        len: usize,
    },
    /// A path name that is not one of `scalar`, `portable`, `avx2`,
    /// `avx512`, `neon`.
    #[error("unknown kernel path {value:?}; known paths: scalar, portable, avx2, avx512, neon")]
    UnknownIsa {
        /// The value given.
        value: String,
    },
    /// A known path that this CPU or build cannot run.
    #[error(
        "kernel path {isa} is not available on this CPU; available: {}",
        list(available)
    )]
    UnavailableIsa {
        /// The path asked for.
        isa: Isa,
        /// The paths this CPU can run, best first.
        available: Vec<Isa>,
    },
}

fn list(isas: &[Isa]) -> String {
    isas.iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
}

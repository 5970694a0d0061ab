//! IEEE 754 binary16 ("half") conversions, bit-exact.
//!
//! Half values are stored as `u16` bit patterns so that no unstable `f16`
//! type is needed. The scalar conversions are the `half` crate's software
//! ones (`const`, and with no run-time CPU detection per value, which its
//! non-`const` forms would do); the SIMD paths convert whole vectors with
//! their own instructions (F16C, NEON, bit manipulation) and are tested
//! against these.

/// Converts an IEEE half (as bits) to f32. Exact for every input, including
/// subnormals, infinities and NaN (the payload is kept in the top mantissa bits).
///
/// ```
/// use unidb_kernels::f16::f16_to_f32;
/// assert_eq!(f16_to_f32(0x3C00), 1.0);
/// assert_eq!(f16_to_f32(0xC000), -2.0);
/// assert!(f16_to_f32(0x7E00).is_nan());
/// ```
#[inline]
pub const fn f16_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32_const()
}

/// Converts an f32 to the nearest IEEE half (round to nearest, ties to even),
/// as bits. Overflow gives ±inf; NaN stays NaN (quiet).
///
/// ```
/// use unidb_kernels::f16::{f16_to_f32, f32_to_f16};
/// assert_eq!(f32_to_f16(1.0), 0x3C00);
/// assert_eq!(f16_to_f32(f32_to_f16(0.1)), 0.099975586);
/// assert_eq!(f32_to_f16(1e6), 0x7C00);
/// ```
#[inline]
pub const fn f32_to_f16(value: f32) -> u16 {
    half::f16::from_f32_const(value).to_bits()
}

#[cfg(test)]
mod tests;

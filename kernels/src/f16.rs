//! IEEE 754 binary16 ("half") conversions, bit-exact and branch-light.
//!
//! Half values are stored as `u16` bit patterns so that no unstable `f16`
//! type is needed.

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
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if man == 0 {
            sign
        } else {
            // Subnormal half: normalise into an f32 normal.
            let shift = man.leading_zeros() - 21; // bring the top set bit to bit 10
            let man = (man << shift) & 0x3ff;
            let exp = 127 - 15 + 1 - shift;
            sign | (exp << 23) | (man << 13)
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (man << 13)
    } else {
        sign | ((exp + 127 - 15) << 23) | (man << 13)
    };
    f32::from_bits(bits)
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
    let x = value.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let man = x & 0x7f_ffff;
    if exp == 0xff {
        // inf or NaN; keep NaN quiet and non-zero.
        let nan_bits = if man != 0 {
            0x0200 | ((man >> 13) as u16)
        } else {
            0
        };
        return sign | 0x7c00 | nan_bits;
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal or zero in half.
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half_m = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round_up = rem > halfway || (rem == halfway && (half_m & 1) == 1);
        return sign | (half_m as u16 + round_up as u16);
    }
    let half_m = man >> 13;
    let rem = man & 0x1fff;
    let mut h = ((e as u32) << 10) | half_m;
    if rem > 0x1000 || (rem == 0x1000 && (half_m & 1) == 1) {
        h += 1; // may carry into the exponent, which is the correct rounding
    }
    sign | h as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_half_matches_the_half_crate() {
        // Miri interprets every operation: sample every 257th pattern there.
        for bits in (0..=u16::MAX).step_by(if cfg!(miri) { 257 } else { 1 }) {
            let ours = f16_to_f32(bits);
            let theirs = half::f16::from_bits(bits).to_f32();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{bits:#06x}");
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{bits:#06x}");
            }
        }
    }

    #[test]
    fn f32_to_half_matches_the_half_crate() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..if cfg!(miri) { 2_000u32 } else { 200_000 } {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = if i % 2 == 0 {
                f32::from_bits(state as u32)
            } else {
                // Values near the half range, where rounding matters.
                (state as u32 as f32 / u32::MAX as f32 - 0.5) * 140_000.0
            };
            let ours = f32_to_f16(v);
            let theirs = half::f16::from_f32(v).to_bits();
            if v.is_nan() {
                assert!(f16_to_f32(ours).is_nan());
            } else {
                assert_eq!(ours, theirs, "{v:e}");
            }
        }
        for v in [
            0.0f32,
            -0.0,
            65504.0,
            65520.0,
            6.1e-5,
            5.96e-8,
            2.98e-8,
            f32::INFINITY,
        ] {
            assert_eq!(f32_to_f16(v), half::f16::from_f32(v).to_bits(), "{v:e}");
        }
    }
}

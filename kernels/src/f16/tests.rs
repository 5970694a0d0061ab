use super::*;

/// The value of half bits from the definition, in f64:
/// `(-1)^s · 2^(e-15) · (1 + m/1024)`, subnormals `2^-14 · m/1024`.
fn value_of(bits: u16) -> f64 {
    // 2^k built from its bits: exact (Miri perturbs `powi` results).
    let pow2 = |k: i32| f64::from_bits(((k + 1023) as u64) << 52);
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = i32::from((bits >> 10) & 0x1f);
    let m = f64::from(bits & 0x3ff);
    match e {
        0 => sign * pow2(-14) * m / 1024.0,
        0x1f if m == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * pow2(e - 15) * (1.0 + m / 1024.0),
    }
}

#[test]
fn every_half_decodes_to_its_defined_value() {
    // Miri interprets every operation: sample every 257th pattern there.
    for bits in (0..=u16::MAX).step_by(if cfg!(miri) { 257 } else { 1 }) {
        let ours = f16_to_f32(bits);
        let want = value_of(bits);
        if want.is_nan() {
            assert!(ours.is_nan(), "{bits:#06x}");
        } else {
            assert_eq!(f64::from(ours), want, "{bits:#06x}");
            assert_eq!(ours.is_sign_negative(), bits & 0x8000 != 0);
        }
    }
}

/// The nearest half of `v` (ties to the even bit pattern), by binary
/// search over the finite halves of its sign; from 65520 (the largest
/// half, 65504, plus half its step) on, infinity.
fn nearest(v: f32) -> u16 {
    let sign: u16 = if v.is_sign_negative() { 0x8000 } else { 0 };
    let x = f64::from(v).abs();
    if x >= 65520.0 {
        return sign | 0x7c00;
    }
    // Finite halves are increasing in their bit pattern: binary search.
    let (mut lo, mut hi) = (0u16, 0x7bffu16);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if value_of(mid) <= x {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let below = lo;
    if below == 0x7bff || value_of(below) == x {
        return sign | below;
    }
    let above = below + 1;
    let (db, da) = (x - value_of(below), value_of(above) - x);
    let pick = if db < da || (db == da && below % 2 == 0) {
        below
    } else {
        above
    };
    sign | pick
}

#[test]
fn f32_to_half_rounds_to_nearest_even() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..if cfg!(miri) { 500u32 } else { 100_000 } {
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
        if v.is_nan() {
            assert!(f16_to_f32(ours).is_nan());
        } else {
            assert_eq!(ours, nearest(v), "{v:e}");
        }
    }
    for v in [
        0.0f32,
        -0.0,
        65504.0,
        65519.99,
        65520.0,
        6.1e-5,
        5.96e-8,
        2.98e-8,
        2.9802322e-8, // exactly half the smallest subnormal: ties to 0
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        assert_eq!(f32_to_f16(v), nearest(v), "{v:e}");
    }
    // Every half round-trips.
    let step = if cfg!(miri) { 257 } else { 1 };
    for bits in (0..=u16::MAX)
        .step_by(step)
        .filter(|b| b & 0x7c00 != 0x7c00 || b & 0x3ff == 0)
    {
        assert_eq!(f32_to_f16(f16_to_f32(bits)), bits, "{bits:#06x}");
    }
}

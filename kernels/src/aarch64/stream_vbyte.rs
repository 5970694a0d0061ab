//! Stream-vbyte decoding and encoding with the NEON table lookup `tbl`
//! (aarch64).

use std::arch::aarch64::*;
use std::mem::MaybeUninit;

use crate::varint::stream::tables::{ENCODE_SHUFFLE, LENGTHS, MINIMUM, SHUFFLE};
use crate::varint::VarintError;

/// The NEON decode path (a `varint::stream::DecodeFn`, plain or
/// differential by `DELTA`): eight values per iteration, the rest and any
/// error through the scalar code.
///
/// Compiled for NEON; reached through the NEON table's `unsafe fn`
/// pointers.
#[target_feature(enable = "neon")]
pub(crate) fn decode_neon<const DELTA: bool>(
    ctrl: &[u8],
    data: &[u8],
    out: &mut [MaybeUninit<u32>],
    initial: u32,
    base: usize,
) -> Result<usize, VarintError> {
    let count = out.len();
    let full = (count / 4).min(ctrl.len());
    let src = data.as_ptr();
    let dst = out.as_mut_ptr().cast::<u32>();
    let zero = vdupq_n_u32(0);
    let mut prev = vdupq_n_u32(initial);
    let mut ok = vdupq_n_u32(u32::MAX);
    let mut j = 0usize;
    let mut p = 0usize;

    // Two groups of four per iteration, independent until the prefix sum.
    while j + 2 <= full && p + 32 <= data.len() {
        let c0 = usize::from(ctrl[j]);
        let c1 = usize::from(ctrl[j + 1]);
        let l0 = usize::from(LENGTHS[c0]);
        // SAFETY: `p + 16 <= data.len()` and `p + l0 + 16 <= p + 32 <=
        // data.len()`; the table rows are 16-byte arrays.
        let (a, b, m0, m1, n0, n1) = unsafe {
            (
                vld1q_u8(src.add(p)),
                vld1q_u8(src.add(p + l0)),
                vld1q_u8(SHUFFLE[c0].0.as_ptr()),
                vld1q_u8(SHUFFLE[c1].0.as_ptr()),
                vld1q_u32(MINIMUM[c0].0.as_ptr()),
                vld1q_u32(MINIMUM[c1].0.as_ptr()),
            )
        };
        let va = vreinterpretq_u32_u8(vqtbl1q_u8(a, m0));
        let vb = vreinterpretq_u32_u8(vqtbl1q_u8(b, m1));
        ok = vandq_u32(ok, vandq_u32(vcgeq_u32(va, n0), vcgeq_u32(vb, n1)));
        let (va, vb) = if DELTA {
            let va = prefix_sum(va, zero, prev);
            let vb = prefix_sum(vb, zero, vdupq_laneq_u32::<3>(va));
            prev = vdupq_laneq_u32::<3>(vb);
            (va, vb)
        } else {
            (va, vb)
        };
        // SAFETY: `4 * j + 8 <= 4 * full <= out.len()`.
        unsafe {
            vst1q_u32(dst.add(4 * j), va);
            vst1q_u32(dst.add(4 * j + 4), vb);
        }
        p += l0 + usize::from(LENGTHS[c1]);
        j += 2;
    }

    while j < full && p + 16 <= data.len() {
        let c = usize::from(ctrl[j]);
        // SAFETY: `p + 16 <= data.len()`; table rows are 16 bytes.
        let (bytes, m, n) = unsafe {
            (
                vld1q_u8(src.add(p)),
                vld1q_u8(SHUFFLE[c].0.as_ptr()),
                vld1q_u32(MINIMUM[c].0.as_ptr()),
            )
        };
        let v = vreinterpretq_u32_u8(vqtbl1q_u8(bytes, m));
        ok = vandq_u32(ok, vcgeq_u32(v, n));
        let v = if DELTA {
            let v = prefix_sum(v, zero, prev);
            prev = vdupq_laneq_u32::<3>(v);
            v
        } else {
            v
        };
        // SAFETY: `4 * j + 4 <= 4 * full <= out.len()`.
        unsafe { vst1q_u32(dst.add(4 * j), v) };
        p += usize::from(LENGTHS[c]);
        j += 1;
    }

    if vminvq_u32(ok) != u32::MAX {
        // A non-canonical value: the reference reports the first one.
        return crate::varint::stream::decode_scalar_from(
            ctrl,
            data,
            out,
            0,
            0,
            DELTA.then_some(initial),
            base,
        );
    }
    let last = vgetq_lane_u32::<0>(prev);
    crate::varint::stream::decode_scalar_from(
        ctrl,
        data,
        out,
        4 * j,
        p,
        DELTA.then_some(last),
        base,
    )
}

/// Inclusive prefix sum of the four lanes of `v`, plus `prev` (broadcast).
#[inline(always)]
fn prefix_sum(v: uint32x4_t, zero: uint32x4_t, prev: uint32x4_t) -> uint32x4_t {
    // SAFETY: NEON is part of the aarch64 baseline.
    unsafe {
        let v = vaddq_u32(v, vextq_u32::<3>(zero, v));
        let v = vaddq_u32(v, vextq_u32::<2>(zero, v));
        vaddq_u32(v, prev)
    }
}

/// The SIMD part of the NEON encoder (a `varint::stream::BlockEncoder`): eight
/// values (two groups) per iteration. A lane's length code is `3 -
/// clz(v | 1) / 8`; the four codes shifted to bits `2i` and added across
/// the vector make the control byte, and `tbl` with [`ENCODE_SHUFFLE`]
/// compacts the group's data bytes, stored as 16 bytes.
///
/// Compiled for NEON, like the decoder. Panics unless `dst` holds
/// `max_encoded_len(values.len())` bytes.
#[target_feature(enable = "neon")]
pub(crate) fn encode_blocks<const DELTA: bool>(
    values: &[u32],
    prev: u32,
    dst: &mut [MaybeUninit<u8>],
) -> (usize, usize, u32) {
    let n = values.len();
    // Every store below stays inside `dst` given this.
    assert!(dst.len() >= crate::varint::stream::max_encoded_len(n));
    let dst = dst.as_mut_ptr().cast::<u8>();
    let src = values.as_ptr();
    let mut pos = n.div_ceil(4);
    let positions = {
        let p = [0i32, 2, 4, 6];
        // SAFETY: 4 readable i32.
        unsafe { vld1q_s32(p.as_ptr()) }
    };
    let one = vdupq_n_u32(1);
    let three = vdupq_n_u32(3);
    let mut last = vdupq_n_u32(prev);
    let mut i = 0usize;
    // Group `g` (values 4g..4g+4) has its data at most at `ctrl_len + 4·4g`,
    // so its 16-byte store ends by `ctrl_len + 4·(4g + 4) <=
    // max_encoded_len(n)` whenever the group is complete.
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n`: eight readable values.
        let (v0, v1) = unsafe { (vld1q_u32(src.add(i)), vld1q_u32(src.add(i + 4))) };
        let (d0, d1) = if DELTA {
            // [previous lane 3, v0, v1, v2] and so on.
            let d0 = vsubq_u32(v0, vextq_u32::<3>(last, v0));
            let d1 = vsubq_u32(v1, vextq_u32::<3>(v0, v1));
            last = v1;
            (d0, d1)
        } else {
            (v0, v1)
        };
        let ctrl = |d: uint32x4_t| {
            let code = vsubq_u32(three, vshrq_n_u32::<3>(vclzq_u32(vorrq_u32(d, one))));
            vaddvq_u32(vshlq_u32(code, positions)) as usize
        };
        let (c0, c1) = (ctrl(d0), ctrl(d1));
        // SAFETY: the table rows are 16-byte arrays.
        let (m0, m1) = unsafe {
            (
                vld1q_u8(ENCODE_SHUFFLE[c0].0.as_ptr()),
                vld1q_u8(ENCODE_SHUFFLE[c1].0.as_ptr()),
            )
        };
        let a = vqtbl1q_u8(vreinterpretq_u8_u32(d0), m0);
        let b = vqtbl1q_u8(vreinterpretq_u8_u32(d1), m1);
        // SAFETY: control bytes i/4 and i/4 + 1 are below ceil(n / 4); the
        // two data stores end inside `max_encoded_len(n)` (see above).
        unsafe {
            dst.add(i / 4).write(c0 as u8);
            dst.add(i / 4 + 1).write(c1 as u8);
            vst1q_u8(dst.add(pos), a);
            pos += usize::from(LENGTHS[c0]);
            vst1q_u8(dst.add(pos), b);
            pos += usize::from(LENGTHS[c1]);
        }
        i += 8;
    }
    let last = if DELTA && i > 0 { values[i - 1] } else { prev };
    (i, pos, last)
}

//! Bit-packing with NEON: `tbl` unpacking and variable-shift packing
//! (see `crate::bitpack` for the format and the scalar reference).

use std::arch::aarch64::*;

/// The 32 bytes at `input[at..]`: loaded in place when they are all
/// inside `input`, else copied into `buf` with zeros after the end.
///
/// # Safety
/// NEON.
#[inline(always)]
unsafe fn window(input: &[u8], at: usize, buf: &mut [u8; 32]) -> uint8x16x2_t {
    let p = match input.get(at..at + 32) {
        Some(w) => w.as_ptr(),
        None => {
            let rest = input.get(at..).unwrap_or(&[]);
            *buf = [0; 32];
            buf[..rest.len()].copy_from_slice(rest);
            buf.as_ptr()
        }
    };
    // SAFETY: `p` points at 32 readable bytes (a sub-slice of `input` or
    // `buf`); the caller guarantees NEON.
    unsafe { uint8x16x2_t(vld1q_u8(p), vld1q_u8(p.add(16))) }
}

/// Unpacks blocks of 8 values with table lookups (`tbl` over a 32-byte
/// window), then per-lane variable shifts; fewer than 8 values at the
/// end go to the scalar path.
///
/// Eight values at width `w` take exactly `w` bytes, so block `j`
/// starts at byte `j·w` and lane `k` reads from byte `(k·w) / 8` of the
/// block, shifted right by `(k·w) % 8`: one index vector and one shift
/// vector serve the whole run. Every byte of a block lies in its first
/// `w <= 32` bytes, so one 32-byte window holds it; near the end of the
/// input the window is copied into a zero-padded buffer, so nothing past
/// `input` is read.
///
/// # Safety
/// The CPU must support NEON. `width <= 32` and `input` holds
/// ⌈out.len()·w/8⌉ bytes (`Kernels::unpack_u32` asserts both).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn unpack_u32_neon(input: &[u8], width: u32, out: &mut [u32]) {
    let n = out.len();
    if width == 0 || n < 8 {
        crate::bitpack::unpack_u32_scalar(input, width, out);
        return;
    }
    let w = width as usize;
    let dst = out.as_mut_ptr();
    let mut buf = [0u8; 32];
    let mut i = 0usize;
    if width <= 25 {
        // 32-bit lanes: shift (<= 7) + width (<= 25) fits in 32 bits,
        // so lane k needs the 4 bytes from (k·w)/8, all below 32.
        let mut idx = [0u8; 32];
        let mut sh = [0i32; 8];
        for k in 0..8 {
            let bit = k * w;
            for b in 0..4 {
                idx[4 * k + b] = ((bit >> 3) + b) as u8;
            }
            sh[k] = -((bit & 7) as i32);
        }
        // SAFETY: loads from local arrays of 32 u8 and 8 i32.
        let (idx_lo, idx_hi, sh_lo, sh_hi) = unsafe {
            (
                vld1q_u8(idx.as_ptr()),
                vld1q_u8(idx.as_ptr().add(16)),
                vld1q_s32(sh.as_ptr()),
                vld1q_s32(sh.as_ptr().add(4)),
            )
        };
        let mask = vdupq_n_u32(((1u64 << width) - 1) as u32);
        while i + 8 <= n {
            // SAFETY: `window` reads inside `input` or `buf`; NEON is
            // enabled here.
            let t = unsafe { window(input, (i / 8) * w, &mut buf) };
            let lo = vreinterpretq_u32_u8(vqtbl2q_u8(t, idx_lo));
            let hi = vreinterpretq_u32_u8(vqtbl2q_u8(t, idx_hi));
            // A negative count shifts right.
            let lo = vandq_u32(vshlq_u32(lo, sh_lo), mask);
            let hi = vandq_u32(vshlq_u32(hi, sh_hi), mask);
            // SAFETY: `i + 8 <= n = out.len()`: eight u32 slots.
            unsafe {
                vst1q_u32(dst.add(i), lo);
                vst1q_u32(dst.add(i + 4), hi);
            }
            i += 8;
        }
    } else {
        // 64-bit lanes: lane k takes the 8 bytes from (k·w)/8; indices
        // past the window (>= 32) select 0, and any bytes after the
        // value's last one only feed bits above it, masked off.
        let mut idx = [0u8; 64];
        let mut sh = [0i64; 8];
        for k in 0..8 {
            let bit = k * w;
            for b in 0..8 {
                let at = (bit >> 3) + b;
                idx[8 * k + b] = if at < 32 { at as u8 } else { 0xFF };
            }
            sh[k] = -((bit & 7) as i64);
        }
        // SAFETY: loads from local arrays of 64 u8 and 8 i64.
        let (ix, sx) = unsafe {
            (
                [0, 16, 32, 48].map(|o| vld1q_u8(idx.as_ptr().add(o))),
                [0, 2, 4, 6].map(|o| vld1q_s64(sh.as_ptr().add(o))),
            )
        };
        let mask = vdupq_n_u32(((1u64 << width) - 1) as u32);
        while i + 8 <= n {
            // SAFETY: as in the 32-bit branch.
            let t = unsafe { window(input, (i / 8) * w, &mut buf) };
            let lane = |q: usize| {
                let v = vreinterpretq_u64_u8(vqtbl2q_u8(t, ix[q]));
                // Keep the low 32 bits of each shifted 64-bit lane.
                vmovn_u64(vshlq_u64(v, sx[q]))
            };
            let lo = vandq_u32(vcombine_u32(lane(0), lane(1)), mask);
            let hi = vandq_u32(vcombine_u32(lane(2), lane(3)), mask);
            // SAFETY: `i + 8 <= out.len()`: eight u32 slots.
            unsafe {
                vst1q_u32(dst.add(i), lo);
                vst1q_u32(dst.add(i + 4), hi);
            }
            i += 8;
        }
    }
    // The rest starts at bit i*w, a byte boundary (i is a multiple of 8).
    crate::bitpack::unpack_u32_scalar(&input[(i / 8) * w..], width, &mut out[i..]);
}

/// Packs blocks of 8 values with 64-bit variable shifts (`ushl`, whose
/// negative counts shift right and counts of ±64 give zero); fewer than
/// 8 values at the end go to the word-at-a-time scalar path.
///
/// The layout is the AVX2 one: each 64-bit lane turns its pair of
/// values into a `2w`-bit field, each 128-bit register (values 0-3 and
/// 4-7) its two fields into a `4w`-bit field. The first register is
/// stored at the block start (byte `j·w`), the second at byte `w/2`,
/// shifted left by 4 bits for odd `w` with the shared byte merged in.
/// Both stores end within 32 bytes of the block start; a block closer
/// than that to the end of `out` is stored into a local buffer and its
/// `w` bytes copied, so nothing past `out` is written.
///
/// # Safety
/// The CPU must support NEON. `width <= 32` and `out.len() ==
/// ⌈values.len()·w/8⌉` (`Kernels::pack_u32` asserts both); every value
/// fits `width` (the `bitpack` front ends check; a wider value gives wrong
/// bytes, never an access outside `out`).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn pack_u32_neon(values: &[u32], width: u32, out: &mut [u8]) {
    let n = values.len();
    if width == 0 || n < 8 {
        crate::bitpack::pack_u32_words(values, width, out);
        return;
    }
    let w = width as usize;
    let half = w / 2;
    let odd = i64::from(4 * (width & 1));
    let two_w = 2 * i64::from(width);
    let keep_lo = vdupq_n_u64(0xffff_ffff);
    let pair_shift = vdupq_n_s64(i64::from(width));
    let quad = [0, two_w, -64, two_w - 64];
    let shared = if odd != 0 { half as u8 } else { 0xFF };
    let mut take = [0xFFu8; 16];
    take[0] = shared;
    // SAFETY: loads from local arrays of 4 i64 and 16 u8.
    let (quad_left, quad_right, take_shared) = unsafe {
        (
            vld1q_s64(quad.as_ptr()),
            vld1q_s64(quad.as_ptr().add(2)),
            vld1q_u8(take.as_ptr()),
        )
    };
    let nib_left = vdupq_n_s64(odd);
    let nib_right = vdupq_n_s64(odd - 64);
    let zero = vdupq_n_u8(0);
    // Four values as one 4w-bit field in a 128-bit register.
    let fold = |x: uint32x4_t| -> uint64x2_t {
        let x = vreinterpretq_u64_u32(x);
        let pair = vorrq_u64(
            vandq_u64(x, keep_lo),
            vshlq_u64(vshrq_n_u64::<32>(x), pair_shift),
        );
        let t = vshlq_u64(pair, quad_left);
        let u = vshlq_u64(pair, quad_right);
        vorrq_u64(vzip1q_u64(t, u), vzip2q_u64(t, u))
    };
    let src = values.as_ptr();
    let dst = out.as_mut_ptr();
    let mut buf = [0u8; 32];
    let mut i = 0usize;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n = values.len()`: eight u32 readable.
        let (a, b) = unsafe { (vld1q_u32(src.add(i)), vld1q_u32(src.add(i + 4))) };
        let lo = vreinterpretq_u8_u64(fold(a));
        let hi = fold(b);
        // Shift left by 0 or 4 bits across 128 bits, merge the shared byte.
        let carry = vreinterpretq_u64_u8(vextq_u8::<8>(zero, vreinterpretq_u8_u64(hi)));
        let hi = vorrq_u8(
            vreinterpretq_u8_u64(vorrq_u64(
                vshlq_u64(hi, nib_left),
                vshlq_u64(carry, nib_right),
            )),
            vqtbl1q_u8(lo, take_shared),
        );
        let at = (i / 8) * w;
        if at + 32 <= out.len() {
            // SAFETY: the stores cover bytes `at .. at + 16` and
            // `at + half .. at + half + 16` (`half <= 16`), all below
            // `at + 32 <= out.len()`.
            unsafe {
                vst1q_u8(dst.add(at), lo);
                vst1q_u8(dst.add(at + half), hi);
            }
        } else {
            let p = buf.as_mut_ptr();
            // SAFETY: both stores end at `half + 16 <= 32`, inside `buf`.
            unsafe {
                vst1q_u8(p, lo);
                vst1q_u8(p.add(half), hi);
            }
            // The two stores wrote every byte of `buf[..w]`.
            out[at..at + w].copy_from_slice(&buf[..w]);
        }
        i += 8;
    }
    // The rest starts at bit i*w, a byte boundary (i is a multiple of 8).
    crate::bitpack::pack_u32_words(&values[i..], width, &mut out[(i / 8) * w..]);
}

//! 4-bit PQ fast-scan with NEON `tbl` (see `crate::pq4` for the layout and
//! the scalar reference).
//!
//! Per sub-quantizer, one 16-byte load takes the codes of the 32 vectors
//! of a block (low nibbles vectors 0-15, high nibbles 16-31) and one its
//! 16-entry table; `vqtbl1q_u8` looks up 16 codes at once. The bytes are
//! widened (`vmovl`) and added into four 8 x u16 accumulators, one per 8
//! vectors in order, with unsigned saturating adds (`vqaddq_u16`), as the
//! scalar reference saturates.

use std::arch::aarch64::*;

use crate::pq4::{block_bytes, BLOCK};

#[target_feature(enable = "neon")]
#[inline]
fn load16(s: &[u8], at: usize) -> uint8x16_t {
    let s: &[u8; 16] = s[at..at + 16].try_into().expect("16 bytes");
    // SAFETY: `s` holds the 16 bytes read.
    unsafe { vld1q_u8(s.as_ptr()) }
}

/// NEON fast-scan: one sub-quantizer per step.
///
/// # Safety
/// The CPU must support NEON. Shapes as `Table::pq4_fastscan` (checked by
/// `Kernels::pq4_fastscan`; slicing would panic, never read out of bounds,
/// if they were not).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn fastscan_neon(codes: &[u8], luts: &[u8], m: usize, out: &mut [u16]) {
    let bytes = block_bytes(m);
    let nibble = vdupq_n_u8(0x0F);
    for (b, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
        let block = &codes[b * bytes..(b + 1) * bytes];
        let mut acc = [vdupq_n_u16(0); 4];
        for q in 0..m {
            let c = load16(block, 16 * q);
            let l = load16(luts, 16 * q);
            let lo = vqtbl1q_u8(l, vandq_u8(c, nibble));
            let hi = vqtbl1q_u8(l, vshrq_n_u8::<4>(c));
            acc[0] = vqaddq_u16(acc[0], vmovl_u8(vget_low_u8(lo)));
            acc[1] = vqaddq_u16(acc[1], vmovl_high_u8(lo));
            acc[2] = vqaddq_u16(acc[2], vmovl_u8(vget_low_u8(hi)));
            acc[3] = vqaddq_u16(acc[3], vmovl_high_u8(hi));
        }
        for (k, a) in acc.into_iter().enumerate() {
            let d: &mut [u16; 8] = (&mut dst[8 * k..8 * k + 8]).try_into().expect("8 lanes");
            // SAFETY: `d` holds the 8 lanes written.
            unsafe { vst1q_u16(d.as_mut_ptr(), a) };
        }
    }
}

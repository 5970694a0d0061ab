//! Interleaved rANS decoding with AVX2 (two registers of 8 states) and
//! AVX-512 (one register of 16), see `crate::rans` for the step and the
//! scalar reference.
//!
//! A step gathers each state's table entry (`vpgatherdd`), computes the
//! next states with one 32-bit multiply, and finds the lanes below `2^16`
//! with an unsigned compare. Those lanes take the next words of the
//! stream in lane order: the 8 (16) words from the stream position are
//! widened to 32 bits and moved into the needing lanes, by a permutation
//! from a 256-entry table indexed by the lane mask (AVX2) or by
//! `vpexpandd` (AVX-512); the position moves by the mask's population.
//! The loops run while 16 words remain from the position (the most one
//! step reads); the rest, and a last step of fewer than 16 values, go
//! to the scalar reference, which reads words past the end as 0.

use std::arch::x86_64::*;

use crate::rans::{decode_scalar, LANES, STATE_LOW};

/// Per mask of 8 lanes: for each lane, the index of the word it takes
/// (its rank among the set lanes; 0 for lanes not set).
static EXPAND: [[u32; 8]; 256] = expand_table();

const fn expand_table() -> [[u32; 8]; 256] {
    let mut t = [[0u32; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut k, mut i) = (0u32, 0);
        while i < 8 {
            if (m >> i) & 1 == 1 {
                t[m][i] = k;
                k += 1;
            }
            i += 1;
        }
        m += 1;
    }
    t
}

/// Whether a whole step may read its words without a bounds check.
#[inline(always)]
fn step_fits(pos: usize, words: &[u16]) -> bool {
    pos.checked_add(LANES).is_some_and(|end| end <= words.len())
}

#[target_feature(enable = "avx2")]
pub(crate) fn decode_avx2(
    table: &[u32],
    states: &mut [u32; LANES],
    words: &[u16],
    mut pos: usize,
    out: &mut [u8],
) -> usize {
    let log = table.len().trailing_zeros();
    let full = out.len() / LANES * LANES;
    let tp = table.as_ptr().cast::<i32>();
    let slot = _mm256_set1_epi32(table.len() as i32 - 1);
    let shift = _mm_cvtsi32_si128(log as i32);
    let f_mask = _mm256_set1_epi32(0xfff);
    let b_mask = _mm256_set1_epi32(0x7ff);
    // Unsigned `y < 2^16` as a signed compare of both sides with the top
    // bit flipped.
    let flip = _mm256_set1_epi32(i32::MIN);
    let low = _mm256_set1_epi32(STATE_LOW as i32 ^ i32::MIN);
    // The top byte of each 32-bit lane (the symbol) to the first four
    // bytes of its 128-bit half.
    let pick = _mm256_setr_epi8(
        3, 7, 11, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 3, 7, 11, 15, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1,
    );
    // SAFETY: `states` holds 16 u32; unaligned loads.
    let mut x = unsafe {
        [
            _mm256_loadu_si256(states.as_ptr().cast()),
            _mm256_loadu_si256(states.as_ptr().add(8).cast()),
        ]
    };
    let mut i = 0;
    while i < full && step_fits(pos, words) {
        for (h, xh) in x.iter_mut().enumerate() {
            let idx = _mm256_and_si256(*xh, slot);
            // SAFETY: every index is masked below `table.len()`, a power
            // of two (checked by the caller), so each gathered u32 is in
            // `table`.
            let e = unsafe { _mm256_i32gather_epi32::<4>(tp, idx) };
            let f = _mm256_and_si256(e, f_mask);
            let b = _mm256_and_si256(_mm256_srli_epi32::<12>(e), b_mask);
            let y = _mm256_add_epi32(_mm256_mullo_epi32(f, _mm256_srl_epi32(*xh, shift)), b);
            let need = _mm256_cmpgt_epi32(low, _mm256_xor_si256(y, flip));
            let m = _mm256_movemask_ps(_mm256_castsi256_ps(need)) as usize;
            // SAFETY: `pos + 16 <= words.len()` at the start of the step
            // and the first half advances `pos` by at most 8, so the 8
            // words read here are in `words`; unaligned load.
            let w = unsafe { _mm_loadu_si128(words.as_ptr().add(pos).cast()) };
            // SAFETY: `EXPAND[m]` holds 8 u32; unaligned load.
            let perm = unsafe { _mm256_loadu_si256(EXPAND[m].as_ptr().cast()) };
            let w = _mm256_permutevar8x32_epi32(_mm256_cvtepu16_epi32(w), perm);
            let refilled = _mm256_or_si256(_mm256_slli_epi32::<16>(y), w);
            *xh = _mm256_blendv_epi8(y, refilled, need);
            pos += m.count_ones() as usize;
            let s = _mm256_shuffle_epi8(e, pick);
            let lo = _mm256_cvtsi256_si32(s).to_le_bytes();
            let hi = _mm256_extract_epi32::<4>(s).to_le_bytes();
            let o = i + 8 * h;
            out[o..o + 4].copy_from_slice(&lo);
            out[o + 4..o + 8].copy_from_slice(&hi);
        }
        i += LANES;
    }
    // SAFETY: `states` holds 16 u32; unaligned stores.
    unsafe {
        _mm256_storeu_si256(states.as_mut_ptr().cast(), x[0]);
        _mm256_storeu_si256(states.as_mut_ptr().add(8).cast(), x[1]);
    }
    decode_scalar(table, states, words, pos, &mut out[i..])
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
pub(crate) fn decode_avx512(
    table: &[u32],
    states: &mut [u32; LANES],
    words: &[u16],
    mut pos: usize,
    out: &mut [u8],
) -> usize {
    let log = table.len().trailing_zeros();
    let full = out.len() / LANES * LANES;
    let tp = table.as_ptr().cast::<i32>();
    let slot = _mm512_set1_epi32(table.len() as i32 - 1);
    let shift = _mm_cvtsi32_si128(log as i32);
    let f_mask = _mm512_set1_epi32(0xfff);
    let b_mask = _mm512_set1_epi32(0x7ff);
    let low = _mm512_set1_epi32(STATE_LOW as i32);
    // SAFETY: `states` holds 16 u32; unaligned load.
    let mut x = unsafe { _mm512_loadu_si512(states.as_ptr().cast()) };
    let mut i = 0;
    while i < full && step_fits(pos, words) {
        let idx = _mm512_and_si512(x, slot);
        // SAFETY: every index is masked below `table.len()`, a power of
        // two (checked by the caller), so each gathered u32 is in `table`.
        let e = unsafe { _mm512_i32gather_epi32::<4>(idx, tp) };
        let f = _mm512_and_si512(e, f_mask);
        let b = _mm512_and_si512(_mm512_srli_epi32::<12>(e), b_mask);
        let y = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srl_epi32(x, shift)), b);
        let need = _mm512_cmplt_epu32_mask(y, low);
        // SAFETY: `pos + 16 <= words.len()`: the 16 words are in `words`;
        // unaligned load.
        let w = unsafe { _mm256_loadu_si256(words.as_ptr().add(pos).cast()) };
        let w = _mm512_maskz_expand_epi32(need, _mm512_cvtepu16_epi32(w));
        x = _mm512_mask_or_epi32(y, need, _mm512_slli_epi32::<16>(y), w);
        pos += need.count_ones() as usize;
        let s = _mm512_cvtepi32_epi8(_mm512_srli_epi32::<24>(e));
        let o: &mut [u8; 16] = (&mut out[i..i + LANES]).try_into().expect("16 bytes");
        // SAFETY: `o` is 16 bytes; unaligned store.
        unsafe { _mm_storeu_si128(o.as_mut_ptr().cast(), s) };
        i += LANES;
    }
    // SAFETY: `states` holds 16 u32; unaligned store.
    unsafe { _mm512_storeu_si512(states.as_mut_ptr().cast(), x) };
    decode_scalar(table, states, words, pos, &mut out[i..])
}

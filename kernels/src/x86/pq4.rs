//! 4-bit PQ fast-scan with `vpshufb` on 256-bit (AVX2) and 512-bit
//! (AVX-512BW) registers (see `crate::pq4` for the layout and the scalar
//! reference).
//!
//! One 256-bit load takes the codes of two consecutive sub-quantizers for
//! the 32 vectors of a block (16 bytes each, low nibbles vectors 0-15,
//! high nibbles 16-31), and one more their two 16-entry tables; a 512-bit
//! load takes four. The low and the high nibbles index the tables with one
//! in-lane byte shuffle each, so each 128-bit lane of a result holds one
//! sub-quantizer's distances of 16 vectors. Those bytes are added into
//! 16-bit lanes with unsigned saturating adds, even vectors (the low byte
//! of each 16-bit lane, masked) and odd ones (shifted down) separately, so
//! nothing is lost for `m <= 257` and larger sums saturate exactly as the
//! scalar reference (saturation of non-negative sums does not depend on
//! their order). At the end of a block the lanes (one per sub-quantizer of
//! the step) are added together and the even and odd sums interleaved back
//! into vector order (AVX-512: interleaved first, then the four lanes of
//! four registers added by a 4 x 4 lane transpose into one 512-bit store). A last odd sub-quantizer (AVX2) or last 1-3
//! (AVX-512) are loaded with zeros in the unused lanes: code 0 looks up
//! table entry 0 of a zeroed table, which adds nothing.

use std::arch::x86_64::*;

use crate::pq4::{block_bytes, BLOCK};

/// The 32 bytes at `s[at..]`.
#[inline(always)]
fn bytes32(s: &[u8], at: usize) -> &[u8; 32] {
    s[at..at + 32].try_into().expect("32 bytes")
}

/// The 16 bytes at `s[at..]`.
#[inline(always)]
fn bytes16(s: &[u8], at: usize) -> &[u8; 16] {
    s[at..at + 16].try_into().expect("16 bytes")
}

#[target_feature(enable = "avx2")]
#[inline]
fn load256(s: &[u8; 32]) -> __m256i {
    // SAFETY: `s` holds the 32 bytes read; the load is unaligned.
    unsafe { _mm256_loadu_si256(s.as_ptr().cast()) }
}

/// `s` in the low 128-bit lane, zeros in the high one.
#[target_feature(enable = "avx2")]
#[inline]
fn load128_zext(s: &[u8; 16]) -> __m256i {
    // SAFETY: `s` holds the 16 bytes read; the load is unaligned.
    let x = unsafe { _mm_loadu_si128(s.as_ptr().cast()) };
    _mm256_set_m128i(_mm_setzero_si128(), x)
}

/// Looks up the codes `c` in the tables `l` (two sub-quantizers, one per
/// 128-bit lane) and adds the distances into `acc`: low-nibble vectors
/// even/odd, high-nibble vectors even/odd.
#[target_feature(enable = "avx2")]
#[inline]
fn step256(c: __m256i, l: __m256i, acc: &mut [__m256i; 4]) {
    let nibble = _mm256_set1_epi8(0x0F);
    let low_byte = _mm256_set1_epi16(0x00FF);
    let lo = _mm256_and_si256(c, nibble);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(c), nibble);
    for (k, idx) in [lo, hi].into_iter().enumerate() {
        let r = _mm256_shuffle_epi8(l, idx);
        acc[2 * k] = _mm256_adds_epu16(acc[2 * k], _mm256_and_si256(r, low_byte));
        acc[2 * k + 1] = _mm256_adds_epu16(acc[2 * k + 1], _mm256_srli_epi16::<8>(r));
    }
}

/// The saturating sum of the two 128-bit lanes of `a`.
#[target_feature(enable = "avx2")]
#[inline]
fn fold(a: __m256i) -> __m128i {
    _mm_adds_epu16(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a))
}

/// Interleaves the even and odd sums of each accumulator pair into vector
/// order (8 vectors per 128-bit lane, one lane per sub-quantizer of the
/// step), adds the four lanes of each of the four results with a 4 x 4
/// lane transpose, and stores the 32 sums in vector order.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn finish512(acc: &[__m512i; 4], dst: &mut [u16]) {
    let a = _mm512_unpacklo_epi16(acc[0], acc[1]); // vectors 0-7
    let b = _mm512_unpackhi_epi16(acc[0], acc[1]); // 8-15
    let c = _mm512_unpacklo_epi16(acc[2], acc[3]); // 16-23
    let d = _mm512_unpackhi_epi16(acc[2], acc[3]); // 24-31

    // [a0+a2, a1+a3, b0+b2, b1+b3] and the same of c, d.
    let ab = _mm512_adds_epu16(
        _mm512_shuffle_i64x2::<0x44>(a, b),
        _mm512_shuffle_i64x2::<0xEE>(a, b),
    );
    let cd = _mm512_adds_epu16(
        _mm512_shuffle_i64x2::<0x44>(c, d),
        _mm512_shuffle_i64x2::<0xEE>(c, d),
    );
    // [Σa, Σb, Σc, Σd].
    let sums = _mm512_adds_epu16(
        _mm512_shuffle_i64x2::<0x88>(ab, cd),
        _mm512_shuffle_i64x2::<0xDD>(ab, cd),
    );
    let dst: &mut [u16; BLOCK] = dst.try_into().expect("one block of sums");
    // SAFETY: `dst` holds the 64 bytes written; the store is unaligned.
    unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), sums) };
}

/// Adds the two 128-bit lanes of each accumulator and stores the 32 sums
/// in vector order.
#[target_feature(enable = "avx2")]
#[inline]
fn finish256(acc: &[__m256i; 4], dst: &mut [u16]) {
    let mut sums = [0u16; BLOCK];
    for half in 0..2 {
        let even = fold(acc[2 * half]);
        let odd = fold(acc[2 * half + 1]);
        let first = _mm_unpacklo_epi16(even, odd);
        let second = _mm_unpackhi_epi16(even, odd);
        let base = half * 16;
        for (at, v) in [(base, first), (base + 8, second)] {
            let dst: &mut [u16; 8] = (&mut sums[at..at + 8]).try_into().expect("8 lanes");
            // SAFETY: `dst` holds the 16 bytes written; the store is unaligned.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) };
        }
    }
    dst.copy_from_slice(&sums);
}

/// AVX2 fast-scan: two sub-quantizers per step.
///
/// # Safety
/// The CPU must support AVX2. Shapes as `Table::pq4_fastscan` (checked by
/// `Kernels::pq4_fastscan`; slicing would panic, never read out of bounds,
/// if they were not).
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn fastscan_avx2(codes: &[u8], luts: &[u8], m: usize, out: &mut [u16]) {
    let bytes = block_bytes(m);
    for (b, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
        let block = &codes[b * bytes..(b + 1) * bytes];
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut q = 0;
        while q + 2 <= m {
            let c = load256(bytes32(block, 16 * q));
            let l = load256(bytes32(luts, 16 * q));
            step256(c, l, &mut acc);
            q += 2;
        }
        if q < m {
            let c = load128_zext(bytes16(block, 16 * q));
            let l = load128_zext(bytes16(luts, 16 * q));
            step256(c, l, &mut acc);
        }
        finish256(&acc, dst);
    }
}

/// The `16·r` bytes at `s[at..]` (`r` in 1..=4), zeros above.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load512_partial(s: &[u8], at: usize, r: usize) -> __m512i {
    let s = &s[at..at + 16 * r];
    let mask: __mmask64 = if r == 4 {
        u64::MAX
    } else {
        (1u64 << (16 * r)) - 1
    };
    // SAFETY: the mask enables exactly the `s.len()` bytes of `s`;
    // masked-off bytes are not accessed and read as zero.
    unsafe { _mm512_maskz_loadu_epi8(mask, s.as_ptr().cast()) }
}

/// As [`step256`] on four sub-quantizers, one per 128-bit lane.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn step512(c: __m512i, l: __m512i, acc: &mut [__m512i; 4]) {
    let nibble = _mm512_set1_epi8(0x0F);
    let low_byte = _mm512_set1_epi16(0x00FF);
    let lo = _mm512_and_si512(c, nibble);
    let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(c), nibble);
    for (k, idx) in [lo, hi].into_iter().enumerate() {
        let r = _mm512_shuffle_epi8(l, idx);
        acc[2 * k] = _mm512_adds_epu16(acc[2 * k], _mm512_and_si512(r, low_byte));
        acc[2 * k + 1] = _mm512_adds_epu16(acc[2 * k + 1], _mm512_srli_epi16::<8>(r));
    }
}

/// AVX-512BW fast-scan: four sub-quantizers per step.
///
/// # Safety
/// The CPU must support AVX-512 F and BW and AVX2. Shapes as
/// `Table::pq4_fastscan` (checked by `Kernels::pq4_fastscan`).
#[target_feature(enable = "avx512f,avx512bw,avx2")]
pub(crate) unsafe fn fastscan_avx512(codes: &[u8], luts: &[u8], m: usize, out: &mut [u16]) {
    let bytes = block_bytes(m);
    for (b, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
        let block = &codes[b * bytes..(b + 1) * bytes];
        let mut acc = [_mm512_setzero_si512(); 4];
        let mut q = 0;
        while q < m {
            let r = (m - q).min(4);
            let c = load512_partial(block, 16 * q, r);
            let l = load512_partial(luts, 16 * q, r);
            step512(c, l, &mut acc);
            q += r;
        }
        finish512(&acc, dst);
    }
}

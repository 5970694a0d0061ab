//! 4-bit product-quantization "fast-scan": the block layout and the scalar
//! reference of [`Kernels::pq4_fastscan`].
//!
//! A product quantizer with `m` sub-quantizers of 16 centroids gives each
//! vector `m` codes of 4 bits. Scoring a query looks each code up in the
//! query's table of 16 distances per sub-quantizer and adds them up. The
//! fast-scan layout (André, Kermarrec and Le Scouarnec, *Cache locality is
//! not enough*, VLDB 2015; FAISS `IndexPQFastScan`, ScaNN) puts those 16
//! distances, quantized to `u8`, in one SIMD register and looks up 16 or
//! 32 codes at once with a byte shuffle (`pshufb`, `vpshufb`, NEON `tbl`).
//!
//! # Layout
//! Vectors are grouped in blocks of [`BLOCK`] = 32. A block takes
//! [`block_bytes`]`(m)` = `16·m` bytes: for each sub-quantizer `q` in
//! order, 16 bytes, byte `j` holding the code of vector `j` of the block
//! in its low nibble and that of vector `j + 16` in its high nibble. The
//! last block of a run of `n` vectors is padded with code 0. [`pack`]
//! makes this layout from row-major codes (`codes[i·m + q]`, one code per
//! byte) and [`unpack`] inverts it.
//!
//! The lookup tables are `16·m` bytes: `luts[q·16 + c]` is the quantized
//! distance of code `c` of sub-quantizer `q`. Two consecutive
//! sub-quantizers' codes and tables are thus 32 contiguous bytes, one
//! 256-bit register each (four in a 512-bit one).
//!
//! # Accumulation
//! Each vector's result is `min(Σ_q luts[q·16 + code_q], 65535)`: the sums
//! are kept in 16-bit lanes with saturating adds. Saturation of a sum of
//! non-negative terms does not depend on the order of the additions, so
//! every path gives the same result for any `m`; the sum is exact while
//! `255·m <= 65535`, that is for `m <= 257`, or whenever the tables'
//! entries are small enough (a caller that quantizes its tables to at most
//! `65535 / m` per entry never saturates).
//!
//! ```
//! use unidb_kernels::{pq4, Kernels};
//! # fn main() -> Result<(), unidb_kernels::KernelError> {
//! let m = 3;
//! // Two vectors, row-major: codes (1, 2, 3) and (15, 0, 7).
//! let codes = [1u8, 2, 3, 15, 0, 7];
//! let mut blocks = Vec::new();
//! pq4::pack(&codes, m, &mut blocks)?;
//! assert_eq!(blocks.len(), pq4::block_bytes(m)); // one (padded) block
//! assert_eq!(pq4::unpack(&blocks, m, 2)?, codes);
//! // Table of sub-quantizer q: entry c is q * 100 + c.
//! let luts: Vec<u8> = (0..m).flat_map(|q| (0..16).map(move |c| (q * 100 + c) as u8)).collect();
//! let mut out = [0u16; 32];
//! Kernels::active().pq4_fastscan(&blocks, &luts, m, &mut out)?;
//! assert_eq!(out[0], 1 + (100 + 2) + (200 + 3));
//! assert_eq!(out[1], 15 + 100 + (200 + 7));
//! assert_eq!(out[2], 100 + 200); // padding: code 0 everywhere
//! # Ok(()) }
//! ```

use crate::{KernelError, Kernels};

/// Vectors per block of the fast-scan layout.
pub const BLOCK: usize = 32;

/// Bytes of one block of `m` sub-quantizers: `16·m` (saturating).
pub fn block_bytes(m: usize) -> usize {
    m.saturating_mul(16)
}

/// Bytes of `n` vectors of `m` codes in the block layout: ⌈n / 32⌉ blocks
/// of [`block_bytes`]`(m)` (saturating at `usize::MAX`).
pub fn packed_len(n: usize, m: usize) -> usize {
    n.div_ceil(BLOCK).saturating_mul(block_bytes(m))
}

/// Appends to `out` the block layout of the row-major codes `codes`
/// (`codes.len() / m` vectors of `m` codes, each below 16), the last block
/// padded with code 0.
///
/// # Errors
/// [`KernelError::Pq4Codes`] when `m` is 0 or does not divide
/// `codes.len()`, or a code is 16 or more (naming its index); `out` is
/// unchanged then.
pub fn pack(codes: &[u8], m: usize, out: &mut Vec<u8>) -> Result<(), KernelError> {
    if m == 0 || !codes.len().is_multiple_of(m) {
        return Err(KernelError::Pq4Codes {
            reason: format!(
                "{} codes do not make whole vectors of m = {m} codes",
                codes.len()
            ),
        });
    }
    if let Some(i) = codes.iter().position(|&c| c >= 16) {
        return Err(KernelError::Pq4Codes {
            reason: format!("code {} at index {i} does not fit 4 bits", codes[i]),
        });
    }
    let n = codes.len() / m;
    let start = out.len();
    out.resize(start + packed_len(n, m), 0);
    let blocks = &mut out[start..];
    for (i, row) in codes.chunks_exact(m).enumerate() {
        put(blocks, i, row);
    }
    Ok(())
}

/// ORs the codes `row` (each below 16) of vector `i` into the zeroed place
/// the block layout `blocks` (of `row.len()` sub-quantizers) keeps for it.
fn put(blocks: &mut [u8], i: usize, row: &[u8]) {
    let block = &mut blocks[(i / BLOCK) * block_bytes(row.len())..];
    let (j, shift) = (i % 16, if i % BLOCK < 16 { 0 } else { 4 });
    for (q, &c) in row.iter().enumerate() {
        block[q * 16 + j] |= c << shift;
    }
}

/// Appends one vector's `m = row.len()` codes to `packed`, the block
/// layout of `n` vectors (as [`pack`] of their codes wrote it), adding a
/// zeroed block when vector `n` starts one: afterwards `packed` equals
/// [`pack`] of the `n + 1` vectors' codes.
///
/// # Errors
/// [`KernelError::Pq4Codes`] when `row` is empty, `packed` does not hold
/// [`packed_len`]`(n, m)` bytes, or a code is 16 or more; `packed` is
/// unchanged then.
pub fn push(packed: &mut Vec<u8>, n: usize, row: &[u8]) -> Result<(), KernelError> {
    let m = row.len();
    if m == 0 || packed.len() != packed_len(n, m) {
        return Err(KernelError::Pq4Codes {
            reason: format!(
                "{} bytes are not the layout of {n} vectors of m = {m} codes",
                packed.len()
            ),
        });
    }
    if let Some(q) = row.iter().position(|&c| c >= 16) {
        return Err(KernelError::Pq4Codes {
            reason: format!("code {} at index {q} does not fit 4 bits", row[q]),
        });
    }
    packed.resize(packed_len(n + 1, m), 0);
    put(packed, n, row);
    Ok(())
}

/// The row-major codes (`n·m` bytes) of the first `n` vectors of the block
/// layout `packed`: the inverse of [`pack`].
///
/// # Errors
/// [`KernelError::Pq4Codes`] when `m` is 0 or `packed` does not hold
/// exactly [`packed_len`]`(n, m)` bytes (checked before allocating).
pub fn unpack(packed: &[u8], m: usize, n: usize) -> Result<Vec<u8>, KernelError> {
    if m == 0 || packed.len() != packed_len(n, m) {
        return Err(KernelError::Pq4Codes {
            reason: format!(
                "{} bytes are not the block layout of {n} vectors of m = {m} codes",
                packed.len()
            ),
        });
    }
    let mut codes = vec![0u8; n * m];
    for (i, row) in codes.chunks_exact_mut(m).enumerate() {
        let block = &packed[(i / BLOCK) * block_bytes(m)..];
        let (j, shift) = (i % 16, if i % BLOCK < 16 { 0 } else { 4 });
        for (q, c) in row.iter_mut().enumerate() {
            *c = (block[q * 16 + j] >> shift) & 0x0F;
        }
    }
    Ok(codes)
}

/// Checks the shapes [`Kernels::pq4_fastscan`] needs: `out` a whole number
/// of blocks, `codes` exactly that many blocks and `luts` `16·m` bytes.
pub(crate) fn check_shape(
    codes: &[u8],
    luts: &[u8],
    m: usize,
    out: &[u16],
) -> Result<(), KernelError> {
    let blocks = out.len() / BLOCK;
    let ok = out.len().is_multiple_of(BLOCK)
        && Some(luts.len()) == m.checked_mul(16)
        && Some(codes.len()) == blocks.checked_mul(16).and_then(|b| b.checked_mul(m));
    if ok {
        Ok(())
    } else {
        Err(KernelError::Pq4Shape {
            m,
            codes_len: codes.len(),
            luts_len: luts.len(),
            out_len: out.len(),
        })
    }
}

/// The scalar reference (and the portable path's kernel): per block and
/// vector, the saturating sum of its codes' table entries. Shapes are
/// checked by the caller ([`check_shape`]).
pub(crate) fn fastscan_scalar(codes: &[u8], luts: &[u8], m: usize, out: &mut [u16]) {
    let bytes = block_bytes(m);
    for (b, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
        let block = &codes[b * bytes..(b + 1) * bytes];
        for (v, d) in dst.iter_mut().enumerate() {
            let (j, shift) = (v % 16, if v < 16 { 0 } else { 4 });
            *d = (0..m).fold(0u16, |acc, q| {
                let c = usize::from((block[q * 16 + j] >> shift) & 0x0F);
                acc.saturating_add(u16::from(luts[q * 16 + c]))
            });
        }
    }
}

impl Kernels {
    /// 4-bit PQ fast-scan: for each block of 32 vectors in `codes` (the
    /// [`pq4`](crate::pq4) layout, `16·m` bytes per block), writes to
    /// `out[32·b + v]` the saturating sum `min(Σ_q luts[16q + code_q], 65535)`
    /// of vector `v` of block `b` (exact for `m <= 257`).
    ///
    /// # Errors
    /// [`KernelError::Pq4Shape`] unless `out.len()` is a multiple of 32,
    /// `luts.len() == 16·m` and `codes.len() == out.len() / 32 · 16·m`.
    #[inline]
    pub fn pq4_fastscan(
        &self,
        codes: &[u8],
        luts: &[u8],
        m: usize,
        out: &mut [u16],
    ) -> Result<(), KernelError> {
        check_shape(codes, luts, m, out)?;
        self.pq4_fastscan_checked(codes, luts, m, out);
        Ok(())
    }
}

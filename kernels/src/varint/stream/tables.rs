//! Lookup tables indexed by a stream-vbyte control byte, built at compile
//! time. Code `k` (two bits) means a value of `k + 1` little-endian bytes;
//! the value `i` of a control byte uses bits `2i..2i+2`.

/// Sixteen bytes, aligned for vector loads.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct Lanes(pub [u8; 16]);

/// Four `u32`, aligned for vector loads.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct Words(pub [u32; 4]);

/// Length in bytes of the `i`-th value of control byte `c`.
#[inline(always)]
pub(crate) const fn value_len(c: u8, i: usize) -> usize {
    ((c >> (2 * i)) & 3) as usize + 1
}

/// `LENGTHS[c]`: total data bytes of the four values of control byte `c`.
pub(crate) static LENGTHS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let mut i = 0;
        while i < 4 {
            t[c] += value_len(c as u8, i) as u8;
            i += 1;
        }
        c += 1;
    }
    t
};

/// `SHUFFLE[c]`: byte shuffle that moves the four values of control byte
/// `c` from 16 data bytes into four `u32` lanes. Index `0xFF` yields a zero
/// byte, both for x86 `pshufb` (high bit set) and for NEON `tbl` (index out
/// of range).
pub(crate) static SHUFFLE: [Lanes; 256] = {
    let mut t = [Lanes([0xFF; 16]); 256];
    let mut c = 0;
    while c < 256 {
        let mut src = 0;
        let mut i = 0;
        while i < 4 {
            let len = value_len(c as u8, i);
            let mut j = 0;
            while j < len {
                t[c].0[4 * i + j] = src as u8;
                src += 1;
                j += 1;
            }
            i += 1;
        }
        c += 1;
    }
    t
};

/// `MINIMUM[c]`: the smallest value each of the four lengths of control
/// byte `c` may hold in canonical form (0 for one byte, `1 << 8(k)` for
/// `k + 1` bytes).
pub(crate) static MINIMUM: [Words; 256] = {
    let mut t = [Words([0; 4]); 256];
    let mut c = 0;
    while c < 256 {
        let mut i = 0;
        while i < 4 {
            let len = value_len(c as u8, i);
            t[c].0[i] = if len == 1 { 0 } else { 1u32 << (8 * (len - 1)) };
            i += 1;
        }
        c += 1;
    }
    t
};

/// `ENCODE_SHUFFLE[c]`: byte shuffle that packs four `u32` lanes (16
/// little-endian bytes) into the data bytes of control byte `c`: output
/// byte `j < LENGTHS[c]` takes input byte `4i + b` for the `b`-th byte of
/// value `i`. The rest are `0xFF` (zero bytes, overwritten by the next
/// group). The inverse of [`SHUFFLE`].
pub(crate) static ENCODE_SHUFFLE: [Lanes; 256] = {
    let mut t = [Lanes([0xFF; 16]); 256];
    let mut c = 0;
    while c < 256 {
        let mut dst = 0;
        let mut i = 0;
        while i < 4 {
            let len = value_len(c as u8, i);
            let mut b = 0;
            while b < len {
                t[c].0[dst] = (4 * i + b) as u8;
                dst += 1;
                b += 1;
            }
            i += 1;
        }
        c += 1;
    }
    t
};

#[cfg(test)]
mod tests;

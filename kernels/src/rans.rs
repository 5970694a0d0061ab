//! Interleaved rANS decoding: 16 coder states sharing one stream of 16-bit
//! words, the scalar reference of [`Kernels::rans16_decode`].
//!
//! The design is Fabian Giesen's interleaved rANS with 32-bit states and
//! 16-bit renormalisation (`ryg_rans`'s SIMD decoder, James Bonfield's
//! `rans_static_32x16`): each state lives in a SIMD lane, its symbol is
//! found by a gather from a table of one 32-bit [`entry`] per slot, and
//! the lanes whose state fell below `2^16` take the next words of the
//! shared stream, in lane order (an expand of the loaded words into those
//! lanes). Sixteen states fill two AVX2 registers or one AVX-512 one.
//!
//! # The step
//! Value `i` of a run is decoded by state `i mod 16`; the values of one
//! step (16 consecutive values) are decoded lane 0 first. With a table of
//! `2^log` entries (`log` in `1..=11`), a state `x` decodes as
//!
//! ```text
//! e = table[x & (2^log - 1)]
//! symbol = e >> 24
//! x = (e & 0xfff) * (x >> log) + ((e >> 12) & 0x7ff)     (mod 2^32)
//! if x < 2^16 { x = (x << 16) | words[pos]; pos += 1 }     (0 past the end)
//! ```
//!
//! so an entry holds the symbol's frequency (up to `2^11`), the slot's
//! distance from the symbol's first slot and the symbol (see [`entry`]).
//! A word read past the end of `words` is 0 and still advances `pos`: a
//! caller detects a truncated stream by the final position. Every path
//! computes exactly this, for any table and any states.
//!
//! An encoder (not here: it needs a division per value, and is the
//! codec's) runs the values backwards, lanes from 15 down to 0 within a
//! step, pushes a state's low 16 bits before coding into it whenever the
//! state is at least `freq << (32 - log)`, and reverses the words at the
//! end.
//!
//! ```
//! use unidb_kernels::{rans, Kernels};
//! # fn main() -> Result<(), unidb_kernels::KernelError> {
//! // Two symbols over 2^2 slots: symbol 0 in slots 0..3, symbol 1 in slot 3.
//! let table = [
//!     rans::entry(3, 0, 0),
//!     rans::entry(3, 1, 0),
//!     rans::entry(3, 2, 0),
//!     rans::entry(1, 0, 1),
//! ];
//! let mut states = [1u32 << 16 | 3; 16];
//! let words = [7u16; 16];
//! let mut out = [0u8; 16];
//! let pos = Kernels::active().rans16_decode(&table, &mut states, &words, 0, &mut out)?;
//! assert_eq!(out, [1; 16]); // slot 3 in every lane
//! // Each state became 1 * (x >> 2) + 0 = 2^14, below 2^16: it took a word.
//! assert_eq!(pos, 16);
//! assert_eq!(states, [1 << 30 | 7; 16]);
//! # Ok(()) }
//! ```

use crate::{KernelError, Kernels};

/// Coder states of [`Kernels::rans16_decode`].
pub const LANES: usize = 16;

/// Largest table size (log2) an [`entry`] can describe.
pub const MAX_LOG: u32 = 11;

/// The lower bound of a normalised state: a state below it takes a word.
pub const STATE_LOW: u32 = 1 << 16;

/// The table entry of one slot: symbol `sym` with frequency `freq`
/// (`1..=2^11`), the slot being the `bias`-th (`0..2^11`) of the symbol's
/// slots. Out-of-range arguments are masked to their fields.
pub const fn entry(freq: u32, bias: u32, sym: u8) -> u32 {
    (freq & 0xfff) | ((bias & 0x7ff) << 12) | ((sym as u32) << 24)
}

/// The reference decoder (see the module documentation); returns the new
/// word position. `table.len()` is a power of two in `2..=2^11`.
pub(crate) fn decode_scalar(
    table: &[u32],
    states: &mut [u32; LANES],
    words: &[u16],
    mut pos: usize,
    out: &mut [u8],
) -> usize {
    let log = table.len().trailing_zeros();
    let mask = table.len() as u32 - 1;
    for step in out.chunks_mut(LANES) {
        for (o, x) in step.iter_mut().zip(states.iter_mut()) {
            let e = table[(*x & mask) as usize];
            *o = (e >> 24) as u8;
            let mut y = (e & 0xfff)
                .wrapping_mul(*x >> log)
                .wrapping_add((e >> 12) & 0x7ff);
            if y < STATE_LOW {
                let w = words.get(pos).copied().unwrap_or(0);
                y = (y << 16) | u32::from(w);
                pos = pos.wrapping_add(1);
            }
            *x = y;
        }
    }
    pos
}

/// Checks the table [`Kernels::rans16_decode`] takes: `2^log` entries with
/// `log` in `1..=`[`MAX_LOG`].
pub(crate) fn check_table(table: &[u32]) -> Result<(), KernelError> {
    let n = table.len();
    if n.is_power_of_two() && (2..=1 << MAX_LOG).contains(&n) {
        Ok(())
    } else {
        Err(KernelError::RansTable { len: n })
    }
}

impl Kernels {
    /// Decodes `out.len()` symbols with the 16 interleaved rANS states
    /// `states` and the word stream `words` from word `pos` on, by the
    /// table `table` (see the [module documentation](crate::rans));
    /// returns the new word position (past `words.len()` when the stream
    /// ran out: those words read as 0). A last step of fewer than 16
    /// values uses the first lanes. Every path returns the same symbols,
    /// states and position as the scalar reference.
    ///
    /// # Errors
    /// [`KernelError::RansTable`] when `table.len()` is not a power of
    /// two in `2..=2^11`.
    pub fn rans16_decode(
        &self,
        table: &[u32],
        states: &mut [u32; LANES],
        words: &[u16],
        pos: usize,
        out: &mut [u8],
    ) -> Result<usize, KernelError> {
        check_table(table)?;
        Ok(self.rans16_decode_checked(table, states, words, pos, out))
    }
}

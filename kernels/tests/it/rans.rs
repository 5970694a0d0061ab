//! Interleaved rANS decoding: every path against the scalar reference on
//! arbitrary tables, states and word streams (truncated ones included),
//! and a round trip through an encoder written here from the textbook
//! rANS definition (exact division), whose symbols every path must give
//! back, ending in the encoder's initial states at the stream's end.

use crate::{all_paths, config};
use proptest::prelude::*;
use unidb_kernels::{rans, Isa, KernelError, Kernels};

/// The table of `freq` (summing to `2^log`): symbol `k`'s slots are
/// contiguous, from the sum of the frequencies before it.
fn table_of(freq: &[u32]) -> Vec<u32> {
    let mut t = Vec::new();
    for (k, &f) in freq.iter().enumerate() {
        for b in 0..f {
            t.push(rans::entry(f, b, k as u8));
        }
    }
    t
}

/// rANS encoding of `syms` with 16 states interleaved over one word
/// stream (value `i` in state `i % 16`): returns the final states and the
/// words in the order the decoder reads them.
fn encode(syms: &[u8], freq: &[u32], log: u32) -> ([u32; 16], Vec<u16>) {
    let cum: Vec<u64> = std::iter::once(0)
        .chain(freq.iter().scan(0u64, |c, &f| {
            *c += u64::from(f);
            Some(*c)
        }))
        .collect();
    let mut x = [u64::from(rans::STATE_LOW); 16];
    let mut words = Vec::new();
    for (i, &s) in syms.iter().enumerate().rev() {
        let (f, c) = (u64::from(freq[usize::from(s)]), cum[usize::from(s)]);
        let st = &mut x[i % 16];
        if *st >= f << (32 - log) {
            words.push(*st as u16);
            *st >>= 16;
        }
        *st = ((*st / f) << log) + *st % f + c;
    }
    words.reverse();
    (x.map(|s| u32::try_from(s).unwrap()), words)
}

/// Frequencies summing to `2^log` from positive weights.
fn freqs(weights: &[u32], log: u32) -> Vec<u32> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let l = 1u64 << log;
    let mut f: Vec<u32> = weights
        .iter()
        .map(|&w| ((u64::from(w) * l / total) as u32).max(1))
        .collect();
    while f.iter().map(|&x| u64::from(x)).sum::<u64>() > l {
        let k = (0..f.len()).max_by_key(|&k| f[k]).unwrap();
        f[k] -= 1;
    }
    let sum: u64 = f.iter().map(|&x| u64::from(x)).sum();
    f[0] += (l - sum) as u32;
    f
}

fn round_trip_case() -> impl Strategy<Value = (Vec<u32>, u32, Vec<u8>)> {
    (1u32..=11, prop::collection::vec(1u32..1000, 2..=20)).prop_flat_map(|(log, weights)| {
        let log = log.max(weights.len().next_power_of_two().trailing_zeros());
        let f = freqs(&weights, log);
        let n = f.len() as u8;
        (Just(f), Just(log), prop::collection::vec(0..n, 0..600))
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_path_decodes_what_the_encoder_wrote((freq, log, syms) in round_trip_case()) {
        let table = table_of(&freq);
        prop_assert_eq!(table.len(), 1 << log);
        // Symbols drawn uniformly, whatever their frequency: the coder
        // must be exact for any sequence, not only for a typical one.
        let (states, words) = encode(&syms, &freq, log);
        for k in all_paths() {
            let mut s = states;
            let mut out = vec![0xEEu8; syms.len()];
            let pos = k.rans16_decode(&table, &mut s, &words, 0, &mut out).unwrap();
            prop_assert_eq!(&out, &syms, "path {}", k.isa());
            prop_assert_eq!(pos, words.len(), "path {}", k.isa());
            prop_assert_eq!(s, [rans::STATE_LOW; 16], "path {}", k.isa());
            // In pieces of any size (a batch at a time), the same.
            let mut s = states;
            let (mut pos, mut at) = (0, 0);
            let mut out = vec![0u8; syms.len()];
            while at < syms.len() {
                let n = (16 * (1 + at % 5)).min(syms.len() - at);
                pos = k.rans16_decode(&table, &mut s, &words, pos, &mut out[at..at + n]).unwrap();
                at += n;
            }
            prop_assert_eq!(&out, &syms, "path {} in pieces", k.isa());
        }
    }

    #[test]
    fn every_path_equals_the_scalar_reference_on_any_input(
        log in 1u32..=11,
        entries in prop::collection::vec(any::<u32>(), 2048),
        states in prop::array::uniform16(any::<u32>()),
        words in prop::collection::vec(any::<u16>(), 0..200),
        pos in 0usize..220,
        n in 0usize..300,
    ) {
        let table = &entries[..1 << log];
        let scalar = Kernels::for_isa(Isa::Scalar).unwrap();
        let mut want_s = states;
        let mut want = vec![0u8; n];
        let want_pos = scalar.rans16_decode(table, &mut want_s, &words, pos, &mut want).unwrap();
        for k in all_paths() {
            let mut s = states;
            let mut out = vec![0xEEu8; n];
            let p = k.rans16_decode(table, &mut s, &words, pos, &mut out).unwrap();
            prop_assert_eq!(&out, &want, "path {}", k.isa());
            prop_assert_eq!(s, want_s, "path {}", k.isa());
            prop_assert_eq!(p, want_pos, "path {}", k.isa());
        }
    }
}

#[test]
fn tables_of_other_sizes_are_refused() {
    for len in [0usize, 1, 3, 100, 4096] {
        let table = vec![rans::entry(1, 0, 0); len];
        for k in all_paths() {
            let mut s = [rans::STATE_LOW; 16];
            let err = k
                .rans16_decode(&table, &mut s, &[], 0, &mut [0; 16])
                .unwrap_err();
            assert_eq!(err, KernelError::RansTable { len });
        }
    }
}

#[test]
fn a_skewed_long_run_round_trips_on_every_path() {
    // 100 000 symbols of a 2047:1 distribution: long stretches without a
    // word (states shrink slowly), then refills.
    let freq = [2047u32, 1];
    // Fewer under Miri, which interprets every step.
    let n = if cfg!(miri) { 12_000 } else { 100_000 };
    let syms: Vec<u8> = (0..n).map(|i| u8::from(i % 3000 == 7)).collect();
    let (states, words) = encode(&syms, &freq, 11);
    let table = table_of(&freq);
    for k in all_paths() {
        let mut s = states;
        let mut out = vec![0u8; syms.len()];
        let pos = k
            .rans16_decode(&table, &mut s, &words, 0, &mut out)
            .unwrap();
        assert_eq!(out, syms, "path {}", k.isa());
        assert_eq!((pos, s), (words.len(), [rans::STATE_LOW; 16]));
    }
}

//! The 4-bit PQ fast-scan layout and kernel: every path against the scalar
//! reference, and the scalar reference against a naive sum over the
//! row-major codes (which never sees the block layout).
//!
//! Paths this CPU lacks are skipped because `Kernels::for_isa` returns
//! `None` for them.

use crate::{all_paths, config};
use proptest::prelude::*;
use unidb_kernels::{pq4, KernelError};

/// The oracle: for vector `i < n` the saturating sum of its codes' entries,
/// for the padding vectors of the last block the sum of entries 0.
fn naive(codes: &[u8], luts: &[u8], m: usize, n: usize) -> Vec<u16> {
    let padded = n.div_ceil(pq4::BLOCK) * pq4::BLOCK;
    (0..padded)
        .map(|i| {
            let sum: u64 = (0..m)
                .map(|q| {
                    let c = if i < n { codes[i * m + q] } else { 0 };
                    u64::from(luts[q * 16 + usize::from(c)])
                })
                .sum();
            sum.min(u64::from(u16::MAX)) as u16
        })
        .collect()
}

/// Packs, checks the round trip, scores on every path and compares each
/// with the oracle exactly.
fn check_all(codes: &[u8], luts: &[u8], m: usize) -> Result<(), TestCaseError> {
    let n = codes.len() / m;
    let mut packed = vec![0xAB]; // `pack` appends
    pq4::pack(codes, m, &mut packed).unwrap();
    prop_assert_eq!(packed[0], 0xAB);
    let packed = &packed[1..];
    prop_assert_eq!(packed.len(), pq4::packed_len(n, m));
    prop_assert_eq!(pq4::unpack(packed, m, n).unwrap(), codes);
    let want = naive(codes, luts, m, n);
    for k in all_paths() {
        let mut out = vec![0x5555u16; want.len()];
        k.pq4_fastscan(packed, luts, m, &mut out).unwrap();
        prop_assert_eq!(&out, &want, "path {}, m = {}, n = {}", k.isa(), m, n);
    }
    Ok(())
}

fn case(max_m: usize, max_n: usize) -> impl Strategy<Value = (Vec<u8>, Vec<u8>, usize)> {
    (1..=max_m, 0..=max_n).prop_flat_map(|(m, n)| {
        (
            proptest::collection::vec(0u8..16, n * m),
            proptest::collection::vec(any::<u8>(), 16 * m),
            Just(m),
        )
    })
}

proptest! {
    #![proptest_config(config())]

    /// Odd and even `m` (every AVX2 and AVX-512 tail), partial last blocks.
    #[test]
    fn every_path_matches_the_naive_sum((codes, luts, m) in case(40, 100)) {
        check_all(&codes, &luts, m)?;
    }

    /// Large `m` with full-range tables: sums past 65535 saturate alike.
    #[test]
    fn large_m_saturates_alike((codes, luts, m) in case(400, 40)) {
        check_all(&codes, &luts, m)?;
    }
}

#[test]
fn saturation_starts_exactly_past_65535() {
    for m in [256usize, 257, 258, 600] {
        let luts = vec![255u8; 16 * m];
        let codes: Vec<u8> = (0..33 * m).map(|i| (i % 16) as u8).collect();
        let mut packed = Vec::new();
        pq4::pack(&codes, m, &mut packed).unwrap();
        let want = (255 * m).min(65535) as u16;
        for k in all_paths() {
            let mut out = vec![0u16; 64];
            k.pq4_fastscan(&packed, &luts, m, &mut out).unwrap();
            assert!(out.iter().all(|&v| v == want), "path {}, m = {m}", k.isa());
        }
    }
}

#[test]
fn layout_puts_vectors_j_and_j_plus_16_in_one_byte() {
    // 40 vectors of m = 2: vector i has codes (i % 16, 15 - i % 16).
    let m = 2;
    let codes: Vec<u8> = (0..40)
        .flat_map(|i| [(i % 16) as u8, 15 - (i % 16) as u8])
        .collect();
    let mut packed = Vec::new();
    pq4::pack(&codes, m, &mut packed).unwrap();
    assert_eq!(packed.len(), 2 * 32);
    // Block 0, sub-quantizer 0, byte 3: vector 3 (code 3) low, vector 19 (code 3) high.
    assert_eq!(packed[3], 0x33);
    // Block 0, sub-quantizer 1, byte 3: codes 12 and 12.
    assert_eq!(packed[16 + 3], 0xCC);
    // Block 1 holds vectors 32..40, then padding.
    assert_eq!(packed[32], 0x00); // vector 32: code 0, padding vector 48: 0
    assert_eq!(packed[32 + 7], 0x07); // vector 39: code 7
    assert_eq!(packed[32 + 8], 0x00); // padding
    assert_eq!(packed[32 + 16 + 7], 0x08); // vector 39, second code 15 - 7
}

#[test]
fn zero_sub_quantizers_give_zeros() {
    for k in all_paths() {
        let mut out = vec![7u16; 64];
        k.pq4_fastscan(&[], &[], 0, &mut out).unwrap();
        assert!(out.iter().all(|&v| v == 0));
    }
}

#[test]
fn bad_shapes_are_errors_on_every_path() {
    let m = 3;
    let luts = vec![1u8; 48];
    let codes = vec![0u8; 48];
    for k in all_paths() {
        let shape = |r: Result<(), KernelError>| matches!(r, Err(KernelError::Pq4Shape { .. }));
        assert!(shape(k.pq4_fastscan(&codes, &luts, m, &mut [0; 31])));
        assert!(shape(k.pq4_fastscan(&codes, &luts, m, &mut [0; 64])));
        assert!(shape(k.pq4_fastscan(&codes, &luts[1..], m, &mut [0; 32])));
        assert!(shape(k.pq4_fastscan(&codes[1..], &luts, m, &mut [0; 32])));
        assert!(shape(k.pq4_fastscan(
            &codes,
            &luts,
            usize::MAX,
            &mut [0; 32]
        )));
        assert!(k.pq4_fastscan(&codes, &luts, m, &mut [0; 32]).is_ok());
    }
}

#[test]
fn bad_codes_are_errors_naming_the_problem() {
    let mut out = Vec::new();
    let e = pq4::pack(&[1, 2, 16, 3], 2, &mut out).unwrap_err();
    assert!(e.to_string().contains("index 2"), "{e}");
    assert!(out.is_empty());
    assert!(matches!(
        pq4::pack(&[1, 2, 3], 2, &mut out),
        Err(KernelError::Pq4Codes { .. })
    ));
    assert!(pq4::pack(&[], 0, &mut out).is_err());
    assert!(pq4::unpack(&[0; 16], 1, 33).is_err());
    assert!(pq4::unpack(&[0; 16], 0, 0).is_err());
    assert_eq!(pq4::unpack(&[], 3, 0).unwrap(), Vec::<u8>::new());
}

#[test]
fn pushing_vectors_one_by_one_equals_packing_them() {
    // Oracle: `pack` of all the codes at once, checked by the layout test.
    for (m, n) in [(1usize, 1usize), (3, 31), (4, 32), (5, 33), (8, 70)] {
        let codes: Vec<u8> = (0..n * m).map(|i| ((i * 7 + i / 3) % 16) as u8).collect();
        let mut pushed = Vec::new();
        for (i, row) in codes.chunks_exact(m).enumerate() {
            pq4::push(&mut pushed, i, row).unwrap();
        }
        let mut packed = Vec::new();
        pq4::pack(&codes, m, &mut packed).unwrap();
        assert_eq!(pushed, packed, "m={m} n={n}");
    }
    // A code of 16, an empty row, or a row of another m (so a layout of
    // another length): refused, the layout unchanged.
    let mut packed = Vec::new();
    pq4::pack(&[1, 2, 3], 3, &mut packed).unwrap();
    let before = packed.clone();
    for (n, row) in [(1usize, &[1u8, 16, 0][..]), (1, &[][..]), (1, &[1, 2][..])] {
        let err = pq4::push(&mut packed, n, row).unwrap_err();
        assert!(matches!(err, KernelError::Pq4Codes { .. }), "{err}");
        assert_eq!(packed, before);
    }
}

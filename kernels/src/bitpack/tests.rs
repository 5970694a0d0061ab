use super::*;

/// Independent oracle: bit-by-bit.
fn oracle_pack(values: &[u64], width: u32) -> Vec<u8> {
    let mut out = vec![0u8; packed_len(values.len(), width)];
    for (i, &v) in values.iter().enumerate() {
        for b in 0..width as usize {
            if (v >> b) & 1 == 1 {
                let bit = i * width as usize + b;
                out[bit / 8] |= 1 << (bit % 8);
            }
        }
    }
    out
}

fn oracle_unpack(input: &[u8], count: usize, width: u32) -> Vec<u64> {
    (0..count)
        .map(|i| {
            (0..width as usize).fold(0u64, |acc, b| {
                let bit = i * width as usize + b;
                acc | (u64::from((input[bit / 8] >> (bit % 8)) & 1) << b)
            })
        })
        .collect()
}

/// Deterministic values of exactly `width` bits at most, with the top
/// bit hit often.
fn values(count: usize, width: u32, seed: u64) -> Vec<u64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = if i % 5 == 0 { u64::MAX } else { s };
            v & low_mask(width)
        })
        .collect()
}

// Miri interprets every bit operation: keep its sweep small.
const LENS: &[usize] = if cfg!(miri) {
    &[0, 1, 7, 33]
} else {
    &[0, 1, 7, 31, 33, 1023]
};

#[test]
fn u32_every_width_and_length_matches_oracle_on_every_path() {
    for width in 0..=32u32 {
        for &n in LENS {
            let v64 = values(n, width, u64::from(width) * 1000 + n as u64);
            let v32: Vec<u32> = v64.iter().map(|&v| v as u32).collect();
            let mut packed = Vec::new();
            pack_u32(&v32, width, &mut packed).unwrap();
            assert_eq!(packed, oracle_pack(&v64, width), "pack w={width} n={n}");
            let oracle: Vec<u32> = oracle_unpack(&packed, n, width)
                .into_iter()
                .map(|v| v as u32)
                .collect();
            assert_eq!(oracle, v32);
            let scalar = unpack_u32_with(Isa::Scalar, &packed, n, width).unwrap();
            assert_eq!(scalar, v32, "scalar w={width} n={n}");
            for isa in Isa::available() {
                let got = unpack_u32_with(isa, &packed, n, width).unwrap();
                assert_eq!(got, scalar, "{isa} w={width} n={n}");
            }
            assert_eq!(unpack_u32(&packed, n, width).unwrap(), v32);
            let mut into = vec![7u32; n];
            assert_eq!(
                unpack_u32_into(&packed, width, &mut into).unwrap(),
                packed.len()
            );
            assert_eq!(into, v32);
            for isa in Isa::available() {
                let mut into = vec![7u32; n];
                assert_eq!(
                    unpack_u32_into_with(isa, &packed, width, &mut into).unwrap(),
                    packed.len()
                );
                assert_eq!(into, v32, "{isa} into w={width} n={n}");
            }
        }
    }
}

#[test]
fn u32_unpack_with_trailing_bytes_and_offsets() {
    // Extra bytes after the run must not change the result, on any path.
    for width in [1u32, 9, 25, 26, 31, 32] {
        let v: Vec<u32> = values(100, width, 3).iter().map(|&x| x as u32).collect();
        let mut packed = Vec::new();
        pack_u32(&v, width, &mut packed).unwrap();
        packed.extend_from_slice(&[0xFF; 16]);
        for isa in Isa::available() {
            assert_eq!(unpack_u32_with(isa, &packed, 100, width).unwrap(), v);
        }
    }
}

/// Offsets of the packed run in its buffer.
const SHIFTS: &[usize] = if cfg!(miri) {
    &[0, 3]
} else {
    &[0, 1, 3, 7, 15]
};

#[test]
fn u32_unaligned_input_and_extreme_values_on_every_path() {
    // The packed run starts at every offset 0..16 of a buffer (so vector
    // loads see every alignment); values are all-ones of the width, all
    // zeros, or alternating extremes.
    // Miri interprets every shuffle: a sample of the widths there.
    let widths: Vec<u32> = if cfg!(miri) {
        vec![0, 1, 7, 8, 13, 25, 26, 32]
    } else {
        (0..=32).collect()
    };
    for width in widths {
        let max = low_mask(width) as u32;
        for &n in LENS {
            let shapes: [Vec<u32>; 3] = [
                vec![max; n],
                vec![0; n],
                (0..n).map(|i| if i % 2 == 0 { max } else { 0 }).collect(),
            ];
            for v in &shapes {
                let mut packed = Vec::new();
                pack_u32(v, width, &mut packed).unwrap();
                for &shift in SHIFTS {
                    let mut buf = vec![0xA5u8; shift];
                    buf.extend_from_slice(&packed);
                    let input = &buf[shift..];
                    let scalar = unpack_u32_with(Isa::Scalar, input, n, width).unwrap();
                    assert_eq!(&scalar, v, "scalar w={width} n={n} shift={shift}");
                    for isa in Isa::available() {
                        let got = unpack_u32_with(isa, input, n, width).unwrap();
                        assert_eq!(got, scalar, "{isa} w={width} n={n} shift={shift}");
                    }
                }
            }
        }
    }
}

#[test]
fn u64_every_width_and_length_matches_oracle() {
    for width in 0..=64u32 {
        for &n in LENS {
            let v = values(n, width, u64::from(width) * 7 + n as u64);
            let mut packed = Vec::new();
            pack_u64(&v, width, &mut packed).unwrap();
            assert_eq!(packed, oracle_pack(&v, width), "pack w={width} n={n}");
            assert_eq!(unpack_u64(&packed, n, width).unwrap(), v, "w={width} n={n}");
            assert_eq!(oracle_unpack(&packed, n, width), v);
        }
    }
}

#[test]
fn errors_are_typed() {
    assert_eq!(
        pack_u32(&[1], 33, &mut Vec::new()),
        Err(BitpackError::WidthTooLarge { width: 33, max: 32 })
    );
    assert_eq!(
        pack_u32(&[0, 8], 3, &mut Vec::new()),
        Err(BitpackError::ValueTooWide {
            index: 1,
            value: 8,
            width: 3
        })
    );
    assert!(matches!(
        pack_u64(&[1 << 40], 40, &mut Vec::new()),
        Err(BitpackError::ValueTooWide { index: 0, .. })
    ));
    assert!(matches!(
        unpack_u64(&[], 1, 65),
        Err(BitpackError::WidthTooLarge { .. })
    ));
    // A huge count in a tiny input errors before allocating.
    assert!(matches!(
        unpack_u32(&[0; 20], 1 << 40, 5),
        Err(BitpackError::Truncated { available: 20, .. })
    ));
    assert!(matches!(
        unpack_u64(&[0; 20], usize::MAX, 64),
        Err(BitpackError::Truncated {
            needed: usize::MAX,
            ..
        })
    ));
    // Width 0 needs no bytes for any count.
    assert_eq!(unpack_u32(&[], 3, 0).unwrap(), vec![0, 0, 0]);
    // Every truncation of a packed run is rejected.
    let v: Vec<u32> = (0..40).collect();
    let mut packed = Vec::new();
    pack_u32(&v, 6, &mut packed).unwrap();
    for cut in 0..packed.len() {
        for isa in Isa::available() {
            assert!(matches!(
                unpack_u32_with(isa, &packed[..cut], 40, 6),
                Err(BitpackError::Truncated { .. })
            ));
        }
    }
}

#[test]
fn widths() {
    assert_eq!(width_u32(&[]), 0);
    assert_eq!(width_u32(&[0, 0]), 0);
    assert_eq!(width_u32(&[1, 2, 4]), 3);
    assert_eq!(width_u32(&[u32::MAX]), 32);
    assert_eq!(width_u64(&[u64::MAX]), 64);
    assert_eq!(width_u64(&[1 << 40]), 41);
}

/// Lengths of the pack sweep: around the 8-value blocks and the 32-byte
/// store window, and long runs.
const PACK_LENS: &[usize] = if cfg!(miri) {
    &[0, 1, 9, 33]
} else {
    &[0, 1, 7, 8, 9, 15, 16, 31, 33, 127, 1023, 1536]
};

/// Widths of the pack sweep (Miri interprets every bit operation).
fn pack_widths() -> Vec<u32> {
    if cfg!(miri) {
        vec![0, 1, 3, 8, 11, 27, 31, 32]
    } else {
        (0..=32).collect()
    }
}

/// Packs `v` on `isa` three ways (appending to a non-empty `Vec`, into
/// a longer slice full of garbage, into an exact slice full of garbage)
/// and checks each against `want`; then unpacks on the same path.
fn check_pack_on(isa: Isa, v: &[u32], width: u32, want: &[u8], what: &str) {
    let mut appended = vec![0x5A, 0xC3];
    pack_u32_with(isa, v, width, &mut appended).unwrap();
    assert_eq!(&appended[..2], &[0x5A, 0xC3], "{isa} {what}: prefix");
    assert_eq!(&appended[2..], want, "{isa} {what}: append");
    let mut longer = vec![0xFFu8; want.len() + 40];
    assert_eq!(
        pack_u32_into_with(isa, v, width, &mut longer).unwrap(),
        want.len()
    );
    assert_eq!(&longer[..want.len()], want, "{isa} {what}: into");
    assert!(
        longer[want.len()..].iter().all(|&b| b == 0xFF),
        "{isa} {what}: wrote past the run"
    );
    // The table entry itself, on an exact slice of garbage.
    let mut exact = vec![0xFFu8; want.len()];
    Kernels::for_isa(isa)
        .unwrap()
        .pack_u32(v, width, &mut exact);
    assert_eq!(exact, want, "{isa} {what}: exact garbage slice");
    assert_eq!(
        unpack_u32_with(isa, want, v.len(), width).unwrap(),
        v,
        "{isa} {what}: round trip"
    );
}

#[test]
fn pack_u32_every_path_matches_scalar_and_oracle() {
    for width in pack_widths() {
        let max = low_mask(width) as u32;
        for &n in PACK_LENS {
            let random: Vec<u32> = values(n, width, u64::from(width) * 31 + n as u64)
                .iter()
                .map(|&x| x as u32)
                .collect();
            let shapes: [(&str, Vec<u32>); 4] = [
                ("random", random),
                ("ones", vec![max; n]),
                ("zeros", vec![0; n]),
                (
                    "alternating",
                    (0..n).map(|i| if i % 2 == 0 { max } else { 0 }).collect(),
                ),
            ];
            for (shape, v) in &shapes {
                let v64: Vec<u64> = v.iter().map(|&x| u64::from(x)).collect();
                let want = oracle_pack(&v64, width);
                assert_eq!(want.len(), packed_len(n, width));
                let mut scalar = vec![0xFFu8; want.len()];
                pack_u32_scalar(v, width, &mut scalar);
                assert_eq!(scalar, want, "reference w={width} n={n} {shape}");
                // The values start at offsets 0..=3 of a bigger buffer, so
                // vector loads see every alignment (a sample under Miri).
                let shifts: &[usize] = if cfg!(miri) { &[0, 3] } else { &[0, 1, 2, 3] };
                for &shift in shifts {
                    let mut buf = vec![u32::MAX; shift];
                    buf.extend_from_slice(v);
                    let v = &buf[shift..];
                    let what = format!("w={width} n={n} {shape} shift={shift}");
                    for isa in Isa::available() {
                        check_pack_on(isa, v, width, &want, &what);
                    }
                    let mut active = Vec::new();
                    pack_u32(v, width, &mut active).unwrap();
                    assert_eq!(active, want, "active {what}");
                    let mut into = vec![0xFFu8; want.len()];
                    assert_eq!(pack_u32_into(v, width, &mut into).unwrap(), want.len());
                    assert_eq!(into, want, "active into {what}");
                }
            }
        }
    }
}

#[test]
fn pack_u32_errors_leave_the_output_alone() {
    for isa in Isa::available() {
        // The first value too wide is reported, and nothing is appended.
        let mut out = vec![9u8];
        assert_eq!(
            pack_u32_with(isa, &[0, 1, 9, 3, 200, 8], 3, &mut out),
            Err(BitpackError::ValueTooWide {
                index: 2,
                value: 9,
                width: 3
            })
        );
        assert_eq!(out, [9]);
        // Width 0 takes only zeros.
        assert!(matches!(
            pack_u32_with(isa, &[0, 0, 1], 0, &mut out),
            Err(BitpackError::ValueTooWide { index: 2, .. })
        ));
        assert_eq!(
            pack_u32_with(isa, &[1], 33, &mut out),
            Err(BitpackError::WidthTooLarge { width: 33, max: 32 })
        );
        assert_eq!(out, [9]);
        // A too-wide value far into a long run (past many SIMD blocks).
        let mut v = vec![(1u32 << 11) - 1; 1000];
        v[777] = 1 << 11;
        let mut slice = [0xEEu8; 2000];
        assert_eq!(
            pack_u32_into_with(isa, &v, 11, &mut slice),
            Err(BitpackError::ValueTooWide {
                index: 777,
                value: 1 << 11,
                width: 11
            })
        );
        // A slice one byte short is rejected before anything is written.
        let v: Vec<u32> = (0..20).collect();
        let needed = packed_len(20, 5);
        let mut short = vec![0xEEu8; needed - 1];
        assert_eq!(
            pack_u32_into_with(isa, &v, 5, &mut short),
            Err(BitpackError::OutputTooSmall {
                count: 20,
                width: 5,
                needed,
                available: needed - 1
            })
        );
        assert!(short.iter().chain(&slice).all(|&b| b == 0xEE));
        // Width 0 writes nothing, whatever the count.
        assert_eq!(pack_u32_into_with(isa, &[0; 100], 0, &mut []), Ok(0));
        pack_u32_with(isa, &[0; 100], 0, &mut out).unwrap();
        assert_eq!(out, [9]);
    }
    for isa in Isa::ALL {
        if !isa.is_available() {
            assert_eq!(
                pack_u32_with(isa, &[1], 1, &mut Vec::new()),
                Err(BitpackError::UnavailableIsa(isa))
            );
            assert_eq!(
                pack_u32_into_with(isa, &[1], 1, &mut [0]),
                Err(BitpackError::UnavailableIsa(isa))
            );
        }
    }
}

proptest::proptest! {
    #[test]
    fn pack_random_every_path(
        raw in proptest::collection::vec(proptest::num::u32::ANY, 0..600),
        width in 0u32..=32,
        shift in 0usize..4,
    ) {
        let v: Vec<u32> = raw.iter().map(|&x| (u64::from(x) & low_mask(width)) as u32).collect();
        let v64: Vec<u64> = v.iter().map(|&x| u64::from(x)).collect();
        let want = oracle_pack(&v64, width);
        let mut buf = vec![7u32; shift];
        buf.extend_from_slice(&v);
        let v = &buf[shift..];
        let mut scalar = vec![0xFFu8; want.len()];
        pack_u32_scalar(v, width, &mut scalar);
        proptest::prop_assert_eq!(&scalar, &want);
        for isa in Isa::available() {
            let mut got = vec![0xFFu8; want.len() + 3];
            proptest::prop_assert_eq!(pack_u32_into_with(isa, v, width, &mut got), Ok(want.len()));
            proptest::prop_assert_eq!(&got[..want.len()], &want[..]);
            proptest::prop_assert_eq!(&got[want.len()..], &[0xFF; 3][..]);
            proptest::prop_assert_eq!(&unpack_u32_with(isa, &want, v.len(), width).unwrap(), v);
        }
    }
}

proptest::proptest! {
    #[test]
    fn round_trip_random(v in proptest::collection::vec(proptest::num::u32::ANY, 0..300), width in 0u32..=32) {
        let v: Vec<u32> = v.into_iter().map(|x| (u64::from(x) & low_mask(width)) as u32).collect();
        let mut packed = Vec::new();
        pack_u32(&v, width, &mut packed).unwrap();
        for isa in Isa::available() {
            proptest::prop_assert_eq!(&unpack_u32_with(isa, &packed, v.len(), width).unwrap(), &v);
        }
    }
}

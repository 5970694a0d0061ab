//! LEB128, zigzag and stream-vbyte: known vectors, round trips, rejection of
//! malformed input, and every available stream-vbyte path against the scalar
//! reference.

use proptest::prelude::*;
use unidb_kernels::varint::{self, stream, VarintError};
use unidb_kernels::Isa;

/// Smaller inputs under Miri, which is slow.
const BIG: usize = if cfg!(miri) { 40 } else { 1023 };
/// Longest random sequence in property tests.
const LONG: usize = if cfg!(miri) { 24 } else { 300 };

// ---------------------------------------------------------------- oracles

/// LEB128 by its definition: `len = ceil(bits / 7)` bytes, byte `i` holds
/// bits `7i..7i+7` and a continuation bit unless it is the last.
fn leb128_oracle(v: u64) -> Vec<u8> {
    let bits = 64 - v.leading_zeros() as usize;
    let len = bits.div_ceil(7).max(1);
    (0..len)
        .map(|i| {
            let group = ((v >> (7 * i)) & 0x7F) as u8;
            if i + 1 < len {
                group | 0x80
            } else {
                group
            }
        })
        .collect()
}

/// Stream-vbyte by its definition (reference C layout).
fn stream_oracle(values: &[u32], delta: Option<u32>) -> Vec<u8> {
    let mut ctrl = vec![0u8; values.len().div_ceil(4)];
    let mut data = Vec::new();
    let mut prev = delta.unwrap_or(0);
    for (i, &v) in values.iter().enumerate() {
        let v = match delta {
            Some(_) => {
                let d = v.wrapping_sub(prev);
                prev = v;
                d
            }
            None => v,
        };
        let len = match v {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            0x1_0000..=0xFF_FFFF => 3,
            _ => 4,
        };
        ctrl[i / 4] |= ((len - 1) as u8) << (2 * (i % 4));
        data.extend_from_slice(&v.to_le_bytes()[..len]);
    }
    ctrl.extend_from_slice(&data);
    ctrl
}

/// Values of mixed magnitudes: mostly small, some medium, a few of any size.
fn mixed_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..128,
        3 => 0u32..(1 << 14),
        1 => 0u32..(1 << 24),
        2 => any::<u32>(),
        1 => prop_oneof![Just(0u32), Just(255), Just(256), Just(65_535), Just(65_536),
                         Just((1 << 24) - 1), Just(1 << 24), Just(u32::MAX)],
    ]
}

fn mixed_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..128,
        2 => 0u64..(1 << 14),
        2 => any::<u64>(),
        1 => (0u32..64).prop_map(|s| 1u64 << s),
        1 => (0u32..64).prop_map(|s| (1u64 << s) - 1),
        1 => Just(u64::MAX),
    ]
}

/// Copies `bytes` to offset `shift` of a fresh buffer, so decoders see a
/// slice that starts at an arbitrary alignment.
fn unaligned(bytes: &[u8], shift: usize) -> (Vec<u8>, usize) {
    let mut buf = vec![0xA5u8; shift];
    buf.extend_from_slice(bytes);
    (buf, shift)
}

/// Decodes with every available stream-vbyte path, asserting they all agree
/// with the scalar reference, and returns the reference's result.
fn decode_all_paths(
    bytes: &[u8],
    count: usize,
    delta: Option<u32>,
) -> Result<Vec<u32>, VarintError> {
    let reference = match delta {
        None => stream::decode_u32_with(Isa::Scalar, bytes, count),
        Some(init) => stream::decode_u32_delta_with(Isa::Scalar, bytes, count, init),
    };
    for isa in Isa::available() {
        let got = match delta {
            None => stream::decode_u32_with(isa, bytes, count),
            Some(init) => stream::decode_u32_delta_with(isa, bytes, count, init),
        };
        assert_eq!(got, reference, "path {isa}, count {count}, delta {delta:?}");
    }
    reference
}

// ---------------------------------------------------------------- LEB128

#[test]
fn leb128_known_vectors() {
    let enc = |v: u64| {
        let mut out = Vec::new();
        varint::encode_u64(v, &mut out);
        out
    };
    assert_eq!(enc(0), [0x00]);
    assert_eq!(enc(1), [0x01]);
    assert_eq!(enc(127), [0x7F]);
    assert_eq!(enc(128), [0x80, 0x01]);
    assert_eq!(enc(300), [0xAC, 0x02]);
    assert_eq!(enc(16_384), [0x80, 0x80, 0x01]);
    assert_eq!(
        enc(u64::MAX),
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
    );
    let mut out = Vec::new();
    varint::encode_u32(u32::MAX, &mut out);
    assert_eq!(out, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);

    assert_eq!(varint::decode_u64(&[0xAC, 0x02, 0xFF]).unwrap(), (300, 2));
    assert_eq!(
        varint::decode_u64(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).unwrap(),
        (u64::MAX, 10)
    );
    assert_eq!(
        varint::decode_u32(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).unwrap(),
        (u32::MAX, 5)
    );
    assert_eq!(varint::encoded_len_u64(0), 1);
    assert_eq!(varint::encoded_len_u64(u64::MAX), 10);
}

#[test]
fn zigzag_known_vectors() {
    assert_eq!(varint::zigzag_encode_i64(0), 0);
    assert_eq!(varint::zigzag_encode_i64(-1), 1);
    assert_eq!(varint::zigzag_encode_i64(1), 2);
    assert_eq!(varint::zigzag_encode_i64(-2), 3);
    assert_eq!(varint::zigzag_encode_i64(i64::MAX), u64::MAX - 1);
    assert_eq!(varint::zigzag_encode_i64(i64::MIN), u64::MAX);
    assert_eq!(varint::zigzag_encode_i32(-1), 1);
    assert_eq!(varint::zigzag_encode_i32(1), 2);
    assert_eq!(varint::zigzag_encode_i32(i32::MIN), u32::MAX);
    assert_eq!(varint::zigzag_decode_i64(u64::MAX), i64::MIN);
    assert_eq!(varint::zigzag_decode_i32(3), -2);
}

#[test]
fn leb128_rejects_each_malformed_form() {
    use VarintError::*;
    // Truncated.
    assert_eq!(
        varint::decode_u64(&[]),
        Err(Truncated {
            start: 0,
            offset: 0
        })
    );
    assert_eq!(
        varint::decode_u64(&[0x80]),
        Err(Truncated {
            start: 0,
            offset: 1
        })
    );
    assert_eq!(
        varint::decode_u32(&[0xFF, 0xFF, 0xFF]),
        Err(Truncated {
            start: 0,
            offset: 3
        })
    );
    // Too long: the 10th (u64) / 5th (u32) byte continues.
    let mut long = vec![0xFFu8; 10];
    assert_eq!(
        varint::decode_u64(&long),
        Err(TooLong {
            start: 0,
            offset: 9,
            max_len: 10
        })
    );
    long.push(0x01);
    assert_eq!(
        varint::decode_u64(&long),
        Err(TooLong {
            start: 0,
            offset: 9,
            max_len: 10
        })
    );
    assert_eq!(
        varint::decode_u32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
        Err(TooLong {
            start: 0,
            offset: 4,
            max_len: 5
        })
    );
    // Overflow: bits beyond 64 / 32 in the last byte.
    let mut over = vec![0xFFu8; 9];
    over.push(0x02);
    assert_eq!(
        varint::decode_u64(&over),
        Err(Overflow {
            start: 0,
            offset: 9,
            bits: 64
        })
    );
    assert_eq!(
        varint::decode_u32(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10]),
        Err(Overflow {
            start: 0,
            offset: 4,
            bits: 32
        })
    );
    // Non-canonical: a redundant trailing zero byte.
    assert_eq!(
        varint::decode_u64(&[0x80, 0x00]),
        Err(NonCanonical {
            start: 0,
            offset: 1
        })
    );
    assert_eq!(
        varint::decode_u32(&[0xAC, 0x82, 0x00]),
        Err(NonCanonical {
            start: 0,
            offset: 2
        })
    );
    let mut padded = vec![0x80u8; 9];
    padded.push(0x00);
    assert_eq!(
        varint::decode_u64(&padded),
        Err(NonCanonical {
            start: 0,
            offset: 9
        })
    );
    // A u64 value is too big for u32.
    let mut big = Vec::new();
    varint::encode_u64(1 << 32, &mut big);
    assert_eq!(
        varint::decode_u32(&big),
        Err(Overflow {
            start: 0,
            offset: 4,
            bits: 32
        })
    );
}

#[test]
fn bulk_count_is_bounded_by_input() {
    let bytes = [1u8, 2, 3];
    assert!(matches!(
        varint::decode_u32_slice(&bytes, 4),
        Err(VarintError::CountTooLarge {
            count: 4,
            available: 3,
            ..
        })
    ));
    // A huge count never allocates: it is rejected first.
    assert!(matches!(
        varint::decode_u64_slice(&bytes, usize::MAX),
        Err(VarintError::CountTooLarge { .. })
    ));
    assert_eq!(varint::decode_u32_slice(&bytes, 0).unwrap(), (vec![], 0));
    assert_eq!(
        varint::decode_u32_slice(&bytes, 3).unwrap(),
        (vec![1, 2, 3], 3)
    );
}

/// A malformed encoding and its error, given the value's start offset.
type Malformed = (Vec<u8>, fn(usize) -> VarintError);

/// The malformed forms of a `u32`.
fn malformed_u32() -> Vec<Malformed> {
    vec![
        (vec![0x80, 0x00], |s| VarintError::NonCanonical {
            start: s,
            offset: s + 1,
        }),
        (vec![0xFF, 0x80, 0x80, 0x00], |s| {
            VarintError::NonCanonical {
                start: s,
                offset: s + 3,
            }
        }),
        (vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01], |s| {
            VarintError::TooLong {
                start: s,
                offset: s + 4,
                max_len: 5,
            }
        }),
        (vec![0xFF, 0xFF, 0xFF, 0xFF, 0x7F], |s| {
            VarintError::Overflow {
                start: s,
                offset: s + 4,
                bits: 32,
            }
        }),
        (vec![0xFF, 0xFF, 0xFF, 0xFF, 0x10], |s| {
            VarintError::Overflow {
                start: s,
                offset: s + 4,
                bits: 32,
            }
        }),
        (
            vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            |s| VarintError::TooLong {
                start: s,
                offset: s + 4,
                max_len: 5,
            },
        ),
    ]
}

fn malformed_u64() -> Vec<Malformed> {
    let mut ten_zero = vec![0x80u8; 9];
    ten_zero.push(0);
    let mut eleven = vec![0xFFu8; 10];
    eleven.push(1);
    let mut over = vec![0xFFu8; 9];
    over.push(0x7F);
    vec![
        (vec![0x80, 0x00], |s| VarintError::NonCanonical {
            start: s,
            offset: s + 1,
        }),
        (vec![0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], |s| {
            VarintError::NonCanonical {
                start: s,
                offset: s + 6,
            }
        }),
        (ten_zero, |s| VarintError::NonCanonical {
            start: s,
            offset: s + 9,
        }),
        (eleven, |s| VarintError::TooLong {
            start: s,
            offset: s + 9,
            max_len: 10,
        }),
        (over, |s| VarintError::Overflow {
            start: s,
            offset: s + 9,
            bits: 64,
        }),
    ]
}

proptest! {
    #[test]
    fn leb128_u64_matches_oracle_and_round_trips(v in mixed_u64()) {
        let mut out = Vec::new();
        varint::encode_u64(v, &mut out);
        prop_assert_eq!(&out, &leb128_oracle(v));
        prop_assert_eq!(out.len(), varint::encoded_len_u64(v));
        out.push(0xFF); // trailing bytes are not read
        prop_assert_eq!(varint::decode_u64(&out), Ok((v, out.len() - 1)));
    }

    #[test]
    fn leb128_u32_round_trips(v in mixed_u32()) {
        let mut out = Vec::new();
        varint::encode_u32(v, &mut out);
        prop_assert_eq!(&out, &leb128_oracle(u64::from(v)));
        prop_assert_eq!(varint::decode_u32(&out), Ok((v, out.len())));
        prop_assert_eq!(varint::decode_u64(&out), Ok((u64::from(v), out.len())));
    }

    #[test]
    fn zigzag_round_trips(a in any::<i64>(), b in any::<i32>()) {
        let z = varint::zigzag_encode_i64(a);
        // Closed form: non-negative n -> 2n, negative n -> -2n - 1.
        let expected = if a >= 0 { (a as u64) * 2 } else { (!(a as u64)) * 2 + 1 };
        prop_assert_eq!(z, expected);
        prop_assert_eq!(varint::zigzag_decode_i64(z), a);
        let z = varint::zigzag_encode_i32(b);
        prop_assert_eq!(u64::from(z), varint::zigzag_encode_i64(i64::from(b)));
        prop_assert_eq!(varint::zigzag_decode_i32(z), b);
    }

    #[test]
    fn bulk_round_trips(
        a in prop::collection::vec(mixed_u32(), 0..LONG),
        b in prop::collection::vec(mixed_u64(), 0..LONG),
        shift in 0usize..16,
        tail in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        let mut bytes = Vec::new();
        varint::encode_u32_slice(&a, &mut bytes);
        let expected: Vec<u8> = a.iter().flat_map(|&v| leb128_oracle(u64::from(v))).collect();
        prop_assert_eq!(&bytes, &expected);
        let used = bytes.len();
        bytes.extend_from_slice(&tail);
        let (buf, at) = unaligned(&bytes, shift);
        prop_assert_eq!(varint::decode_u32_slice(&buf[at..], a.len()), Ok((a.clone(), used)));

        let mut bytes = Vec::new();
        varint::encode_u64_slice(&b, &mut bytes);
        let used = bytes.len();
        bytes.extend_from_slice(&tail);
        let (buf, at) = unaligned(&bytes, shift);
        prop_assert_eq!(varint::decode_u64_slice(&buf[at..], b.len()), Ok((b.clone(), used)));
    }

    /// The bulk decoders (word-at-a-time fast path) agree with repeated
    /// single decodes (byte-wise reference) on arbitrary bytes, errors
    /// included.
    #[test]
    fn bulk_matches_single_on_arbitrary_bytes(
        bytes in prop::collection::vec(
            prop_oneof![3 => 0u8..0x80, 3 => 0x80u8..=0xFF, 1 => Just(0u8), 1 => Just(0x80u8)],
            0..LONG.min(120)),
        count in 0usize..130,
    ) {
        fn reference<T>(
            bytes: &[u8],
            count: usize,
            one: DecodeOne<T>,
        ) -> Result<(Vec<T>, usize), VarintError> {
            if count > bytes.len() {
                return Err(VarintError::CountTooLarge { count, available: bytes.len(), offset: 0 });
            }
            let mut pos = 0;
            let mut out = Vec::new();
            for _ in 0..count {
                let (v, n) = one(&bytes[pos..]).map_err(|e| e.shifted(pos))?;
                out.push(v);
                pos += n;
            }
            Ok((out, pos))
        }
        prop_assert_eq!(varint::decode_u32_slice(&bytes, count), reference(&bytes, count, varint::decode_u32));
        prop_assert_eq!(varint::decode_u64_slice(&bytes, count), reference(&bytes, count, varint::decode_u64));
    }

    /// One malformed value among valid ones is reported at its absolute
    /// offset, whether the fast path or the tail handles it.
    #[test]
    fn bulk_reports_malformed_value_offset(
        before in prop::collection::vec(mixed_u32(), 0..40),
        after in prop::collection::vec(mixed_u32(), 0..40),
        which in 0usize..64,
    ) {
        let forms = malformed_u32();
        let (bad, err) = &forms[which % forms.len()];
        let mut bytes = Vec::new();
        varint::encode_u32_slice(&before, &mut bytes);
        let start = bytes.len();
        bytes.extend_from_slice(bad);
        varint::encode_u32_slice(&after, &mut bytes);
        let count = before.len() + 1 + after.len();
        prop_assert_eq!(varint::decode_u32_slice(&bytes, count.min(bytes.len())), Err(err(start)));

        let forms = malformed_u64();
        let (bad, err) = &forms[which % forms.len()];
        let wide: Vec<u64> = before.iter().map(|&v| u64::from(v) << (v % 32)).collect();
        let mut bytes = Vec::new();
        varint::encode_u64_slice(&wide, &mut bytes);
        let start = bytes.len();
        bytes.extend_from_slice(bad);
        varint::encode_u32_slice(&after, &mut bytes);
        let count = wide.len() + 1 + after.len();
        prop_assert_eq!(varint::decode_u64_slice(&bytes, count.min(bytes.len())), Err(err(start)));
    }
}

/// A single-value decoder.
type DecodeOne<T> = fn(&[u8]) -> Result<(T, usize), VarintError>;

#[test]
fn leb128_truncation_at_every_position_is_an_error() {
    let values = [0u64, 127, 128, 300, 1 << 40, u64::MAX, 5, 16_383, 16_384, 2];
    let mut bytes = Vec::new();
    varint::encode_u64_slice(&values, &mut bytes);
    for cut in 0..bytes.len() {
        assert!(
            varint::decode_u64_slice(&bytes[..cut], values.len()).is_err(),
            "cut {cut}"
        );
    }
    let small: Vec<u32> = values.iter().map(|&v| v as u32).collect();
    let mut bytes = Vec::new();
    varint::encode_u32_slice(&small, &mut bytes);
    for cut in 0..bytes.len() {
        let r = varint::decode_u32_slice(&bytes[..cut], small.len());
        assert!(
            matches!(r, Err(VarintError::Truncated { offset, .. }) if offset == cut)
                || matches!(r, Err(VarintError::CountTooLarge { .. })),
            "cut {cut}: {r:?}"
        );
    }
}

// ---------------------------------------------------------------- stream-vbyte

#[test]
fn stream_known_layout() {
    // Control byte 0b11_10_01_00 (lengths 1, 2, 3, 4), then a second one
    // for the fifth value (length 2), then data little-endian.
    let values = [7u32, 0x0102, 0x03_0405, 0x0607_0809, 0x0A0B];
    let bytes = stream::encode_u32(&values);
    assert_eq!(
        bytes,
        [0xE4, 0x01, 7, 0x02, 0x01, 0x05, 0x04, 0x03, 0x09, 0x08, 0x07, 0x06, 0x0B, 0x0A]
    );
    assert_eq!(decode_all_paths(&bytes, 5, None).unwrap(), values);
    assert_eq!(stream::encode_u32(&[]), Vec::<u8>::new());
    assert_eq!(decode_all_paths(&[], 0, None).unwrap(), Vec::<u32>::new());
}

#[test]
fn stream_paths_agree_on_fixed_counts() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for count in [0usize, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 64, BIG] {
        for shift in [0usize, 1, 3, 7] {
            let values: Vec<u32> = (0..count)
                .map(|_| {
                    let r = next();
                    match r % 20 {
                        0..=13 => (r >> 8) as u32 % 128,
                        14..=18 => (r >> 8) as u32 % (1 << 14),
                        _ => (r >> 32) as u32,
                    }
                })
                .collect();
            let bytes = stream::encode_u32(&values);
            assert_eq!(bytes, stream_oracle(&values, None));
            let (buf, at) = unaligned(&bytes, shift);
            assert_eq!(decode_all_paths(&buf[at..], count, None).unwrap(), values);

            let mut sorted = values.clone();
            sorted.sort_unstable();
            let init = sorted.first().map_or(0, |v| v / 2);
            let bytes = stream::encode_u32_delta(&sorted, init);
            assert_eq!(bytes, stream_oracle(&sorted, Some(init)));
            let (buf, at) = unaligned(&bytes, shift);
            assert_eq!(
                decode_all_paths(&buf[at..], count, Some(init)).unwrap(),
                sorted
            );
            // Unsorted input round-trips too (wrapping differences).
            let bytes = stream::encode_u32_delta(&values, 12345);
            assert_eq!(
                decode_all_paths(&bytes, count, Some(12345)).unwrap(),
                values
            );
        }
    }
}

/// Encodes with every available path, asserting each writes the oracle's
/// bytes (appended after a non-empty prefix, with the right length
/// returned); returns them.
fn encode_all_paths(values: &[u32], delta: Option<u32>) -> Vec<u8> {
    let want = stream_oracle(values, delta);
    for isa in Isa::available() {
        let mut out = vec![0xEE; 3];
        let n = stream::encode_into_with(isa, values, delta, &mut out).unwrap();
        assert_eq!(
            n,
            want.len(),
            "path {isa}, {} values, delta {delta:?}",
            values.len()
        );
        assert_eq!(&out[..3], [0xEE; 3]);
        assert_eq!(
            &out[3..],
            &want[..],
            "path {isa}, {} values, delta {delta:?}",
            values.len()
        );
    }
    want
}

#[test]
fn stream_encoders_match_oracle_on_listed_lengths_and_extremes() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let lengths: &[usize] = if cfg!(miri) {
        &[0, 1, 7, 8, 15, 16, 33]
    } else {
        &[0, 1, 7, 8, 15, 16, 31, 33, 127, 1023, 1536]
    };
    // Each length boundary, its neighbours and the extremes.
    let edges = [
        0u32,
        1,
        255,
        256,
        65_535,
        65_536,
        (1 << 24) - 1,
        1 << 24,
        u32::MAX - 1,
        u32::MAX,
        1 << 31,
        (1 << 31) - 1,
    ];
    for &n in lengths {
        let shapes: Vec<Vec<u32>> = vec![
            (0..n).map(|_| next() as u32 >> (next() % 32)).collect(),
            (0..n)
                .map(|_| edges[(next() % edges.len() as u64) as usize])
                .collect(),
            vec![0; n],
            vec![u32::MAX; n],
            (0..n as u32).map(|i| i.wrapping_mul(0x0101_0101)).collect(),
        ];
        for values in &shapes {
            // Slices starting at several u32 offsets of the buffer.
            let shifts: &[usize] = if cfg!(miri) { &[0, 1] } else { &[0, 1, 3, 5] };
            for &shift in shifts {
                let mut buf = vec![7u32; shift];
                buf.extend_from_slice(values);
                let v = &buf[shift..];
                let bytes = encode_all_paths(v, None);
                assert_eq!(stream::decode_u32(&bytes, n).unwrap(), v);
                let inits = [0u32, u32::MAX, 1, v.first().copied().unwrap_or(9)];
                for &init in &inits[..if cfg!(miri) { 2 } else { 4 }] {
                    let bytes = encode_all_paths(v, Some(init));
                    assert_eq!(stream::decode_u32_delta(&bytes, n, init).unwrap(), v);
                }
            }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            encode_all_paths(&sorted, Some(sorted.first().map_or(0, |v| v / 2)));
        }
    }
}

proptest! {
    #[test]
    fn stream_round_trips_on_every_path(
        values in prop::collection::vec(mixed_u32(), 0..(if cfg!(miri) { 24 } else { 600 })),
        shift in 0usize..16,
        init in any::<u32>(),
        tail in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let bytes = stream::encode_u32(&values);
        prop_assert_eq!(&bytes, &stream_oracle(&values, None));
        prop_assert_eq!(&encode_all_paths(&values, None), &bytes);
        prop_assert_eq!(encode_all_paths(&values, Some(init)), stream_oracle(&values, Some(init)));
        prop_assert!(bytes.len() <= stream::max_encoded_len(values.len()));
        let (buf, at) = unaligned(&bytes, shift);
        prop_assert_eq!(decode_all_paths(&buf[at..], values.len(), None), Ok(values.clone()));

        let bytes = stream::encode_u32_delta(&values, init);
        prop_assert_eq!(&bytes, &stream_oracle(&values, Some(init)));
        prop_assert_eq!(decode_all_paths(&bytes, values.len(), Some(init)), Ok(values.clone()));

        // Prefix decoding reports the bytes consumed and ignores the tail.
        let used = bytes.len();
        let mut padded = bytes.clone();
        padded.extend_from_slice(&tail);
        for isa in Isa::available() {
            let d = stream::Decoder::for_isa(isa).unwrap();
            prop_assert_eq!(d.decode_u32_delta_prefix(&padded, values.len(), init), Ok((values.clone(), used)));
            let mut out = vec![42];
            prop_assert_eq!(d.decode_into(&padded, values.len(), Some(init), &mut out), Ok(used));
            prop_assert_eq!(&out[1..], &values[..]);
        }
        if !tail.is_empty() {
            prop_assert_eq!(
                stream::decode_u32_delta(&padded, values.len(), init),
                Err(VarintError::TrailingBytes { offset: used, count: tail.len() })
            );
        }
    }

    /// Arbitrary bytes and counts: every path agrees with the scalar
    /// reference, errors included, and never panics.
    #[test]
    fn stream_paths_agree_on_arbitrary_bytes(
        bytes in prop::collection::vec(
            prop_oneof![2 => any::<u8>(), 1 => Just(0u8), 1 => 1u8..4],
            0..(if cfg!(miri) { 30 } else { 300 })),
        count in 0usize..300,
        init in prop::option::of(any::<u32>()),
    ) {
        let count = count % (bytes.len() + 2);
        if let Ok(values) = decode_all_paths(&bytes, count, init) {
            // Canonical: an accepted input re-encodes to the same bytes.
            let again = match init {
                None => stream::encode_u32(&values),
                Some(i) => stream::encode_u32_delta(&values, i),
            };
            prop_assert_eq!(again, bytes);
        }
    }

    /// A value stored with a redundant zero high byte is rejected at its
    /// offset by every path, wherever it sits in the stream.
    #[test]
    fn stream_rejects_non_canonical_value(
        values in prop::collection::vec(mixed_u32(), 1..(if cfg!(miri) { 20 } else { 300 })),
        pick in any::<prop::sample::Index>(),
        extra in 1usize..4,
    ) {
        let k = pick.index(values.len());
        let mut bytes = stream_oracle(&values, None);
        let ctrl_len = values.len().div_ceil(4);
        // Find value k's data offset and length.
        let len_of = |i: usize| usize::from((bytes[i / 4] >> (2 * (i % 4))) & 3) + 1;
        let start = ctrl_len + (0..k).map(len_of).sum::<usize>();
        let len = len_of(k);
        let new_len = (len + extra).min(4);
        prop_assume!(new_len > len);
        bytes[k / 4] = (bytes[k / 4] & !(3 << (2 * (k % 4)))) | (((new_len - 1) as u8) << (2 * (k % 4)));
        for _ in len..new_len {
            bytes.insert(start + len, 0);
        }
        let err = VarintError::NonCanonical { start, offset: start + new_len - 1 };
        prop_assert_eq!(decode_all_paths(&bytes, values.len(), None), Err(err.clone()));
        prop_assert_eq!(decode_all_paths(&bytes, values.len(), Some(7)), Err(err));
    }
}

#[test]
fn stream_rejects_malformed_framing() {
    let values: Vec<u32> = (0..7).map(|i| i * 1000).collect();
    let bytes = stream::encode_u32(&values);
    // Count that cannot fit: rejected before allocating.
    assert!(matches!(
        decode_all_paths(&bytes, usize::MAX, None),
        Err(VarintError::CountTooLarge {
            count: usize::MAX,
            ..
        })
    ));
    assert!(matches!(
        decode_all_paths(&bytes, bytes.len(), None),
        Err(VarintError::CountTooLarge { .. })
    ));
    // Non-zero unused codes in the last control byte.
    let mut padded = bytes.clone();
    padded[1] |= 0b1100_0000;
    assert_eq!(
        decode_all_paths(&padded, 7, None),
        Err(VarintError::ControlPadding { offset: 1 })
    );
    // Trailing bytes with the exact decoder.
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        decode_all_paths(&long, 7, None),
        Err(VarintError::TrailingBytes {
            offset: bytes.len(),
            count: 1
        })
    );
    // Fewer values than encoded: the remaining bytes are trailing.
    assert!(matches!(
        decode_all_paths(&bytes, 4, None),
        Err(VarintError::TrailingBytes { .. })
    ));
    // Asking for a path this CPU lacks is an error, not a fallback.
    for isa in Isa::ALL {
        if !isa.is_available() {
            assert_eq!(
                stream::decode_u32_with(isa, &bytes, 7),
                Err(VarintError::UnavailableIsa { isa })
            );
        }
    }
}

#[test]
fn stream_truncation_at_every_position_is_an_error() {
    let values: Vec<u32> = (0..23u32)
        .map(|i| i.wrapping_mul(0x9E37_79B9) >> (i % 32))
        .collect();
    let bytes = stream::encode_u32(&values);
    let ctrl_len = values.len().div_ceil(4);
    for cut in 0..bytes.len() {
        for delta in [None, Some(3)] {
            let r = decode_all_paths(&bytes[..cut], values.len(), delta);
            match r {
                Err(VarintError::Truncated { start, offset }) => {
                    assert_eq!(offset, cut);
                    assert!(
                        start >= ctrl_len && start < cut + 4,
                        "cut {cut}: start {start}"
                    );
                }
                Err(VarintError::CountTooLarge { .. }) => assert!(cut < ctrl_len + values.len()),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn stream_active_decoder_follows_kernel_dispatch() {
    let active = unidb_kernels::Kernels::active().isa();
    assert_eq!(stream::Decoder::active().isa(), active);
    let bytes = stream::encode_u32(&[1, 2, 3]);
    assert_eq!(stream::decode_u32(&bytes, 3).unwrap(), [1, 2, 3]);
    assert_eq!(
        stream::decode_u32_prefix(&bytes, 3).unwrap(),
        (vec![1, 2, 3], bytes.len())
    );
}

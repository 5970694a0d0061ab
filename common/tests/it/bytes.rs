//! The byte reader and LEB128. Oracles: the standard library's
//! `from_le_bytes`, a reference LEB128 encoder written here, and item
//! offsets recorded while the test input is built.

use proptest::prelude::*;
use unidb_common::bytes::leb128::{self, decode_u32_at, decode_u64_at};
use unidb_common::bytes::{Leb128Error, ReadError, ReadErrorKind, Reader};

/// The reference LEB128 encoder: seven bits at a time, fewest bytes.
fn leb(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

/// The value of the one candidate LEB128 prefix of `bytes` (up to and
/// including its first byte below 0x80), if it is canonical and fits
/// `bits`; computed in `u128` without the decoder's limits.
fn oracle(bytes: &[u8], bits: u32, max_len: usize) -> Option<(u64, usize)> {
    let n = bytes.iter().position(|&b| b < 0x80)? + 1;
    if n > max_len {
        return None;
    }
    let v = bytes[..n].iter().enumerate().fold(0u128, |acc, (i, &b)| {
        acc | (u128::from(b & 0x7F) << (7 * i))
    });
    if v >> bits != 0 {
        return None;
    }
    let v = v as u64;
    (leb(v) == bytes[..n]).then_some((v, n))
}

#[test]
fn fixed_width_reads_are_little_endian() {
    let bytes: Vec<u8> = (1..=50u8).map(|b| b.wrapping_mul(37)).collect();
    let mut r = Reader::new(&bytes);
    let mut at = 0;
    let mut next = |n: usize| {
        let s = &bytes[at..at + n];
        at += n;
        s
    };
    assert_eq!(r.u8("a").unwrap(), next(1)[0]);
    assert_eq!(
        r.u16("b").unwrap(),
        u16::from_le_bytes(next(2).try_into().unwrap())
    );
    assert_eq!(
        r.u32("c").unwrap(),
        u32::from_le_bytes(next(4).try_into().unwrap())
    );
    assert_eq!(
        r.u64("d").unwrap(),
        u64::from_le_bytes(next(8).try_into().unwrap())
    );
    assert_eq!(
        r.i16("e").unwrap(),
        i16::from_le_bytes(next(2).try_into().unwrap())
    );
    assert_eq!(
        r.i32("f").unwrap(),
        i32::from_le_bytes(next(4).try_into().unwrap())
    );
    assert_eq!(
        r.i64("g").unwrap(),
        i64::from_le_bytes(next(8).try_into().unwrap())
    );
    assert_eq!(
        r.f32("h").unwrap().to_bits(),
        u32::from_le_bytes(next(4).try_into().unwrap())
    );
    assert_eq!(
        r.f64("i").unwrap().to_bits(),
        u64::from_le_bytes(next(8).try_into().unwrap())
    );
    assert_eq!(r.array::<3>("j").unwrap(), next(3));
    assert_eq!(r.take(2, "k").unwrap(), next(2));
    assert_eq!(r.offset(), 46);
    assert_eq!(r.remaining(), 4);
    assert_eq!(r.rest(), &bytes[46..]);
    assert!(!r.is_empty());
    assert_eq!(
        r.finish("record"),
        Err(ReadError::new(
            "record",
            46,
            ReadErrorKind::TrailingBytes { count: 4 }
        ))
    );
    r.advance(4, "l").unwrap();
    assert!(r.is_empty());
    r.finish("record").unwrap();
}

/// One read of the test record: how it reads and what it wrote.
struct Item {
    bytes: Vec<u8>,
    read: fn(&mut Reader<'_>) -> Result<(), ReadError>,
    /// The error when the input ends `avail` bytes into the item (the
    /// item starts at offset 0 of the error's frame).
    cut: fn(usize) -> ReadErrorKind,
}

fn truncated(needed: usize) -> fn(usize) -> ReadErrorKind {
    // One function per width, as plain `fn` pointers.
    match needed {
        1 => |a| ReadErrorKind::Truncated {
            needed: 1,
            available: a,
        },
        2 => |a| ReadErrorKind::Truncated {
            needed: 2,
            available: a,
        },
        4 => |a| ReadErrorKind::Truncated {
            needed: 4,
            available: a,
        },
        8 => |a| ReadErrorKind::Truncated {
            needed: 8,
            available: a,
        },
        _ => unreachable!("widths of the record"),
    }
}

fn varint_cut(a: usize) -> ReadErrorKind {
    ReadErrorKind::Varint(Leb128Error::Truncated {
        start: 0,
        offset: a,
    })
}

fn item(
    bytes: Vec<u8>,
    read: fn(&mut Reader<'_>) -> Result<(), ReadError>,
    cut: fn(usize) -> ReadErrorKind,
) -> Item {
    Item { bytes, read, cut }
}

fn record() -> Vec<Item> {
    vec![
        item(vec![7], |r| r.u8("u8").map(drop), truncated(1)),
        item(vec![1, 2], |r| r.u16("u16").map(drop), truncated(2)),
        item(vec![1, 2, 3, 4], |r| r.u32("u32").map(drop), truncated(4)),
        item(leb(300), |r| r.varint("varint").map(drop), varint_cut),
        item(leb(u64::MAX), |r| r.varint("varint").map(drop), varint_cut),
        item(vec![9; 8], |r| r.f64("f64").map(drop), truncated(8)),
        item(
            leb(70_000),
            |r| r.varint_u32("varint_u32").map(drop),
            varint_cut,
        ),
        item(
            leb(leb128::zigzag_encode_i64(-5000)),
            |r| r.zigzag("zigzag").map(drop),
            varint_cut,
        ),
        item(
            "héllo".as_bytes().to_vec(),
            |r| r.utf8(6, "text").map(drop),
            |a| ReadErrorKind::Truncated {
                needed: 6,
                available: a,
            },
        ),
        item(
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            |r| r.i64("i64").map(drop),
            truncated(8),
        ),
        // A count of three 2-byte items, then the items: cut inside the
        // items, the count itself is refused.
        item(
            vec![3, 1, 1, 2, 2, 3, 3],
            |r| {
                let n = r.count_items("pairs", 2)?;
                r.advance(2 * n, "pair bytes")
            },
            |a| match a {
                0 => varint_cut(0),
                _ => ReadErrorKind::CountExceedsInput {
                    count: 3,
                    item_size: 2,
                    available: a - 1,
                },
            },
        ),
        item(
            vec![2, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB],
            |r| {
                let n = r.u64_count_items("bytes", 1)?;
                r.advance(n, "the bytes")
            },
            |a| match a {
                0..8 => ReadErrorKind::Truncated {
                    needed: 8,
                    available: a,
                },
                _ => ReadErrorKind::CountExceedsInput {
                    count: 2,
                    item_size: 1,
                    available: a - 8,
                },
            },
        ),
    ]
}

/// Cut the record at every offset: the first item crossing the cut fails
/// with its own start offset, and the cursor stays at that item.
#[test]
fn truncation_at_every_offset_names_the_item_and_its_offset() {
    let items = record();
    let bytes: Vec<u8> = items.iter().flat_map(|i| i.bytes.clone()).collect();
    for base in [0, 1000] {
        for cut in 0..=bytes.len() {
            let mut r = Reader::with_base(&bytes[..cut], base);
            let mut start = 0;
            let mut failed = false;
            for item in &items {
                let end = start + item.bytes.len();
                let res = (item.read)(&mut r);
                if end <= cut {
                    assert_eq!(res, Ok(()), "cut {cut}: item at {start}");
                    assert_eq!(r.offset(), base + end);
                } else {
                    let err = res.expect_err("the item crosses the cut");
                    assert_eq!(err.offset, base + start, "cut {cut}");
                    assert_eq!(err.kind, (item.cut)(cut - start), "cut {cut}: {err}");
                    assert_eq!(r.offset(), base + start, "a failed read consumes nothing");
                    failed = true;
                    break;
                }
                start = end;
            }
            assert_eq!(failed, cut < bytes.len());
        }
    }
}

#[test]
fn hostile_lengths_are_refused_without_overflow() {
    let huge = leb(u64::MAX);
    // Where u64::MAX fits usize, only the limit refuses it.
    let fits = usize::try_from(u64::MAX).ok();
    assert_eq!(Reader::new(&huge).count("n", usize::MAX).ok(), fits);
    let mut r = Reader::new(&huge);
    assert_eq!(
        r.count("n", 1000),
        Err(ReadError::new(
            "n",
            0,
            ReadErrorKind::CountTooLarge {
                count: u64::MAX,
                max: 1000
            }
        ))
    );
    assert_eq!(r.offset(), 0);
    for size in [0, 1, 8, usize::MAX] {
        let mut r = Reader::new(&huge);
        let got = r.count_items("n", size);
        if size == 0 {
            // Zero-sized items always fit.
            assert_eq!(got.ok(), fits);
            continue;
        }
        assert_eq!(
            got,
            Err(ReadError::new(
                "n",
                0,
                ReadErrorKind::CountExceedsInput {
                    count: u64::MAX,
                    item_size: size,
                    available: 0
                }
            ))
        );
    }
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 16]);
    let mut r = Reader::new(&bytes);
    assert!(matches!(
        r.u64_count_items("n", 8),
        Err(ReadError {
            offset: 0,
            kind: ReadErrorKind::CountExceedsInput { available: 16, .. },
            ..
        })
    ));
    let mut r = Reader::new(&bytes);
    assert_eq!(
        r.take(usize::MAX, "all"),
        Err(ReadError::new(
            "all",
            0,
            ReadErrorKind::Truncated {
                needed: usize::MAX,
                available: 24
            }
        ))
    );
    // Counts that fit are accepted exactly at the boundary.
    let mut r = Reader::new(&[2, 0, 0, 0, 0]);
    assert_eq!(r.count_items("n", 2), Ok(2));
    let mut r = Reader::new(&[3, 0, 0, 0, 0]);
    assert!(r.count_items("n", 2).is_err());
    let mut r = Reader::new(&[5]);
    assert_eq!(r.count("n", 5), Ok(5));
}

#[test]
fn values_out_of_range_and_bad_text_are_typed() {
    let bytes = leb(1 << 32);
    let mut r = Reader::new(&bytes);
    assert_eq!(
        r.varint_u32("id"),
        Err(ReadError::new(
            "id",
            0,
            ReadErrorKind::TooWide {
                value: 1 << 32,
                bits: 32
            }
        ))
    );
    assert_eq!(r.offset(), 0);
    let bytes = leb(u64::from(u32::MAX));
    assert_eq!(Reader::new(&bytes).varint_u32("id"), Ok(u32::MAX));

    let mut r = Reader::with_base(b"ok\xff\xfe", 10);
    assert_eq!(r.utf8(2, "a"), Ok("ok"));
    assert_eq!(
        r.utf8(2, "b"),
        Err(ReadError::new(
            "b",
            12,
            ReadErrorKind::InvalidUtf8 { valid_up_to: 0 }
        ))
    );
    assert_eq!(r.offset(), 12);

    let mut r = Reader::new(&[0x80, 0x00]);
    assert_eq!(
        r.varint("v"),
        Err(ReadError::new(
            "v",
            0,
            ReadErrorKind::Varint(Leb128Error::NonCanonical {
                start: 0,
                offset: 1
            })
        ))
    );
}

#[test]
fn errors_display_and_convert_with_their_offset() {
    let e = ReadError::new(
        "value length",
        17,
        ReadErrorKind::Truncated {
            needed: 4,
            available: 1,
        },
    );
    assert_eq!(
        e.to_string(),
        "value length at byte 17: truncated: needs 4 bytes, 1 left"
    );
    let cases = [
        (
            ReadErrorKind::Varint(Leb128Error::TooLong {
                start: 0,
                offset: 9,
                max_len: 10,
            }),
            "bad varint: varint too long: the value starting at byte 0 continues past byte 9, its 10-byte limit",
        ),
        (
            ReadErrorKind::CountTooLarge { count: 9, max: 8 },
            "count 9 exceeds the limit 8",
        ),
        (
            ReadErrorKind::CountExceedsInput {
                count: 9,
                item_size: 3,
                available: 5,
            },
            "count 9 of items of at least 3 bytes exceeds the 5 bytes remaining",
        ),
        (
            ReadErrorKind::TooWide {
                value: 1 << 40,
                bits: 32,
            },
            "1099511627776 does not fit 32 bits",
        ),
        (
            ReadErrorKind::InvalidUtf8 { valid_up_to: 3 },
            "invalid UTF-8 after 3 valid bytes",
        ),
        (
            ReadErrorKind::TrailingBytes { count: 2 },
            "2 trailing bytes",
        ),
    ];
    for (kind, text) in cases {
        assert_eq!(kind.to_string(), text);
    }

    let varint = ReadError::new(
        "id",
        5,
        ReadErrorKind::Varint(Leb128Error::Truncated {
            start: 0,
            offset: 1,
        }),
    );
    let err: unidb_common::Error = varint.clone().into();
    assert_eq!(err.kind(), unidb_common::ErrorKind::CorruptData);
    assert_eq!(err.location(), Some("byte 5"));
    let source = std::error::Error::source(&err).unwrap();
    let read = source.downcast_ref::<ReadError>().unwrap();
    assert_eq!(read, &varint);
    assert!(source
        .source()
        .unwrap()
        .downcast_ref::<Leb128Error>()
        .is_some());
}

#[test]
fn leb128_known_vectors_and_limits() {
    assert_eq!(decode_u64_at(&[0], 0), Ok((0, 1)));
    assert_eq!(decode_u64_at(&[0x7F], 0), Ok((127, 1)));
    assert_eq!(decode_u64_at(&[0xAC, 0x02], 0), Ok((300, 2)));
    assert_eq!(decode_u64_at(&leb(u64::MAX), 0), Ok((u64::MAX, 10)));
    assert_eq!(
        decode_u64_at(&[0xFF; 10], 0),
        Err(Leb128Error::TooLong {
            start: 0,
            offset: 9,
            max_len: 10
        })
    );
    let mut over = vec![0xFF; 9];
    over.push(0x02);
    assert_eq!(
        decode_u64_at(&over, 0),
        Err(Leb128Error::Overflow {
            start: 0,
            offset: 9,
            bits: 64
        })
    );
    assert_eq!(
        decode_u64_at(&[1, 0x80], 1),
        Err(Leb128Error::Truncated {
            start: 1,
            offset: 2
        })
    );
    assert_eq!(
        decode_u64_at(&[1], 5),
        Err(Leb128Error::Truncated {
            start: 5,
            offset: 5
        })
    );
    assert_eq!(
        decode_u32_at(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], 0),
        Ok((u32::MAX, 5))
    );
    assert_eq!(
        decode_u32_at(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10], 0),
        Err(Leb128Error::Overflow {
            start: 0,
            offset: 4,
            bits: 32
        })
    );
    assert_eq!(
        decode_u32_at(&[0x80; 5], 0),
        Err(Leb128Error::TooLong {
            start: 0,
            offset: 4,
            max_len: 5
        })
    );
}

proptest! {
    #[test]
    fn leb128_round_trips(v in any::<u64>(), shift in 0u32..64) {
        for v in [v, v >> shift] {
            let bytes = leb(v);
            prop_assert_eq!(decode_u64_at(&bytes, 0), Ok((v, bytes.len())));
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(r.varint("v"), Ok(v));
            prop_assert!(r.is_empty());
            if let Ok(v32) = u32::try_from(v) {
                prop_assert_eq!(decode_u32_at(&bytes, 0), Ok((v32, bytes.len())));
            }
            let z = leb128::zigzag_decode_i64(v);
            prop_assert_eq!(leb128::zigzag_encode_i64(z), v);
            prop_assert_eq!(Reader::new(&bytes).zigzag("z"), Ok(z));
        }
    }

    /// On any bytes, the decoders accept exactly the canonical encodings.
    #[test]
    fn leb128_accepts_exactly_the_canonical_form(
        bytes in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(0x80u8), Just(0xFFu8), any::<u8>()], 0..14)
    ) {
        prop_assert_eq!(decode_u64_at(&bytes, 0).ok(), oracle(&bytes, 64, 10));
        prop_assert_eq!(
            decode_u32_at(&bytes, 0).ok().map(|(v, n)| (u64::from(v), n)),
            oracle(&bytes, 32, 5)
        );
        let mut r = Reader::new(&bytes);
        match r.varint("v") {
            Ok(v) => prop_assert_eq!(Some((v, r.offset())), oracle(&bytes, 64, 10)),
            Err(e) => {
                prop_assert!(oracle(&bytes, 64, 10).is_none());
                prop_assert_eq!(e.offset, 0);
                prop_assert_eq!(r.offset(), 0);
            }
        }
    }
}

use super::*;
use proptest::prelude::*;

mod budget;
mod errors;

const BUILTIN: [&str; 22] = [
    "plain",
    "one",
    "rle",
    "dict",
    "for",
    "delta",
    "dod",
    "varint",
    "svb",
    "decimal",
    "gorilla",
    "bss",
    "front",
    "lz4",
    "linear",
    "fbits",
    "fsst",
    "huff",
    "ans",
    "gcd",
    "decimal_ulp",
    "f32",
];

/// Deterministic random bits (the workspace's seeded generator).
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut r = unidb_common::rng::SplitMix64::new(seed);
    move || r.next_u64()
}

fn int_sets() -> Vec<Vec<i64>> {
    let mut r = rng(1);
    vec![
        vec![],
        vec![42],
        vec![7; 300],
        (0..300).collect(),
        vec![i64::MIN, i64::MAX, 0, -1, 1, i64::MIN, i64::MAX],
        (0..500).map(|_| r() as i64).collect(),
        (0..500)
            .map(|i| 1_700_000_000_000 + i * 1000 + (r() % 41) as i64 - 20)
            .collect(),
        (0..500)
            .map(|i| {
                if i % 97 == 0 {
                    1 << 40
                } else {
                    (r() % 16) as i64
                }
            })
            .collect(),
        (0..500).map(|i| (i / 50) as i64).collect(),
        (0..500)
            .map(|_| [3i64, -9, 1_000_000][(r() % 3) as usize])
            .collect(),
        // Hourly timestamps with gaps (a grid: `gcd`).
        (0..500)
            .map(|i| 1_356_998_400_000 + 3_600_000 * (i + i / 97))
            .collect(),
    ]
}

fn float_sets() -> Vec<Vec<f64>> {
    let mut r = rng(2);
    let nan_payload = f64::from_bits(0x7FF0_0000_0000_0123);
    let neg_nan = f64::from_bits(0xFFF8_0000_0000_0001);
    let mut walk = 20.0f64;
    vec![
        vec![],
        vec![1.5],
        vec![-0.0; 100],
        vec![
            0.0,
            -0.0,
            nan_payload,
            neg_nan,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
        ],
        (0..500).map(|_| (r() % 100_000) as f64 / 100.0).collect(),
        (0..500)
            .map(|i| {
                if i % 50 == 0 {
                    nan_payload
                } else {
                    (r() % 1000) as f64 / 10.0
                }
            })
            .collect(),
        (0..500)
            .map(|_| {
                walk += ((r() % 2001) as f64 - 1000.0) / 7919.0;
                walk
            })
            .collect(),
        (0..500).map(|_| f64::from_bits(r())).collect(),
        (0..500).map(|i| (i / 100) as f64 * 0.25).collect(),
        // f32 values widened, and f32 prices printed with six decimals
        // (`f32`).
        (0..500)
            .map(|_| f64::from((r() % 100_000) as f32 / 7.0))
            .collect(),
        (0..500)
            .map(|_| {
                let cents = (r() % 200_000) as f32 / 100.0;
                format!("{cents:.6}").parse().unwrap()
            })
            .collect(),
    ]
}

fn text_sets() -> Vec<Vec<String>> {
    let mut r = rng(3);
    let cats = ["ios", "android", "web", "desktop"];
    vec![
        vec![],
        vec![String::new()],
        vec!["same".to_owned(); 200],
        vec!["é🙂".repeat(40_000)],
        (0..300).map(|i| format!("user:{i:06}")).collect(),
        (0..300)
            .map(|_| cats[(r() % 4) as usize].to_owned())
            .collect(),
        (0..300)
            .map(|_| {
                (0..(r() % 30))
                    .map(|_| char::from(b'a' + (r() % 26) as u8))
                    .collect()
            })
            .collect(),
        vec!["a".into(), "ab".into(), "abc".into(), "".into(), "b".into()],
    ]
}

fn bool_sets() -> Vec<Vec<bool>> {
    let mut r = rng(4);
    vec![
        vec![],
        vec![true],
        vec![false; 1000],
        (0..1000).map(|i| i % 2 == 0).collect(),
        (0..1000).map(|i| (i / 100) % 2 == 0).collect(),
        (0..1000).map(|_| r().is_multiple_of(2)).collect(),
    ]
}

fn bytes_sets() -> Vec<Vec<Vec<u8>>> {
    vec![
        vec![],
        vec![vec![]],
        vec![vec![0xFF, 0x00, 0xC3]; 50],
        (0..200u32).map(|i| i.to_le_bytes().repeat(3)).collect(),
    ]
}

fn all_sets() -> Vec<Values> {
    let mut v: Vec<Values> = Vec::new();
    v.extend(int_sets().into_iter().map(Values::Int));
    v.extend(float_sets().into_iter().map(Values::Float));
    v.extend(text_sets().into_iter().map(Values::Text));
    v.extend(bool_sets().into_iter().map(Values::Bool));
    v.extend(bytes_sets().into_iter().map(Values::Bytes));
    v
}

#[test]
fn builtin_codecs_are_registered() {
    let names = codec_names();
    for b in BUILTIN {
        assert!(names.contains(&b), "{b} missing from {names:?}");
    }
    assert!(Codec::registry().validate().is_ok());
}

#[test]
fn every_codec_round_trips_every_fitting_set() {
    for name in BUILTIN {
        let codec = Codec::registry().get(name).unwrap();
        let mut fitted = 0;
        for values in all_sets() {
            if !codec.accepts(values.kind()) {
                assert!(matches!(
                    encode_with(name, &values, Effort::Max),
                    Err(CodecError::WrongKind { .. })
                ));
                continue;
            }
            for effort in [Effort::Fast, Effort::Max] {
                if let Some(bytes) = encode_with(name, &values, effort).unwrap() {
                    fitted += 1;
                    let back = decode_values(&bytes, values.kind(), values.len())
                        .unwrap_or_else(|e| panic!("{name} on {:?}: {e}", values.kind()));
                    assert_eq!(back, values, "{name} {effort:?}");
                }
            }
        }
        assert!(fitted >= 2, "{name} fitted only {fitted} sets");
    }
}

#[test]
fn columns_round_trip_with_nulls_and_blocks() {
    for values in all_sets() {
        for kind in ColumnKind::ALL
            .into_iter()
            .filter(|k| k.data() == values.kind())
        {
            let col = Column::new(kind, values.clone()).unwrap();
            for effort in [Effort::Fast, Effort::Max] {
                let enc = encode_column(&col, effort).unwrap();
                assert_eq!(decode_column(&enc.bytes).unwrap(), col);
            }
            // Nulls between the values.
            let n = values.len();
            let mask: Vec<bool> = (0..n * 2).map(|i| i % 2 == 1).collect();
            let col = Column::with_validity(kind, values.clone(), Some(mask)).unwrap();
            let enc = encode_column(&col, Effort::Max).unwrap();
            assert_eq!(decode_column(&enc.bytes).unwrap(), col);
        }
    }
    // More than one block, with a null run crossing the boundary.
    let rows = BLOCK_VALUES + 1000;
    let mask: Vec<bool> = (0..rows)
        .map(|i| !(BLOCK_VALUES - 10..BLOCK_VALUES + 10).contains(&i))
        .collect();
    let present = mask.iter().filter(|&&b| b).count();
    let vals = Values::Int((0..present as i64).map(|i| i * 3).collect());
    let col = Column::with_validity(ColumnKind::Int, vals, Some(mask)).unwrap();
    let enc = encode_column(&col, Effort::Fast).unwrap();
    assert_eq!(enc.cascades.len(), 2);
    assert!(enc.bytes.len() < 200, "{} bytes", enc.bytes.len());
    assert_eq!(decode_column(&enc.bytes).unwrap(), col);
}

#[test]
fn frame_of_reference_patches_low_outliers() {
    // 10-bit values above 1000 with a few far below (down to i64::MIN) and
    // one far above: the frame starts above the low outliers, so the bulk
    // packs at 10 bits and the outliers become (negative) patches.
    let mut r = rng(15);
    let mut v: Vec<i64> = (0..4096).map(|_| 1000 + (r() % 1024) as i64).collect();
    for (i, x) in [(3, -5), (900, 0), (2000, i64::MIN), (3000, i64::MAX)] {
        v[i] = x;
    }
    let values = Values::Int(v);
    for effort in [Effort::Fast, Effort::Max] {
        let enc = encode_with("for", &values, effort).unwrap().unwrap();
        assert_eq!(decode_values(&enc, DataKind::Int, 4096).unwrap(), values);
        // 4096 values at 10 bits, four patches of at most 16 + 16 bytes.
        assert!(
            enc.len() <= 4096 * 10 / 8 + 4 * 32 + 64,
            "{effort:?}: {}",
            enc.len()
        );
    }
}

#[test]
fn long_byte_strings_are_sampled_in_windows() {
    // Three blobs whose bytes spell their offset in the concatenation:
    // every window must be the bytes at its evenly spread offset, cut at the
    // end of its blob.
    let sizes = [30_000usize, 50, 40_000];
    let mut at = 0usize;
    let items: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| {
            let b = (at..at + n).map(|i| (i % 251) as u8).collect();
            at += n;
            b
        })
        .collect();
    let total = at;
    let Some(Values::Bytes(w)) = select::byte_windows(&items) else {
        panic!("70 KB of bytes are sampled");
    };
    assert_eq!(w.len(), 16);
    let step = (total - 1024) / 15;
    for (k, win) in w.iter().enumerate() {
        let start = k * step;
        // The blob holding `start` and where it ends.
        let mut end = 0;
        for &n in &sizes {
            end += n;
            if start < end {
                break;
            }
        }
        let want: Vec<u8> = (start..end.min(start + 1024))
            .map(|i| (i % 251) as u8)
            .collect();
        assert_eq!(win, &want, "window {k}");
    }
    // Small byte strings are their own sample.
    assert!(select::byte_windows(&[vec![1u8; 1000]]).is_none());
}

#[test]
fn later_blocks_append_to_the_column_in_place() {
    // Hand-built frames of three blocks: the first plain, the later two
    // with a codec that appends to the column's values so far (linear,
    // delta, dod, for at every width class and with patches, huff and
    // ans). The
    // decoded column must be the concatenation of the blocks.
    let mut r = rng(14);
    let mut w = 0i64;
    let sets: Vec<Vec<i64>> = vec![
        (0..300).map(|i| 5 + 3 * i).collect(),
        (0..300).map(|_| (r() % 1000) as i64).collect(),
        (0..300).map(|_| (r() >> 20) as i64).collect(),
        (0..300).map(|_| r() as i64).collect(),
        (0..300)
            .map(|i| if i % 50 == 7 { 1 << 40 } else { i })
            .collect(),
        (0..300)
            .map(|_| {
                w += (r() % 21) as i64 - 10;
                w
            })
            .collect(),
    ];
    let first: Vec<i64> = (0..123).map(|i| -i).collect();
    let head = encode_with("plain", &Values::Int(first.clone()), Effort::Max)
        .unwrap()
        .unwrap();
    let mut tried = 0;
    for codec in ["linear", "delta", "dod", "for", "huff", "ans"] {
        for set in &sets {
            let Some(node) = encode_with(codec, &Values::Int(set.clone()), Effort::Max).unwrap()
            else {
                continue;
            };
            tried += 1;
            let mut frame = MAGIC.to_vec();
            frame.push(VERSION);
            frame.push(ColumnKind::Int.tag());
            io::put_varint(&mut frame, (first.len() + 2 * set.len()) as u64);
            io::put_varint(&mut frame, 3);
            for (n, bytes) in [(first.len(), &head), (set.len(), &node), (set.len(), &node)] {
                io::put_varint(&mut frame, n as u64);
                frame.push(0);
                frame.extend_from_slice(bytes);
            }
            let want: Vec<i64> = first.iter().chain(set).chain(set).copied().collect();
            assert_eq!(
                decode_column(&frame).unwrap(),
                Column::new(ColumnKind::Int, Values::Int(want)).unwrap(),
                "{codec}"
            );
        }
    }
    assert!(tried >= 20, "{tried}");
}

#[test]
fn selection_finds_the_structure() {
    let one = |v: Values, kind| {
        let col = Column::new(kind, v).unwrap();
        let enc = encode_column(&col, Effort::Max).unwrap();
        assert_eq!(decode_column(&enc.bytes).unwrap(), col);
        (
            enc.cascades[0].clone(),
            enc.bytes.len(),
            col.values().raw_bytes(),
        )
    };
    let (c, size, _) = one(Values::Int(vec![5; 1000]), ColumnKind::Int);
    // Frame of reference at width 0 (3 bytes) beats one 8-byte value.
    assert!(c == "one" || c == "for", "{c}");
    assert!(size < 20);
    let (c, size, raw) = one(
        Values::Int((0..5000).map(|i| 1_000_000 + 1000 * i).collect()),
        ColumnKind::Timestamp,
    );
    assert!(
        c.starts_with("delta") || c.starts_with("dod") || c.starts_with("linear"),
        "{c}"
    );
    assert!(size * 100 < raw, "{c}: {size} of {raw}");
    // Timestamps on a grid with jitter: the residuals from the line take
    // the 6 bits of the 41 jitter values, not the 7 of the deltas.
    let mut r = rng(8);
    let ts: Vec<i64> = (0..20_000)
        .map(|i| 1_700_000_000_000 + i * 1000 + (r() % 41) as i64 - 20)
        .collect();
    let (c, size, raw) = one(Values::Int(ts), ColumnKind::Timestamp);
    assert!(c.starts_with("linear"), "{c}");
    assert!(size * 64 < raw * 6 + 64 * 64, "{c}: {size} of {raw}");
    // Increasing ids: a line without residuals, a few bytes.
    let (c, size, _) = one(
        Values::Int((0..BLOCK_VALUES as i64).map(|i| 100_000 + i).collect()),
        ColumnKind::Int,
    );
    assert_eq!(c, "linear");
    assert!(size <= 24, "{c}: {size}");
    let cats = ["ios", "android", "web"];
    let (c, _, _) = one(
        Values::Text(
            (0..3000)
                .map(|i| cats[(i * 7 + i / 5) % 3].to_owned())
                .collect(),
        ),
        ColumnKind::Text,
    );
    assert!(c.starts_with("dict") || c.starts_with("lz4"), "{c}");
    let mut r = rng(9);
    let prices: Vec<f64> = (0..5000).map(|_| (r() % 100_000) as f64 / 100.0).collect();
    let (c, size, raw) = one(Values::Float(prices), ColumnKind::Float);
    assert!(c.starts_with("decimal"), "{c}");
    // 17 bits of information per value: at least 3.5x.
    assert!(size * 7 < raw * 2, "{c}: {size} of {raw}");
}

/// Hourly readings of three stations one after another, with rare gaps
/// of a few hours: a spread sample sees almost no gap.
fn hourly_stations_with_gaps(seed: u64) -> Vec<i64> {
    let mut r = rng(seed);
    let hour = 3_600_000i64;
    let mut out = Vec::new();
    for _ in 0..3 {
        let mut t = 1_356_998_400_000i64;
        for _ in 0..8700 {
            out.push(t);
            t += hour
                * if r().is_multiple_of(600) {
                    2 + (r() % 5) as i64
                } else {
                    1
                };
        }
    }
    out
}

#[test]
fn regular_series_with_rare_gaps_cost_their_gaps() {
    // Seeds on which a selection ranking by the sample alone chose
    // second differences or deltas off the grid (twice the size).
    for seed in [0, 3, 9, 13] {
        let ts = hourly_stations_with_gaps(seed);
        // The oracle: the entropy of the hour steps between readings.
        let mut counts = std::collections::HashMap::new();
        for w in ts.windows(2) {
            *counts.entry(w[1] - w[0]).or_insert(0u64) += 1;
        }
        let n = (ts.len() - 1) as f64;
        let bits: f64 = counts
            .values()
            .map(|&c| c as f64 * (n / c as f64).log2())
            .sum();
        let col = Column::new(ColumnKind::Timestamp, Values::Int(ts)).unwrap();
        let enc = encode_column(&col, Effort::Max).unwrap();
        assert_eq!(decode_column(&enc.bytes).unwrap(), col);
        // Headers (three nodes, the bins) on top of the entropy; second
        // differences (each gap twice) or bit-packed gaps cost twice that.
        assert!(
            (enc.bytes.len() as f64) < bits / 8.0 * 1.3 + 80.0,
            "seed {seed}: {} bytes, entropy {:.0} bytes: {:?}",
            enc.bytes.len(),
            bits / 8.0,
            enc.cascades
        );
    }
}

#[test]
fn effort_parses_and_fast_avoids_slow_codecs() {
    assert_eq!("FAST".parse::<Effort>().unwrap(), Effort::Fast);
    assert_eq!("max".parse::<Effort>().unwrap(), Effort::Max);
    assert!("medium".parse::<Effort>().is_err());
    let mut r = rng(5);
    let mut walk = 0.0;
    let series: Vec<f64> = (0..3000)
        .map(|i| {
            if i % 3 == 0 {
                walk += (r() % 1000) as f64 / 1e3;
            }
            walk
        })
        .collect();
    let col = Column::new(ColumnKind::Float, Values::Float(series)).unwrap();
    let enc = encode_column(&col, Effort::Fast).unwrap();
    assert!(!enc.cascades[0].contains("gorilla"), "{:?}", enc.cascades);
    assert!(
        enc.cascades[0].matches('(').count() <= 1,
        "{:?}",
        enc.cascades
    );
}

#[test]
fn fsst_compresses_word_text_and_rejects_bad_utf8() {
    let mut r = rng(11);
    let words = [
        "offline", "battery", "sync", "note", "meeting", "tomorrow", "milk",
    ];
    let notes: Vec<String> = (0..3000)
        .map(|_| {
            (0..2 + r() % 6)
                .map(|_| words[(r() % words.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let v = Values::Text(notes);
    let enc = encode_with("fsst", &v, Effort::Max).unwrap().unwrap();
    assert_eq!(decode_values(&enc, DataKind::Text, v.len()).unwrap(), v);
    // About one code per word and space: well above 3x.
    assert!(
        enc.len() * 3 < v.raw_bytes(),
        "{} of {}",
        enc.len(),
        v.raw_bytes()
    );
    // Bytes that are not UTF-8, decoded as text.
    let bad = Values::Bytes(vec![b"ok".to_vec(), vec![0xFF, 0x41]]);
    let enc = encode_with("fsst", &bad, Effort::Max).unwrap().unwrap();
    assert_eq!(decode_values(&enc, DataKind::Bytes, 2).unwrap(), bad);
    assert!(matches!(
        decode_values(&enc, DataKind::Text, 2),
        Err(CodecError::InvalidUtf8 { index: 1, .. })
    ));
    // Valid UTF-8 as a whole, but value 0 ends inside "é".
    let split = Values::Bytes(vec![vec![b'a', 0xC3], vec![0xA9]]);
    let enc = encode_with("fsst", &split, Effort::Max).unwrap().unwrap();
    assert!(matches!(
        decode_values(&enc, DataKind::Text, 2),
        Err(CodecError::InvalidUtf8 { index: 0, .. })
    ));
}

#[test]
fn float_bits_cascade_packs_a_random_walk() {
    let mut r = rng(12);
    // Starting at 16 the walk crosses a power of two, where the float bits
    // jump: the deltas then need patched exceptions in the last stage.
    let mut w = 16.0f64;
    let walk: Vec<f64> = (0..5000)
        .map(|_| {
            w += ((r() % 2001) as f64 - 1000.0) / 20_000.0;
            w
        })
        .collect();
    let v = Values::Float(walk);
    let enc = encode_with("fbits", &v, Effort::Max).unwrap().unwrap();
    assert_eq!(decode_values(&enc, DataKind::Float, v.len()).unwrap(), v);
    // Steps of at most 0.05 in [8, 32) move the bits by less than 2^47:
    // the deltas pack to at most 48 bits plus headers and a few patches.
    assert!(
        enc.len() * 64 <= v.raw_bytes() * 48 + 64 * 64,
        "{}",
        enc.len()
    );
}

#[test]
fn frame_of_reference_patches_outliers_as_the_last_stage() {
    // Deltas below 256 with a jump of 2^50 every 1000 values: `delta` then
    // `for` (two stages, the fast effort) packs 8 bits per delta and patches
    // the jumps, their lists stored plain (16 bytes per jump).
    let mut r = rng(13);
    let mut x = 0i64;
    let v: Vec<i64> = (0..4000)
        .map(|i| {
            x += if i % 1000 == 999 {
                1 << 50
            } else {
                (r() % 256) as i64
            };
            x
        })
        .collect();
    let values = Values::Int(v);
    let enc = encode_with("delta", &values, Effort::Fast)
        .unwrap()
        .unwrap();
    assert_eq!(decode_values(&enc, DataKind::Int, 4000).unwrap(), values);
    assert!(enc.len() <= 4000 + 3 * 16 + 64, "{}", enc.len());
}

/// Small encodings of every codec, to mutate.
fn small_encodings() -> Vec<(Vec<u8>, DataKind, usize, &'static str)> {
    let mut out = Vec::new();
    let sets = [
        Values::Int(vec![5, 5, 5, 9, 9, 1 << 40, 7, 7]),
        Values::Int(vec![100, 103, 106, 109, 113, 115]),
        Values::Float(vec![1.25, 1.25, 2.5, -0.0, f64::NAN, 3.75]),
        Values::Text(vec![
            "key-a".into(),
            "key-b".into(),
            "key-a".into(),
            "zz".into(),
        ]),
        Values::Bool(vec![true, true, true, false, false, false, false, true]),
        Values::Bytes(vec![vec![1, 2, 3], vec![1, 2, 3], vec![]]),
    ];
    for name in BUILTIN {
        for v in &sets {
            if let Ok(Some(b)) = encode_with(name, v, Effort::Max) {
                out.push((b, v.kind(), v.len(), name));
            }
        }
    }
    out
}

#[test]
fn every_truncation_is_a_typed_error() {
    let encs = small_encodings();
    assert!(encs.len() >= 20);
    for (bytes, kind, count, name) in encs {
        assert!(decode_values(&bytes, kind, count).is_ok());
        for cut in 0..bytes.len() {
            assert!(
                decode_values(&bytes[..cut], kind, count).is_err(),
                "{name}: prefix {cut} of {} decoded",
                bytes.len()
            );
        }
    }
    let col = Column::new(ColumnKind::Text, Values::Text(vec!["x".into(); 10])).unwrap();
    let enc = encode_column(&col, Effort::Max).unwrap().bytes;
    for cut in 0..enc.len() {
        assert!(decode_column(&enc[..cut]).is_err());
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    for (bytes, kind, count, _) in small_encodings() {
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let _ = decode_values(&b, kind, count);
            }
        }
    }
}

#[test]
fn huge_counts_error_before_allocating() {
    // "UC" v1 int, 2^40 rows, 1 block, then a few bytes.
    let mut b = b"UC\x01\x00".to_vec();
    io::put_varint(&mut b, 1 << 40);
    io::put_varint(&mut b, 1);
    b.extend_from_slice(&[0; 9]);
    assert!(b.len() <= 20);
    assert!(matches!(
        decode_column(&b),
        Err(CodecError::CountTooLarge { .. })
    ));
    assert!(matches!(
        decode_values(b"\x05plain", DataKind::Int, 1 << 40),
        Err(CodecError::CountTooLarge { .. })
    ));
    // A 2^40-run RLE of text: the run count is bounded by the block.
    let mut node = b"\x03one".to_vec();
    io::put_varint(&mut node, 1000);
    node.extend_from_slice(&[b'x'; 1000]);
    assert!(matches!(
        decode_values(&node, DataKind::Text, BLOCK_VALUES),
        Err(CodecError::OutputTooLarge { .. })
    ));
    // An lz4 stage claiming a huge raw length.
    let mut node = b"\x03lz4".to_vec();
    io::put_varint(&mut node, 1 << 40);
    io::put_varint(&mut node, 2);
    node.extend_from_slice(&[0, 0]);
    assert!(matches!(
        decode_values(&node, DataKind::Bytes, 1),
        Err(CodecError::CountTooLarge { .. })
    ));
}

#[test]
fn unknown_codec_and_bad_text_are_named() {
    let err = decode_values(b"\x04zzzz", DataKind::Int, 0).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CodecError::UnknownCodec { offset: 0, .. }));
    assert!(
        msg.contains("zzzz") && msg.contains("plain") && msg.contains("gorilla"),
        "{msg}"
    );
    // plain text: one value of 2 bytes, invalid UTF-8.
    let err = decode_values(b"\x05plain\x02\xC3\x28", DataKind::Text, 1).unwrap_err();
    assert!(
        matches!(err, CodecError::InvalidUtf8 { index: 0, .. }),
        "{err}"
    );
    // The same bytes are fine as bytes.
    assert!(decode_values(b"\x05plain\x02\xC3\x28", DataKind::Bytes, 1).is_ok());
    // A codec given data it does not take.
    let err = decode_values(b"\x07gorilla\x00", DataKind::Text, 0).unwrap_err();
    assert!(matches!(
        err,
        CodecError::WrongKind {
            codec: "gorilla",
            ..
        }
    ));
    // Invalid UTF-8 through front coding: split a 2-byte character.
    let mut b = b"\x05front".to_vec();
    let prefix = encode_with("plain", &Values::Int(vec![0, 1]), Effort::Max)
        .unwrap()
        .unwrap();
    b.extend_from_slice(&prefix);
    let suffix = encode_with(
        "plain",
        &Values::Bytes(vec![vec![0xC3, 0xA9], vec![]]),
        Effort::Max,
    )
    .unwrap()
    .unwrap();
    b.extend_from_slice(&suffix);
    assert!(matches!(
        decode_values(&b, DataKind::Text, 2),
        Err(CodecError::InvalidUtf8 { index: 1, .. })
    ));
}

#[test]
fn column_shape_is_checked() {
    assert!(Column::new(ColumnKind::Int, Values::Float(vec![1.0])).is_err());
    assert!(Column::with_validity(
        ColumnKind::Int,
        Values::Int(vec![1]),
        Some(vec![true, true])
    )
    .is_err());
    let c = Column::with_validity(ColumnKind::Int, Values::Int(vec![1]), Some(vec![true])).unwrap();
    assert!(c.validity().is_none());
    assert_eq!(c.rows(), 1);
}

fn arb_values() -> impl Strategy<Value = Values> {
    prop_oneof![
        prop::collection::vec(any::<i64>(), 0..200).prop_map(Values::Int),
        prop::collection::vec(-1000i64..1000, 0..200).prop_map(Values::Int),
        prop::collection::vec(any::<u64>(), 0..200)
            .prop_map(|v| Values::Float(v.into_iter().map(f64::from_bits).collect())),
        prop::collection::vec(-100_000i64..100_000, 0..200)
            .prop_map(|v| Values::Float(v.into_iter().map(|x| x as f64 / 100.0).collect())),
        prop::collection::vec("[a-c]{0,6}", 0..100).prop_map(Values::Text),
        prop::collection::vec(any::<bool>(), 0..300).prop_map(Values::Bool),
        prop::collection::vec(prop::collection::vec(0u8..4, 0..8), 0..50).prop_map(Values::Bytes),
    ]
}

proptest! {
    #[test]
    fn random_columns_round_trip(values in arb_values(), nulls in prop::collection::vec(any::<bool>(), 0..50)) {
        let kind = match values.kind() {
            DataKind::Int => ColumnKind::Int,
            DataKind::Float => ColumnKind::Float,
            DataKind::Text => ColumnKind::Text,
            DataKind::Bool => ColumnKind::Bool,
            DataKind::Bytes => ColumnKind::Bytes,
        };
        // Interleave nulls: every `false` in `nulls` inserts a null row.
        let mut mask = Vec::new();
        for i in 0..values.len() {
            if nulls.get(i).is_some_and(|&b| !b) {
                mask.push(false);
            }
            mask.push(true);
        }
        let col = Column::with_validity(kind, values, Some(mask)).unwrap();
        for effort in [Effort::Fast, Effort::Max] {
            let enc = encode_column(&col, effort).unwrap();
            prop_assert_eq!(&decode_column(&enc.bytes).unwrap(), &col);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), count in 0usize..100) {
        for kind in [DataKind::Int, DataKind::Float, DataKind::Text, DataKind::Bool, DataKind::Bytes] {
            let _ = decode_values(&bytes, kind, count);
        }
        let _ = decode_column(&bytes);
    }
}

#[test]
fn wide_frames_unpack_like_the_kernel() {
    // Widths above 32 take the codec's own unpacking: compare with the
    // kernel's scalar unpacking at every width and several lengths.
    let mut r = rng(13);
    for b in 33..=57u32 {
        for n in [0usize, 1, 2, 7, 8, 9, 63, 200] {
            let mask = (1u64 << b) - 1;
            let vals: Vec<u64> = (0..n).map(|_| r() & mask).collect();
            let mut packed = Vec::new();
            unidb_kernels::bitpack::pack_u64(&vals, b, &mut packed).unwrap();
            let min = -((r() >> 1) as i64);
            let want: Vec<i64> = unidb_kernels::bitpack::unpack_u64(&packed, n, b)
                .unwrap()
                .into_iter()
                .map(|o| min.wrapping_add(o as i64))
                .collect();
            // Appended after what the vector held.
            let mut got = vec![7i64];
            crate::builtin::int::unpack_wide_add(&packed, n, b, min, &mut got);
            assert_eq!(got[0], 7);
            assert_eq!(got[1..], want, "b={b} n={n}");
        }
    }
}

#[test]
fn flat_text_matches_owned_decoding() {
    let mut sets = text_sets();
    let mut r = rng(14);
    let words = ["sync", "offline", "battery", "é🙂", "note"];
    sets.push(
        (0..BLOCK_VALUES + 500)
            .map(|_| words[(r() % 5) as usize].repeat(1 + (r() % 3) as usize))
            .collect(),
    );
    for values in sets {
        let n = values.len();
        let masks = [
            None,
            Some((0..n * 2).map(|i| i % 2 == 1).collect::<Vec<bool>>()),
        ];
        for mask in masks {
            let col = Column::with_validity(ColumnKind::Text, Values::Text(values.clone()), mask)
                .unwrap();
            for effort in [Effort::Fast, Effort::Max] {
                let enc = encode_column(&col, effort).unwrap();
                let flat = decode_text_column(&enc.bytes).unwrap();
                assert_eq!(flat.rows(), col.rows());
                assert_eq!(flat.len(), n);
                assert_eq!(flat.validity(), col.validity());
                let want: Vec<&str> = values.iter().map(String::as_str).collect();
                let got: Vec<&str> = flat.iter().flatten().collect();
                assert_eq!(got, want, "{:?}", enc.cascades);
                assert_eq!(flat.as_str(), values.concat());
            }
        }
    }
    // Not a text column.
    let ints = Column::new(ColumnKind::Int, Values::Int(vec![1, 2])).unwrap();
    let enc = encode_column(&ints, Effort::Max).unwrap();
    assert!(matches!(
        decode_text_column(&enc.bytes),
        Err(CodecError::NotAColumn(_))
    ));
    // Bytes that are not UTF-8 behind a text header, in the flat paths.
    for codec in ["plain", "fsst", "dict"] {
        let bad = Values::Bytes(vec![b"ok".to_vec(), vec![0xFF], b"ok".to_vec()]);
        let node = encode_with(codec, &bad, Effort::Max).unwrap().unwrap();
        let mut col = b"UC\x01\x03\x03\x01\x03\x00".to_vec();
        col.extend_from_slice(&node);
        assert!(decode_column(&col).is_err(), "{codec}");
        assert!(
            matches!(
                decode_text_column(&col),
                Err(CodecError::InvalidUtf8 { .. }) | Err(CodecError::Corrupt { .. })
            ),
            "{codec}: {:?}",
            decode_text_column(&col)
        );
    }
}

/// The speed floor judges a whole cascade by its slowest stage: whatever
/// the selection keeps, a cascade with a Medium (Slow) stage anywhere is
/// more than 12% (25%) smaller than plain, and the reported class is the
/// slowest of the named stages (looked up in the registry independently).
#[test]
fn speed_floor_covers_nested_stages() {
    let mut r = rng(15);
    let n = BLOCK_VALUES;
    let columns = [
        // 70% true at random: entropy 0.88 bits, so an entropy stage under
        // run-length/dictionary saves only a few percent over bit-packing.
        Values::Bool((0..n).map(|_| r() % 10 < 7).collect()),
        Values::Bool((0..n).map(|_| r() % 100 < 97).collect()),
        Values::Int((0..n).map(|_| (r() % 5) as i64).collect()),
        Values::Int((0..n).map(|_| (r() % 1000) as i64 * 3).collect()),
        Values::Text(
            (0..n / 8)
                .map(|i| ["a", "bb", "ccc"][i % 3].to_owned())
                .collect(),
        ),
    ];
    for values in columns {
        let plain = encode_with("plain", &values, Effort::Max).unwrap().unwrap();
        let mut out = Vec::new();
        let (desc, cost) =
            select::encode_node(&values, Effort::Max.stages(), Effort::Max, None, &mut out)
                .unwrap();
        let desc = desc.to_string();
        let named = desc
            .split(['(', ')', ','])
            .filter(|s| !s.is_empty())
            .map(|s| Codec::registry().get(s).unwrap().cost)
            .max()
            .unwrap();
        assert_eq!(cost, named, "{desc}");
        let need = match cost {
            Cost::Fast => plain.len(),
            Cost::Medium => plain.len() * 100 / 112,
            Cost::Slow => plain.len() * 100 / 125,
        };
        assert!(
            out.len() <= need,
            "{desc} ({cost:?}) took {} bytes, plain {}",
            out.len(),
            plain.len()
        );
        assert_eq!(
            decode_values(&out, values.kind(), values.len()).unwrap(),
            values
        );
    }
}

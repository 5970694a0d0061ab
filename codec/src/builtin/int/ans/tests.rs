use super::*;
use crate::{decode_column, decode_values, encode_column, encode_with};
use crate::{Column, ColumnKind, Effort};
use proptest::prelude::*;

fn enc(x: &[i64]) -> Option<Vec<u8>> {
    encode_with("ans", &Values::Int(x.to_vec()), Effort::Max).unwrap()
}

fn dec(bytes: &[u8], n: usize) -> Result<Values, CodecError> {
    decode_values(bytes, DataKind::Int, n)
}

/// Deterministic pseudo-random values.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut r = unidb_common::rng::SplitMix64::new(seed);
    move || r.next_u64()
}

/// Shannon entropy of `x` in bits (the oracle for the size).
fn entropy_bits(x: &[i64]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for v in x {
        *counts.entry(*v).or_insert(0u64) += 1;
    }
    let n = x.len() as f64;
    counts
        .values()
        .map(|&c| c as f64 * (n / c as f64).log2())
        .sum()
}

/// Shapes the codec is for, and edge cases of the bit reader.
fn shapes() -> Vec<Vec<i64>> {
    let mut r = rng(7);
    vec![
        // Deltas of a 5-minute series with a few gaps.
        (0..5000)
            .map(|i| {
                if i % 211 == 0 {
                    300_000 * (2 + i % 5)
                } else {
                    300_000
                }
            })
            .collect(),
        // Bell-shaped sensor noise.
        (0..4000)
            .map(|_| (0..4).map(|_| (r() % 64) as i64).sum::<i64>() - 126)
            .collect(),
        // Full-width offsets next to narrow ones (two refills a value).
        (0..3000)
            .map(|i| {
                if i % 3 == 0 {
                    (r() >> 8) as i64
                } else {
                    (r() % 4) as i64
                }
            })
            .collect(),
        // Extremes.
        (0..100)
            .map(|i| [i64::MIN, i64::MAX, 0, -1][i % 4])
            .collect(),
        // Every length modulo the four lanes.
        (0..17).map(|i| i % 3).collect(),
        (0..18).map(|i| i % 5 - 2).collect(),
        (0..19).map(|i| (i * i) % 7).collect(),
    ]
}

#[test]
fn shapes_round_trip() {
    for (k, x) in shapes().into_iter().enumerate() {
        let Some(bytes) = enc(&x) else {
            assert!(k >= 3, "shape {k} fits (extremes and tiny streams may not)");
            continue;
        };
        assert_eq!(dec(&bytes, x.len()).unwrap(), Values::Int(x), "shape {k}");
    }
}

#[test]
fn size_is_near_the_entropy() {
    for x in shapes().into_iter().take(2) {
        let bytes = enc(&x).unwrap();
        let bound = entropy_bits(&x) / 8.0;
        // Bins cost offset bits the entropy of single values does not
        // see; the header is a few bytes per bin.
        assert!(
            (bytes.len() as f64) < bound * 1.15 + 200.0,
            "{} bytes, entropy {bound:.0}",
            bytes.len()
        );
    }
    // A regular series with rare gaps costs far less than a bit a value.
    let x = &shapes()[0];
    assert!(enc(x).unwrap().len() < x.len() / 16);
}

#[test]
fn regular_series_with_gaps_compress_beyond_bit_packing() {
    let mut t = 1_600_000_000_000i64;
    let ts: Vec<i64> = (0..20_000)
        .map(|i| {
            t += if i % 997 == 0 { 900_000 } else { 300_000 };
            t
        })
        .collect();
    let col = Column::new(ColumnKind::Timestamp, Values::Int(ts)).unwrap();
    let e = encode_column(&col, Effort::Max).unwrap();
    assert_eq!(decode_column(&e.bytes).unwrap(), col);
    // 20 000 deltas, 20 of them gaps: entropy about 230 bits.
    assert!(
        e.bytes.len() < 200,
        "{} bytes: {:?}",
        e.bytes.len(),
        e.cascades
    );
}

#[test]
fn every_truncation_and_flip_is_handled() {
    for x in shapes() {
        let Some(bytes) = enc(&x) else { continue };
        for cut in 0..bytes.len() {
            assert!(dec(&bytes[..cut], x.len()).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len().min(300) {
            for bit in [0, 3, 7] {
                let mut b = bytes.clone();
                b[at] ^= 1 << bit;
                // A flip either fails or decodes to something: no panic.
                let _ = dec(&b, x.len());
            }
        }
        // A wrong count is refused.
        assert!(dec(&bytes, x.len() + 1).is_err());
        assert!(dec(&bytes, x.len() - 1).is_err());
    }
}

/// A node with two bins (frequencies `l - 1` and 1), zero-width
/// offsets and a state stream of `bits` zero bits.
fn crafted(bits: u64) -> Vec<u8> {
    let mut b = vec![3u8];
    b.extend_from_slice(b"ans");
    put_varint(&mut b, 2);
    b.push(MAX_LOG as u8);
    put_zigzag(&mut b, 0);
    b.push(0);
    put_varint(&mut b, (1 << MAX_LOG) - 1);
    put_varint(&mut b, 1);
    b.push(0);
    put_varint(&mut b, 1);
    for _ in 0..V1_LANES {
        put_varint(&mut b, 0);
    }
    put_varint(&mut b, bits);
    put_varint(&mut b, 0);
    b.extend(std::iter::repeat_n(0u8, bits.div_ceil(8) as usize));
    b
}

#[test]
fn counts_beyond_what_the_stream_justifies_are_refused() {
    let most = (V1_LANES as u64) * ((1 << MAX_LOG) + 1);
    let err = dec(&crafted(0), most as usize + 1).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::CountTooLarge {
                what: "ans values",
                ..
            }
        ),
        "{err}"
    );
    // Within the bound the bytes are checked as usual.
    assert!(dec(&crafted(0), 100).is_err());
}

/// A version 3 node with two bins (frequencies `l - 1` and 1), zero-width
/// offsets, 16 states at `2^16` and `words` zero words.
fn crafted_v3(log: u32, words: usize) -> Vec<u8> {
    let mut b = vec![3u8];
    b.extend_from_slice(b"ans");
    b.extend_from_slice(&[ESCAPE, RANS_VERSION]);
    put_varint(&mut b, 2);
    b.push(log as u8);
    put_zigzag(&mut b, 0);
    b.push(0);
    put_varint(&mut b, (1 << log) - 1);
    put_varint(&mut b, 1);
    b.push(0);
    put_varint(&mut b, 1);
    for _ in 0..RANS_LANES {
        b.extend_from_slice(&rans::STATE_LOW.to_le_bytes());
    }
    put_varint(&mut b, words as u64);
    put_varint(&mut b, 0);
    b.extend(std::iter::repeat_n(0u8, 2 * words));
    b
}

#[test]
fn version_3_counts_beyond_what_the_words_justify_are_refused() {
    let most = RANS_LANES as u64 * 12 * ((1 << MIN_LOG) + 1);
    let err = dec(&crafted_v3(MIN_LOG, 0), most as usize + 1).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::CountTooLarge {
                what: "ans values",
                ..
            }
        ),
        "{err}"
    );
    // Within the bound: decoded, then refused by the final checks.
    assert!(matches!(
        dec(&crafted_v3(MAX_LOG, 4), 1000),
        Err(CodecError::Corrupt { .. })
    ));
    // A state below 2^16 is refused.
    let mut b = crafted_v3(MAX_LOG, 0);
    let at = b.len() - 2 - 4 * RANS_LANES;
    b[at..at + 4].copy_from_slice(&5u32.to_le_bytes());
    assert!(matches!(dec(&b, 10), Err(CodecError::Corrupt { .. })));
}

#[test]
fn headers_are_validated() {
    let good = crafted(8);
    // Table log out of range.
    let mut b = good.clone();
    b[5] = (MAX_LOG + 1) as u8;
    assert!(matches!(dec(&b, 10), Err(CodecError::Corrupt { .. })));
    // Frequencies not summing to the table size.
    let mut b = good.clone();
    b[9] = 2;
    assert!(dec(&b, 10).is_err());
    // One bin.
    let mut b = good;
    b[4] = 1;
    assert!(matches!(dec(&b, 10), Err(CodecError::Corrupt { .. })));
}

/// The values of the version 1 fixture below.
fn v1_values() -> Vec<i64> {
    (0..300i64)
        .map(|i| {
            if i % 7 == 0 {
                1000 + (i * 37) % 500
            } else {
                (i * i) % 5 - 2
            }
        })
        .collect()
}

/// A node of [`v1_values`] as the version 1 encoder (four lanes in one
/// stream) wrote it, before the layout changed.
const V1_NODE: &str = "03616e730306030121040016e60709093f35240fab039d046578acbe623196e1b1fa8ac55886c7ea2b1663191eabaf588c6578ac9ee61226c1b2f6538b5d1c87d7c95cc39c6f7b3fb4d0294d78000076602558c592e8936ba3390d4997b696ed5a36f6b67e3af042ea6413d5d24d6b6fd798252fb6debeeadadef875413bdc0e05692f2ab3832cd14e31ab2dd368f74ef51a";

#[test]
fn version_1_streams_still_decode() {
    let bytes: Vec<u8> = (0..V1_NODE.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&V1_NODE[i..i + 2], 16).unwrap())
        .collect();
    assert_ne!(bytes[4], ESCAPE, "a version 1 node");
    let x = v1_values();
    assert_eq!(dec(&bytes, x.len()).unwrap(), Values::Int(x.clone()));
    // Its checks still hold: a wrong count, a cut.
    assert!(dec(&bytes, x.len() - 1).is_err());
    assert!(dec(&bytes[..bytes.len() - 1], x.len()).is_err());
    // The same values are now written in version 2 (too few for version
    // 3, see below).
    let now = enc(&x).unwrap();
    assert_eq!(&now[4..6], &[ESCAPE, TANS_VERSION]);
    assert_eq!(dec(&now, x.len()).unwrap(), Values::Int(x));
}

/// A node of [`v1_values`] as the version 2 encoder (four lanes, a bit
/// stream each) wrote it before version 3 was added.
const V2_NODE: &str = "03616e7300020306030121040016e60709093f35240f6b696c6b9d04ddd42ab423e0772dd85a8fff1600abd08e80df4dad423b027e37f500ed08f8ddd42ab423e0772dd81a0380df4dad423b027e37b50aedd8000076602558c592e8936ba3390d4997b696ed5a36f6b67e3af042ea6413d5d24d6b6fd798252fb6debeeadadef875413bdc0e05692f2ab3832cd14e31ab2dd368f74ef51a";

#[test]
fn version_2_streams_still_decode() {
    let bytes: Vec<u8> = (0..V2_NODE.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&V2_NODE[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(&bytes[4..6], &[ESCAPE, TANS_VERSION]);
    let x = v1_values();
    assert_eq!(dec(&bytes, x.len()).unwrap(), Values::Int(x.clone()));
    assert!(dec(&bytes, x.len() - 1).is_err());
    assert!(dec(&bytes[..bytes.len() - 1], x.len()).is_err());
}

/// Values for which version 3 is written: many, skewed, in bins of
/// several widths.
fn v3_values(n: usize, seed: u64) -> Vec<i64> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| {
            let v = r();
            match v % 16 {
                0 => (v >> 20) as i64,
                1..=3 => (v >> 60) as i64 - 8,
                _ => (v >> 62) as i64,
            }
        })
        .collect()
}

#[test]
fn version_3_round_trips_and_the_encoder_writes_version_2() {
    for n in [40_000usize, 65_536] {
        let x = v3_values(n, n as u64);
        // The encoder keeps to version 2 (see `WRITE_RANS`).
        let chosen = enc(&x).unwrap();
        assert_eq!(&chosen[4..6], &[ESCAPE, TANS_VERSION], "n={n}");
        assert_eq!(dec(&chosen, n).unwrap(), Values::Int(x.clone()), "n={n}");
        let bytes = encode_version_3(&x).unwrap();
        assert_eq!(&bytes[4..6], &[ESCAPE, RANS_VERSION], "n={n}");
        assert_eq!(dec(&bytes, n).unwrap(), Values::Int(x.clone()), "n={n}");
        // Its size stays near the entropy of the bins plus the offsets:
        // no more than the version 2 encoding of the same values + 0.2%.
        let (bins, freq, log, bin_of, offsets) = parts(&x);
        let mut v2 = Vec::new();
        write_tans(&mut v2, &bins, &freq, log, &bin_of, &offsets);
        assert!(bytes.len() - 4 <= v2.len() + v2.len() / RANS_SLACK, "n={n}");
        // A wrong count, a cut, a flipped word: errors, never a panic.
        assert!(dec(&bytes, n - 1).is_err());
        assert!(dec(&bytes[..bytes.len() - 1], n).is_err());
    }
}

/// What the encoder derives from `x` before writing a version.
fn parts(x: &[i64]) -> (Vec<Bin>, Vec<u32>, u32, Vec<u16>, Bits) {
    let mut sorted = x.to_vec();
    sorted.sort_unstable();
    let bins = choose_bins(&sorted).unwrap();
    let log = table_log(x.len(), bins.len());
    let counts: Vec<u64> = bins.iter().map(|b| b.count).collect();
    let freq = normalize(&counts, log);
    let lowers: Vec<i64> = bins.iter().map(|b| b.lower).collect();
    let bin_of: Vec<u16> = x
        .iter()
        .map(|&v| (lowers.partition_point(|&lo| lo <= v) - 1) as u16)
        .collect();
    let mut offsets = Bits::with_capacity(x.len());
    for (i, &v) in x.iter().enumerate() {
        let b = &bins[usize::from(bin_of[i])];
        offsets.put((v as u64).wrapping_sub(b.lower as u64), b.width);
    }
    offsets.flush();
    (bins, freq, log, bin_of, offsets)
}

#[test]
fn version_3_streams_decode_on_every_kernel_path() {
    for n in [2usize, 15, 16, 17, 255, 256, 257, 600, 5003] {
        version_3_on_every_path(n);
    }
}

/// Writes version 3 of `n` values whatever its size; the active path
/// decodes it in `dec`, and every other path must give the same bins from
/// the same words.
fn version_3_on_every_path(n: usize) {
    let mut x = v3_values(n, 3);
    x[0] = -9; // at least two bins
    x[n - 1] = 1 << 40;
    let (bins, freq, log, bin_of, offsets) = parts(&x);
    let mut b = Vec::new();
    write_rans(&mut b, &bins, &freq, log, &bin_of, &offsets);
    let mut node = vec![3u8];
    node.extend_from_slice(b"ans");
    node.extend_from_slice(&b);
    assert_eq!(dec(&node, x.len()).unwrap(), Values::Int(x.clone()));
    let table = rans_table(&freq, log);
    let want: Vec<u8> = bin_of.iter().map(|&k| k as u8).collect();
    // The words start after the header: decode them directly.
    let mut r = Reader::new(&b[2..]);
    let nbins = r.varint("n").unwrap();
    r.u8("log").unwrap();
    for k in 0..nbins {
        if k == 0 {
            r.zigzag("lo").unwrap();
        } else {
            r.varint("lo").unwrap();
        }
        r.u8("w").unwrap();
        r.varint("f").unwrap();
    }
    let st: [u32; RANS_LANES] = std::array::from_fn(|_| r.u32("s").unwrap());
    let nw = r.varint("nw").unwrap() as usize;
    r.varint("ob").unwrap();
    let words: Vec<u16> = r
        .take(2 * nw, "w")
        .unwrap()
        .chunks_exact(2)
        .map(|w| u16::from_le_bytes([w[0], w[1]]))
        .collect();
    for isa in unidb_kernels::Isa::available() {
        let k = Kernels::for_isa(isa).unwrap();
        let mut s = st;
        let mut ks = vec![0u8; x.len()];
        let pos = k.rans16_decode(&table, &mut s, &words, 0, &mut ks).unwrap();
        assert_eq!(ks, want, "{isa}");
        assert_eq!((pos, s), (nw, [rans::STATE_LOW; RANS_LANES]), "{isa}");
    }
}

#[test]
fn version_3_headers_are_validated() {
    let x = v3_values(3000, 5);
    let good = encode_version_3(&x).unwrap();
    assert_eq!(&good[4..6], &[ESCAPE, RANS_VERSION]);
    assert_eq!(dec(&good, x.len()).unwrap(), Values::Int(x.clone()));
    // Every truncation is an error.
    for cut in 0..good.len() {
        assert!(dec(&good[..cut], x.len()).is_err(), "cut {cut}");
    }
    // Byte flips: an error or (a flip inside an offset) other values,
    // never a panic.
    for i in 4..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let _ = dec(&b, x.len());
    }
}

#[test]
fn every_length_round_trips_across_the_lanes() {
    // Every length modulo the lanes, in one batch and over several.
    let mut r = rng(11);
    for n in (64..80).chain(2040..2060) {
        let x: Vec<i64> = (0..n)
            .map(|_| {
                let v = r();
                if v.is_multiple_of(5) {
                    (v >> 40) as i64
                } else {
                    (v % 7) as i64 - 3
                }
            })
            .collect();
        let bytes = enc(&x).unwrap();
        assert_eq!(dec(&bytes, n).unwrap(), Values::Int(x), "n={n}");
    }
}

#[test]
fn version_2_headers_are_validated() {
    let x = v1_values();
    let good = enc(&x).unwrap();
    // An unknown version.
    let mut b = good.clone();
    b[5] = RANS_VERSION + 1;
    let err = dec(&b, x.len()).unwrap_err();
    assert!(matches!(err, CodecError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("version"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_streams_round_trip(
        x in prop::collection::vec(
            prop_oneof![
                4 => -3i64..4,
                2 => -1000i64..1000,
                1 => any::<i64>().prop_map(|v| v >> 9),
            ],
            0..700,
        )
    ) {
        if let Some(bytes) = enc(&x) {
            prop_assert_eq!(dec(&bytes, x.len()).unwrap(), Values::Int(x.clone()));
        }
        let col = Column::new(ColumnKind::Int, Values::Int(x)).unwrap();
        let e = encode_column(&col, Effort::Max).unwrap();
        prop_assert_eq!(decode_column(&e.bytes).unwrap(), col);
    }
}

#[test]
fn frequencies_sum_to_the_table_and_stay_positive() {
    for counts in [
        vec![1u64, 1_000_000],
        vec![5, 5, 5],
        vec![1; 200],
        vec![100_000, 1, 1, 1, 1, 1, 1, 1],
    ] {
        for log in MIN_LOG..=MAX_LOG {
            if counts.len() > 1 << log {
                continue;
            }
            let f = normalize(&counts, log);
            assert_eq!(f.iter().map(|&x| u64::from(x)).sum::<u64>(), 1 << log);
            assert!(f.iter().all(|&x| x >= 1));
        }
    }
}

/// The decode table the straightforward way: the spread's walk, then
/// the states in table order, each symbol's counter counting up.
fn reference_table(freq: &[u32], log: u32) -> Vec<Entry> {
    let l = 1u32 << log;
    let mut next = freq.to_vec();
    spread(freq, log)
        .iter()
        .map(|&k| {
            let xs = next[usize::from(k)];
            next[usize::from(k)] += 1;
            let nb = log + 1 - bit_width(u64::from(xs));
            Entry {
                base: ((xs << nb) - l) as u16,
                mask: ((1u32 << nb) - 1) as u16,
                nb: nb as u8,
                bin: k as u8,
            }
        })
        .collect()
}

#[test]
fn decode_tables_match_the_reference() {
    let mut r = rng(5);
    let same =
        |a: &Entry, b: &Entry| (a.base, a.mask, a.nb, a.bin) == (b.base, b.mask, b.nb, b.bin);
    // Largest table first, so later (smaller) ones reuse a buffer
    // holding stale entries above their size.
    for log in (MIN_LOG..=MAX_LOG).rev() {
        for nbins in [2usize, 3, 17, 200, 256] {
            if nbins > 1 << (log - 1) {
                continue;
            }
            let counts: Vec<u64> = (0..nbins)
                .map(|k| if k == 1 { 1 } else { 1 + r() % 5000 })
                .collect();
            let freq = normalize(&counts, log);
            let table = decode_table(&freq, log);
            let want = reference_table(&freq, log);
            let l = 1usize << log;
            assert!(
                table[..l].iter().zip(&want).all(|(a, b)| same(a, b)),
                "log {log}, {nbins} bins"
            );
            give_back(table);
        }
    }
}

#[test]
fn spread_fills_every_state_once() {
    for log in MIN_LOG..=MAX_LOG {
        let l = 1u32 << log;
        let freq = normalize(&[3, 1, 7, 40, 1], log);
        let sym = spread(&freq, log);
        for (k, &f) in freq.iter().enumerate() {
            assert_eq!(sym.iter().filter(|&&s| s as usize == k).count() as u32, f);
        }
        assert_eq!(sym.len() as u32, l);
    }
}

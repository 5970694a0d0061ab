//! Peak allocation of the `ans` decoder on crafted input, measured with a
//! counting global allocator (its own test binary, so no other test's
//! allocations interfere).

use unidb_common::alloc::PeakAlloc;

use unidb_codec::io::put_varint;
use unidb_codec::{decode_values, encode_with, DataKind, Effort, Values};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc::new();

/// Bytes allocated at the peak of `f`, above what was live before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOC.peak_of(f)
}

/// An `ans` node: two bins of frequencies 2047 and 1 (table log 11),
/// zero-width offsets, and a state stream of `bits` zero bits.
fn crafted(bits: u64) -> Vec<u8> {
    let mut b = vec![3u8];
    b.extend_from_slice(b"ans");
    put_varint(&mut b, 2);
    b.push(11);
    b.push(0); // lower 0 (zigzag)
    b.push(0);
    put_varint(&mut b, 2047);
    put_varint(&mut b, 1);
    b.push(0);
    put_varint(&mut b, 1);
    for _ in 0..4 {
        put_varint(&mut b, 0);
    }
    put_varint(&mut b, bits);
    put_varint(&mut b, 0);
    b.extend(std::iter::repeat_n(0u8, bits.div_ceil(8) as usize));
    b
}

/// One test function: the counters are process-wide, and the test
/// harness's main thread allocates when a sibling test finishes (its
/// report), which a lock between tests does not prevent.
/// A version 3 `ans` node: two bins of frequencies `2^log - 1` and 1,
/// zero-width offsets, 16 states at `2^16` and `words` zero words.
fn crafted_v3(log: u32, words: usize) -> Vec<u8> {
    let mut b = vec![3u8];
    b.extend_from_slice(b"ans");
    b.extend_from_slice(&[0, 3]);
    put_varint(&mut b, 2);
    b.push(log as u8);
    b.push(0);
    b.push(0);
    put_varint(&mut b, (1 << log) - 1);
    put_varint(&mut b, 1);
    b.push(0);
    put_varint(&mut b, 1);
    for _ in 0..16 {
        b.extend_from_slice(&(1u32 << 16).to_le_bytes());
    }
    put_varint(&mut b, words as u64);
    put_varint(&mut b, 0);
    b.extend(std::iter::repeat_n(0u8, 2 * words));
    b
}

#[test]
fn allocation_follows_the_input() {
    crafted_headers_allocate_only_what_the_input_justifies();
    legitimate_streams_allocate_in_proportion_to_their_values();
    version_3_allocates_only_what_the_input_justifies();
}

fn version_3_allocates_only_what_the_input_justifies() {
    // 80 bytes with a table of 32 slots justify at most 16 * 12 * 33
    // values: a full block is refused before anything is allocated.
    let input = crafted_v3(5, 0);
    let (res, peak) = peak_of(|| decode_values(&input, DataKind::Int, 1 << 16));
    assert!(res.is_err());
    assert!(
        peak < 4096,
        "peak {peak} bytes for a {}-byte input",
        input.len()
    );
    // A legitimate version 3 stream: the output, the bins, the words (as
    // many bytes as the input holds) and the tables.
    let x: Vec<i64> = (0..60_000u64)
        .map(|i| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            (h % 13) as i64 + if h % 97 == 0 { 1 << 30 } else { 0 }
        })
        .collect();
    let bytes = unidb_codec::encode_ans_version_3(&x).expect("ans fits");
    assert_eq!(&bytes[4..6], &[0, 3], "a version 3 stream");
    let (res, peak) = peak_of(|| decode_values(&bytes, DataKind::Int, x.len()));
    assert_eq!(res.unwrap(), Values::Int(x.clone()));
    assert!(
        peak <= x.len() * 9 + bytes.len() + 64 * 1024,
        "peak {peak} bytes"
    );
}

fn crafted_headers_allocate_only_what_the_input_justifies() {
    // 20 bytes claiming a full block of 65 536 values: refused before the
    // output (512 KiB) or the decode table is allocated.
    let input = crafted(0);
    let (res, peak) = peak_of(|| decode_values(&input, DataKind::Int, 1 << 16));
    assert!(res.is_err());
    assert!(
        peak < 4096,
        "peak {peak} bytes for a {}-byte input",
        input.len()
    );
    // Within the bound: the table (2048 entries) and the output of the
    // values the stream can hold, nothing in proportion to the claim alone.
    let (res, peak) = peak_of(|| decode_values(&input, DataKind::Int, 8000));
    assert!(res.is_err());
    assert!(peak < 128 * 1024, "peak {peak} bytes");
}

fn legitimate_streams_allocate_in_proportion_to_their_values() {
    let x: Vec<i64> = (0..60_000)
        .map(|i| if i % 500 == 0 { 7 } else { 3 })
        .collect();
    let bytes = encode_with("ans", &Values::Int(x.clone()), Effort::Max)
        .unwrap()
        .expect("ans fits two values");
    let (res, peak) = peak_of(|| decode_values(&bytes, DataKind::Int, x.len()));
    assert_eq!(res.unwrap(), Values::Int(x.clone()));
    // The output (8 bytes a value), the bins (1 byte a value), the decode
    // table and the padded streams.
    assert!(peak <= x.len() * 9 + 64 * 1024, "peak {peak} bytes");
}

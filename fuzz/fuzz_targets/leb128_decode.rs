//! LEB128 decoders on arbitrary bytes: never panic, agree with each other,
//! and accept only canonical encodings (an accepted value re-encodes to
//! exactly the bytes it was read from).
#![no_main]

use libfuzzer_sys::fuzz_target;
use unidb_kernels::varint;

fuzz_target!(|data: &[u8]| {
    // Single values.
    let one64 = varint::decode_u64(data);
    if let Ok((v, n)) = one64 {
        let mut again = Vec::new();
        varint::encode_u64(v, &mut again);
        assert_eq!(again, data[..n], "u64 {v} is not canonical");
    }
    if let Ok((v, n)) = varint::decode_u32(data) {
        let mut again = Vec::new();
        varint::encode_u32(v, &mut again);
        assert_eq!(again, data[..n], "u32 {v} is not canonical");
        // A valid u32 is a valid u64 with the same value and length.
        assert_eq!(one64, Ok((u64::from(v), n)));
    }

    // Bulk: the first byte picks the count (small, or raw to exercise the
    // count bound), the rest is the input.
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let count = if head & 0x80 != 0 {
        usize::from(head & 0x7F) * 7919
    } else {
        usize::from(head) % (rest.len() + 1)
    };

    match varint::decode_u32_slice(rest, count) {
        Ok((values, n)) => {
            assert_eq!(values.len(), count);
            let mut again = Vec::new();
            varint::encode_u32_slice(&values, &mut again);
            assert_eq!(again, rest[..n], "u32 slice is not canonical");
        }
        Err(err) => {
            // The bulk decoder must fail exactly where value-by-value
            // decoding fails.
            assert_eq!(Err(err), reference(rest, count, varint::decode_u32));
        }
    }
    match varint::decode_u64_slice(rest, count) {
        Ok((values, n)) => {
            assert_eq!(values.len(), count);
            let mut again = Vec::new();
            varint::encode_u64_slice(&values, &mut again);
            assert_eq!(again, rest[..n], "u64 slice is not canonical");
        }
        Err(err) => assert_eq!(Err(err), reference(rest, count, varint::decode_u64)),
    }
});

type DecodeOne<T> = fn(&[u8]) -> Result<(T, usize), varint::VarintError>;

/// Value-by-value decoding with the single-value decoder, offsets made
/// absolute.
fn reference<T>(
    input: &[u8],
    count: usize,
    one: DecodeOne<T>,
) -> Result<usize, varint::VarintError> {
    use varint::VarintError::*;
    if count > input.len() {
        return Err(CountTooLarge {
            count,
            available: input.len(),
            offset: 0,
        });
    }
    let mut pos = 0;
    for _ in 0..count {
        let (_, n) = one(&input[pos..]).map_err(|e| e.shifted(pos))?;
        pos += n;
    }
    Ok(pos)
}

//! Column and stream decoders on arbitrary bytes: never panic, never
//! allocate beyond what the input can describe, and whatever decodes
//! re-encodes to a column that decodes to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unidb_syncdb::codec::{self, DataKind, Effort};

const KINDS: [DataKind; 5] = [
    DataKind::Int,
    DataKind::Float,
    DataKind::Text,
    DataKind::Bool,
    DataKind::Bytes,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(col) = codec::decode_column(data) {
        let again = codec::encode_column(&col, Effort::Fast).expect("built-in codecs encode");
        assert_eq!(codec::decode_column(&again.bytes).expect("re-encoded column decodes"), col);
    }
    // A single stream: the first two bytes pick the kind and the count.
    let Some((&[k, c], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let count = if c & 0x80 != 0 {
        usize::from(c & 0x7F) << 10
    } else {
        usize::from(c)
    };
    if let Ok(values) = codec::decode_values(rest, kind, count) {
        assert_eq!(values.len(), count);
        assert_eq!(values.kind(), kind);
    }
});

//! Column and stream decoders on arbitrary bytes: never panic, never
//! allocate beyond what the input can describe, and whatever decodes
//! re-encodes to a column that decodes to the same values.
//!
//! Three uses of each input: as a whole column; as one stream whose kind
//! and count come from its first two bytes; and as the payload of a node
//! whose codec (every registered one in turn, picked by the third byte) is
//! written in front, so every decoder is reached without the fuzzer having
//! to guess codec names. Small inputs also become values that every codec
//! must round-trip, and the flat text decoder must agree with the owned one.
//! An accepted column charged no more than the decode budget of its length,
//! and a short input also becomes 2000 copies of one long value (far beyond
//! that budget in size), which the encoder pads so that it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unidb_codec::{self as codec, Budget, Column, ColumnKind, DataKind, Effort, Values};

/// Values of `kind` made from the bytes (small, so every codec is cheap).
fn values_from(kind: DataKind, data: &[u8]) -> Values {
    match kind {
        DataKind::Int => Values::Int(
            data.chunks(3)
                .map(|c| c.iter().fold(0i64, |a, &b| (a << 8 | i64::from(b)) - 300))
                .collect(),
        ),
        DataKind::Float => Values::Float(
            data.chunks(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b[..c.len()].copy_from_slice(c);
                    f64::from_le_bytes(b)
                })
                .collect(),
        ),
        DataKind::Bool => Values::Bool(data.iter().map(|&b| b & 1 == 1).collect()),
        DataKind::Text => Values::Text(
            String::from_utf8_lossy(data)
                .split(|c: char| c == ',' || c.is_ascii_digit())
                .map(str::to_owned)
                .collect(),
        ),
        DataKind::Bytes => Values::Bytes(data.split(|&b| b == 0).map(<[u8]>::to_vec).collect()),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(col) = codec::decode_column(data) {
        let cost = codec::decode_cost(data).expect("an accepted column decodes without a limit");
        assert!(
            cost <= Budget::limit_for(data.len()),
            "accepted beyond the budget"
        );
        let again = codec::encode_column(&col, Effort::Fast).expect("built-in codecs encode");
        assert_eq!(
            codec::decode_column(&again.bytes).expect("re-encoded column decodes"),
            col
        );
    }
    match (codec::decode_text_column(data), codec::decode_column(data)) {
        (Ok(flat), Ok(col)) => {
            let Values::Text(v) = col.values() else {
                panic!("flat text decoded a non-text column")
            };
            assert_eq!(flat.rows(), col.rows());
            assert!(flat.iter().flatten().eq(v.iter().map(String::as_str)));
        }
        (Ok(_), Err(e)) => panic!("flat text decoder accepted what decode_column rejects: {e}"),
        (Err(_), Ok(col)) => assert_ne!(col.kind(), ColumnKind::Text),
        (Err(_), Err(_)) => {}
    }
    // A single stream: the first two bytes pick the kind and the count.
    let Some((&[k, c, n], rest)) = data.split_first_chunk::<3>() else {
        return;
    };
    let kind = DataKind::ALL[usize::from(k) % DataKind::ALL.len()];
    let count = if c & 0x80 != 0 {
        usize::from(c & 0x7F) << 10
    } else {
        usize::from(c)
    };
    if let Ok(values) = codec::decode_values(&data[2..], kind, count) {
        assert_eq!(values.len(), count);
        assert_eq!(values.kind(), kind);
    }
    // The same bytes behind a named codec node.
    let names = codec::codec_names();
    let name = names[usize::from(n) % names.len()];
    let mut node = vec![name.len() as u8];
    node.extend_from_slice(name.as_bytes());
    node.extend_from_slice(rest);
    if let Ok(values) = codec::decode_values(&node, kind, count) {
        assert_eq!(values.len(), count);
        assert_eq!(values.kind(), kind);
    }
    // Round trip of small values through that codec.
    if rest.len() <= 256 {
        let values = values_from(kind, rest);
        if let Ok(Some(enc)) = codec::encode_with(name, &values, Effort::Max) {
            let back = codec::decode_values(&enc, kind, values.len())
                .unwrap_or_else(|e| panic!("{name} round trip: {e}"));
            assert_eq!(back, values, "{name}");
        }
        if rest.len() <= 64 && matches!(kind, DataKind::Text | DataKind::Bytes) {
            // One value made at least 600 bytes long, 2000 times.
            let one = rest.repeat(600 / rest.len().max(1) + 1);
            let (ck, many) = match kind {
                DataKind::Text => (
                    ColumnKind::Text,
                    Values::Text(vec![String::from_utf8_lossy(&one).into_owned(); 2000]),
                ),
                _ => (ColumnKind::Bytes, Values::Bytes(vec![one; 2000])),
            };
            let col = Column::new(ck, many).expect("column");
            let enc = codec::encode_column(&col, Effort::Fast).expect("encodes");
            assert_eq!(
                codec::decode_column(&enc.bytes).expect("a padded column decodes"),
                col
            );
        }
        if kind == DataKind::Text {
            let col = Column::new(ColumnKind::Text, values).expect("text column");
            let enc = codec::encode_column(&col, Effort::Max).expect("encodes");
            let flat = codec::decode_text_column(&enc.bytes).expect("flat text decodes");
            let Values::Text(v) = col.values() else {
                unreachable!()
            };
            assert!(flat.iter().flatten().eq(v.iter().map(String::as_str)));
        }
    }
});

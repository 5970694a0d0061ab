//! The codec's errors: reads through common's `Reader` keep their
//! messages and offsets, and every error converts into the project's
//! error with its kind, location and source chain.

use super::*;
use unidb_common::bytes::{Leb128Error, ReadError, ReadErrorKind};
use unidb_common::ErrorKind;

#[test]
fn read_errors_become_the_codec_errors_they_were() {
    let at = |kind| CodecError::from(ReadError::new("thing", 9, kind));
    assert_eq!(
        at(ReadErrorKind::Truncated {
            needed: 8,
            available: 3
        }),
        CodecError::Truncated {
            what: "thing",
            offset: 9,
            needed: 8,
            available: 3
        }
    );
    assert_eq!(
        at(ReadErrorKind::Varint(Leb128Error::NonCanonical {
            start: 0,
            offset: 1
        })),
        CodecError::Varint {
            what: "thing",
            offset: 9,
            source: VarintError::NonCanonical {
                start: 0,
                offset: 1
            }
        }
    );
    assert_eq!(
        at(ReadErrorKind::CountTooLarge { count: 70, max: 64 }),
        CodecError::CountTooLarge {
            what: "thing",
            offset: 9,
            count: 70,
            max: 64
        }
    );
    assert_eq!(
        at(ReadErrorKind::CountExceedsInput {
            count: 70,
            item_size: 4,
            available: 9
        }),
        CodecError::CountTooLarge {
            what: "thing",
            offset: 9,
            count: 70,
            max: 2
        }
    );
    assert_eq!(
        at(ReadErrorKind::TrailingBytes { count: 2 }),
        CodecError::Corrupt {
            offset: 9,
            reason: "thing: 2 trailing bytes".into()
        }
    );
}

/// The `plain` integers are the last `8 n` bytes of their stream: a cut
/// one byte short names them, at their offset, in the message the codec
/// always gave.
#[test]
fn truncated_plain_stream_keeps_its_message_and_offset() {
    let values = Values::Int(vec![1, 2, 3]);
    let bytes = encode_with("plain", &values, Effort::Fast)
        .unwrap()
        .unwrap();
    let start = bytes.len() - 24;
    let err = decode_values(&bytes[..bytes.len() - 1], DataKind::Int, 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("truncated input: plain integers at byte {start} needs 24 bytes, 23 left")
    );
    assert_eq!(err.offset(), Some(start));
    let common = unidb_common::Error::from(err.clone());
    assert_eq!(common.kind(), ErrorKind::CorruptData);
    assert_eq!(common.location(), Some(format!("byte {start}").as_str()));
    assert_eq!(common.message(), err.to_string());
}

#[test]
fn every_error_family_converts_with_kind_and_source_chain() {
    // A column's row count is the varint after its 4-byte header.
    let col = Column::new(ColumnKind::Int, Values::Int(vec![5; 10])).unwrap();
    let mut bytes = encode_column(&col, Effort::Fast).unwrap().bytes;
    bytes.truncate(5);
    bytes[4] = 0x80;
    let varint = decode_column(&bytes).unwrap_err();
    assert!(
        matches!(
            varint,
            CodecError::Varint {
                what: "row count",
                offset: 4,
                ..
            }
        ),
        "{varint}"
    );
    let common = unidb_common::Error::from(varint.clone());
    assert_eq!(common.kind(), ErrorKind::CorruptData);
    assert_eq!(common.location(), Some("byte 4"));
    let source = std::error::Error::source(&common).unwrap();
    assert_eq!(source.downcast_ref::<CodecError>(), Some(&varint));
    let inner = source.source().unwrap();
    assert!(inner.downcast_ref::<VarintError>().is_some(), "{inner}");

    let unknown = encode_with("no-such-codec", &Values::Int(vec![1]), Effort::Fast).unwrap_err();
    let common = unidb_common::Error::from(unknown.clone());
    assert_eq!(common.kind(), ErrorKind::NotFound, "{unknown}");
    let inner = std::error::Error::source(&common)
        .and_then(|s| s.source())
        .unwrap();
    assert!(inner
        .downcast_ref::<unidb_registry::RegistryError>()
        .is_some());

    let shape = Column::new(ColumnKind::Text, Values::Int(vec![1])).unwrap_err();
    assert_eq!(
        unidb_common::Error::from(shape.clone()).kind(),
        ErrorKind::Validation,
        "{shape}"
    );
    assert_eq!(shape.offset(), None);
    assert_eq!(
        unidb_common::Error::from(CodecError::NoStagesLeft).kind(),
        ErrorKind::Unsupported
    );
    let budget = CodecError::OutputTooLarge { limit: 10 };
    assert_eq!(
        unidb_common::Error::from(budget).kind(),
        ErrorKind::CorruptData
    );
    assert_eq!(
        unidb_common::Error::from(CodecError::NotAColumn("x".into())).location(),
        None
    );
}

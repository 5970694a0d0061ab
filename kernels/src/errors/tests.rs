use super::*;
use crate::Isa;

/// Converts `e` and checks the kind, the message and that the source
/// is `e` itself.
fn check<E>(e: E, kind: ErrorKind)
where
    E: std::error::Error + Clone + PartialEq + Send + Sync + 'static,
    unidb_common::Error: From<E>,
{
    let text = e.to_string();
    let err = unidb_common::Error::from(e.clone());
    assert_eq!(err.kind(), kind, "{text}");
    assert_eq!(err.message(), text);
    let source = std::error::Error::source(&err).expect("a source");
    assert!(source.downcast_ref::<E>() == Some(&e), "{text}");
}

#[test]
fn every_error_converts_with_its_kind_and_source() {
    check(
        KernelError::LengthMismatch { left: 1, right: 2 },
        ErrorKind::Validation,
    );
    check(
        KernelError::RowsShape {
            dim: 2,
            rows_len: 3,
            out_len: 1,
        },
        ErrorKind::Validation,
    );
    check(
        KernelError::UnknownIsa { value: "x".into() },
        ErrorKind::Configuration,
    );
    check(
        KernelError::UnavailableIsa {
            isa: Isa::Neon,
            available: vec![Isa::Scalar],
        },
        ErrorKind::Unsupported,
    );
    check(
        VarintError::Truncated {
            start: 0,
            offset: 1,
        },
        ErrorKind::CorruptData,
    );
    check(
        VarintError::CountTooLarge {
            count: 9,
            available: 1,
            offset: 0,
        },
        ErrorKind::CorruptData,
    );
    check(
        VarintError::UnavailableIsa { isa: Isa::Avx512 },
        ErrorKind::Unsupported,
    );
    check(
        BitpackError::Truncated {
            count: 8,
            width: 3,
            needed: 3,
            available: 1,
        },
        ErrorKind::CorruptData,
    );
    check(
        BitpackError::WidthTooLarge { width: 40, max: 32 },
        ErrorKind::Validation,
    );
    check(
        BitpackError::UnavailableIsa(Isa::Avx2),
        ErrorKind::Unsupported,
    );
    check(StatsError::NaN { index: 3 }, ErrorKind::Validation);
}

#[test]
fn varint_errors_are_commons_leb128_errors() {
    // The scalar decoder is common's; the kernels' error names the
    // same problem at the same offsets.
    let input = [5, 0x80, 0x00];
    let common = unidb_common::bytes::leb128::decode_u64_at(&input, 1).unwrap_err();
    let ours = crate::varint::decode_u64(&input[1..]).unwrap_err();
    assert_eq!(
        ours,
        VarintError::NonCanonical {
            start: 0,
            offset: 1
        }
    );
    assert_eq!(
        VarintError::from(common),
        VarintError::NonCanonical {
            start: 1,
            offset: 2
        }
    );
    assert_eq!(VarintError::from(common).to_string(), common.to_string());
}

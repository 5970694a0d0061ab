//! The kernels' errors in the project's error story: each has a `kind()`
//! (its [`ErrorKind`]) and converts into [`unidb_common::Error`] with
//! itself as the source.

use unidb_common::ErrorKind;

use crate::bitpack::BitpackError;
use crate::stats::StatsError;
use crate::varint::VarintError;
use crate::KernelError;

impl KernelError {
    /// The project-wide category: mismatched lengths and shapes are
    /// [`ErrorKind::Validation`], an unknown path name
    /// [`ErrorKind::Configuration`] (it comes from `UNIDB_ISA` or an
    /// option), a path this CPU lacks [`ErrorKind::Unsupported`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            KernelError::LengthMismatch { .. }
            | KernelError::RowsShape { .. }
            | KernelError::Pq4Shape { .. }
            | KernelError::Pq4Codes { .. } => ErrorKind::Validation,
            KernelError::UnknownIsa { .. } => ErrorKind::Configuration,
            KernelError::UnavailableIsa { .. } => ErrorKind::Unsupported,
        }
    }
}

impl VarintError {
    /// The project-wide category: malformed input is
    /// [`ErrorKind::CorruptData`], a path this CPU lacks
    /// [`ErrorKind::Unsupported`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            VarintError::UnavailableIsa { .. } => ErrorKind::Unsupported,
            _ => ErrorKind::CorruptData,
        }
    }

    /// The same error with every byte offset moved by `by`: an error from
    /// decoding `input[by..]` as an error about `input`.
    ///
    /// ```
    /// use unidb_kernels::varint::{self, VarintError};
    ///
    /// let input = [0x05, 0x80];
    /// let e = varint::decode_u64(&input[1..]).unwrap_err().shifted(1);
    /// assert_eq!(e, VarintError::Truncated { start: 1, offset: 2 });
    /// ```
    #[must_use]
    pub fn shifted(self, by: usize) -> Self {
        use VarintError::*;
        match self {
            Truncated { start, offset } => Truncated {
                start: start + by,
                offset: offset + by,
            },
            TooLong {
                start,
                offset,
                max_len,
            } => TooLong {
                start: start + by,
                offset: offset + by,
                max_len,
            },
            Overflow {
                start,
                offset,
                bits,
            } => Overflow {
                start: start + by,
                offset: offset + by,
                bits,
            },
            NonCanonical { start, offset } => NonCanonical {
                start: start + by,
                offset: offset + by,
            },
            CountTooLarge {
                count,
                available,
                offset,
            } => CountTooLarge {
                count,
                available,
                offset: offset + by,
            },
            TrailingBytes { offset, count } => TrailingBytes {
                offset: offset + by,
                count,
            },
            ControlPadding { offset } => ControlPadding {
                offset: offset + by,
            },
            UnavailableIsa { isa } => UnavailableIsa { isa },
        }
    }
}

impl BitpackError {
    /// The project-wide category: a truncated packed run is
    /// [`ErrorKind::CorruptData`], a bad width, a value too wide or a
    /// short output [`ErrorKind::Validation`], a path this CPU lacks
    /// [`ErrorKind::Unsupported`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            BitpackError::Truncated { .. } => ErrorKind::CorruptData,
            BitpackError::UnavailableIsa(_) => ErrorKind::Unsupported,
            _ => ErrorKind::Validation,
        }
    }
}

impl StatsError {
    /// The project-wide category: every statistics error is an input out
    /// of its domain, [`ErrorKind::Validation`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Validation
    }
}

macro_rules! into_common {
    ($($t:ty),*) => {$(
        impl From<$t> for unidb_common::Error {
            fn from(e: $t) -> Self {
                unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
            }
        }
    )*};
}

into_common!(KernelError, VarintError, BitpackError, StatsError);

#[cfg(test)]
mod tests {
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
}

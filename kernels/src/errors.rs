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
            | KernelError::Pq4Codes { .. }
            | KernelError::RansTable { .. } => ErrorKind::Validation,
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
mod tests;

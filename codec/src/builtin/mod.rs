//! The built-in codecs, by the data kind they take: [`any`] (every kind),
//! [`int`], [`float`] and [`text`] (text and bytes). Each registers itself
//! with `submit!`; this module holds the helpers they share.

pub(crate) mod any;
pub(crate) mod float;
pub(crate) mod int;
pub(crate) mod text;

use unidb_kernels::bitpack::BitpackError;

use crate::io::Reader;
use crate::{CodecError, DataKind, DecodeCtx, Values};

/// What a codec's encoder returns: whether it took the values.
pub(crate) type Enc = Result<bool, CodecError>;
/// What a codec's decoder returns.
pub(crate) type Dec = Result<Values, CodecError>;

/// Every data kind.
pub(crate) const ALL: &[DataKind] = &[
    DataKind::Int,
    DataKind::Float,
    DataKind::Text,
    DataKind::Bool,
    DataKind::Bytes,
];

/// A [`CodecError::Corrupt`] at the reader's offset.
pub(crate) fn corrupt(r: &Reader<'_>, reason: impl Into<String>) -> CodecError {
    CodecError::Corrupt {
        offset: r.offset(),
        reason: reason.into(),
    }
}

/// Maps a bit-packing error to a [`CodecError`] at `offset`.
pub(crate) fn bitpack_err(offset: usize) -> impl Fn(BitpackError) -> CodecError {
    move |source| CodecError::Bitpack { offset, source }
}

/// Decodes an integer child node of `count` values.
pub(crate) fn child_ints(
    r: &mut Reader<'_>,
    ctx: &mut DecodeCtx,
    count: usize,
) -> Result<Vec<i64>, CodecError> {
    match ctx.child(r, DataKind::Int, count)? {
        Values::Int(v) => Ok(v),
        _ => unreachable!("decode_node checks the kind"),
    }
}

/// Checks that `count` values of at least `min_bytes_each` bytes fit in
/// the rest of the input.
pub(crate) fn fits(
    r: &Reader<'_>,
    count: usize,
    min_bytes_each: usize,
    what: &'static str,
) -> Result<(), CodecError> {
    let needed = count.saturating_mul(min_bytes_each);
    if needed > r.remaining() {
        return Err(CodecError::Truncated {
            what,
            offset: r.offset(),
            needed,
            available: r.remaining(),
        });
    }
    Ok(())
}

//! Text columns decoded into one buffer instead of one `String` per value.
//!
//! [`decode_text_column`] reads the same encodings as
//! [`decode_column`](super::decode_column). Values nodes of the codecs
//! `fsst`, `plain` and `dict` (with such a node for its dictionary) are
//! decoded straight into the column's buffer; any other codec is decoded
//! as usual and its strings copied in. UTF-8 is checked once for the whole
//! buffer plus a char-boundary check at every value end, which accepts
//! exactly the inputs whose every value is UTF-8.

use super::builtin::{child_ints, corrupt};
use super::{decode_frame, CodecError, ColumnKind, DataKind, DecodeCtx, Reader, Values};
use crate::builtin::text::fsst;

/// A text column in one buffer: the non-null values back to back, the end
/// of each, and the validity mask.
///
/// ```
/// use unidb_codec::{decode_text_column, encode_column, Column, ColumnKind, Effort, Values};
/// # fn main() -> Result<(), unidb_codec::CodecError> {
/// let notes = vec!["buy milk".to_owned(), "call mom".to_owned(), "buy milk later".to_owned()];
/// let col = Column::with_validity(ColumnKind::Text, Values::Text(notes), Some(vec![true, false, true, true]))?;
/// let flat = decode_text_column(&encode_column(&col, Effort::Max)?.bytes)?;
/// assert_eq!(flat.rows(), 4);
/// assert_eq!(flat.value(2), Some("buy milk later"));
/// assert_eq!(flat.iter().collect::<Vec<_>>(), [Some("buy milk"), None, Some("call mom"), Some("buy milk later")]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextColumn {
    text: String,
    ends: Vec<usize>,
    validity: Option<Vec<bool>>,
}

impl TextColumn {
    /// Number of rows (null or not).
    pub fn rows(&self) -> usize {
        self.validity.as_ref().map_or(self.ends.len(), Vec::len)
    }

    /// Number of non-null values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no non-null values.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`-th non-null value.
    pub fn value(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.text[start..end])
    }

    /// The non-null values back to back.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The end offset of each non-null value in [`TextColumn::as_str`].
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// The validity mask (`true` = present), if any row is null.
    pub fn validity(&self) -> Option<&[bool]> {
        self.validity.as_deref()
    }

    /// Every row: `None` for a null.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let mut next = 0;
        (0..self.rows()).map(move |row| {
            if self.validity.as_ref().is_some_and(|m| !m[row]) {
                return None;
            }
            next += 1;
            self.value(next - 1)
        })
    }
}

/// Decodes a text column written by [`encode_column`](super::encode_column)
/// into one buffer (see [`TextColumn`]).
///
/// # Errors
/// [`CodecError::NotAColumn`] for a column of another kind, and every
/// error of [`decode_column`](super::decode_column).
pub fn decode_text_column(input: &[u8]) -> Result<TextColumn, CodecError> {
    if let Some(&tag) = input.get(3) {
        if tag != ColumnKind::Text as u8 {
            return Err(CodecError::NotAColumn(format!(
                "column kind tag {tag}, expected {} (text)",
                ColumnKind::Text as u8
            )));
        }
    }
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    let mut budget = super::Budget::for_input(input.len());
    let (_, validity) = decode_frame(input, &mut budget, |r, _, present, _, ctx| {
        flat_node(r, present, ctx, &mut bytes, &mut ends)
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let index = ends.partition_point(|&end| end <= bad);
        let start = if index == 0 { 0 } else { ends[index - 1] };
        CodecError::InvalidUtf8 {
            index,
            offset: input.len(),
            valid_up_to: bad - start,
        }
    })?;
    if let Some(index) = ends.iter().position(|&end| !text.is_char_boundary(end)) {
        let start = if index == 0 { 0 } else { ends[index - 1] };
        let mut valid = ends[index];
        while !text.is_char_boundary(valid) {
            valid -= 1;
        }
        return Err(CodecError::InvalidUtf8 {
            index,
            offset: input.len(),
            valid_up_to: valid - start,
        });
    }
    Ok(TextColumn {
        text,
        ends,
        validity,
    })
}

/// Appends `count` values of the node at `r` to `bytes`, their ends to
/// `ends`. UTF-8 is checked by the caller.
fn flat_node(
    r: &mut Reader<'_>,
    count: usize,
    ctx: &mut DecodeCtx,
    bytes: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), CodecError> {
    let mut peek = r.clone();
    let len = usize::from(peek.u8("codec name length")?);
    let name = peek.take(len, "codec name")?;
    if !matches!(name, b"fsst" | b"plain" | b"dict") {
        let Values::Text(v) = ctx.child(r, DataKind::Text, count)? else {
            unreachable!("decode_node checks the kind")
        };
        for s in v {
            bytes.extend_from_slice(s.as_bytes());
            ends.push(bytes.len());
        }
        return Ok(());
    }
    ctx.enter(r, DataKind::Text, count)?;
    *r = peek;
    let res = match name {
        b"fsst" => fsst::decode_flat(r, count, ctx).map(|d| {
            let base = bytes.len();
            bytes.extend_from_slice(&d.bytes);
            ends.extend(d.ends.iter().map(|&e| base + e));
        }),
        b"plain" => flat_plain(r, count, ctx, bytes, ends),
        _ => flat_dict(r, count, ctx, bytes, ends),
    };
    ctx.depth -= 1;
    res
}

/// The `plain` layout: `count` LEB128 lengths, then the bytes.
fn flat_plain(
    r: &mut Reader<'_>,
    count: usize,
    ctx: &mut DecodeCtx,
    bytes: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), CodecError> {
    super::io::for_each_blob(r, count, ctx.budget(), |b| {
        bytes.extend_from_slice(b);
        ends.push(bytes.len());
    })
}

/// The `dict` layout: size, the dictionary node, the codes node.
fn flat_dict(
    r: &mut Reader<'_>,
    count: usize,
    ctx: &mut DecodeCtx,
    bytes: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), CodecError> {
    let ndict = r.count("dictionary size", count)?;
    let (mut dict, mut dict_ends) = (Vec::new(), Vec::with_capacity(ndict));
    flat_node(r, ndict, ctx, &mut dict, &mut dict_ends)?;
    // Every entry must be UTF-8, used or not (as when decoded as strings).
    let valid = std::str::from_utf8(&dict).map_err(|e| e.valid_up_to());
    let boundary_ok = |text: &str| dict_ends.iter().all(|&e| text.is_char_boundary(e));
    if !valid.is_ok_and(boundary_ok) {
        return Err(corrupt(r, "dictionary entry is not UTF-8"));
    }
    let codes = child_ints(r, ctx, count)?;
    if let Some(bad) = codes.iter().find(|&&c| c < 0 || c as u64 >= ndict as u64) {
        return Err(corrupt(
            r,
            format!("dictionary code {bad} out of range 0..{ndict}"),
        ));
    }
    let span = |c: i64| {
        let c = c as usize;
        (if c == 0 { 0 } else { dict_ends[c - 1] }, dict_ends[c])
    };
    let total: usize = codes.iter().map(|&c| span(c).1 - span(c).0).sum();
    ctx.budget().charge(total)?;
    bytes.reserve(total);
    ends.reserve(count);
    for &c in &codes {
        let (a, b) = span(c);
        bytes.extend_from_slice(&dict[a..b]);
        ends.push(bytes.len());
    }
    Ok(())
}

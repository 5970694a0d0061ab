//! Readers of vector files: `.fvecs` (f32), `.ivecs` (i32) and NumPy
//! `.npy` (2-D little-endian f32, C order), whole ([`read_vectors`]) or
//! by row range through memory maps ([`VectorFile`], which also reads
//! `.bvecs`).
//!
//! fvecs/ivecs records are a little-endian `i32` dimension followed by that
//! many 4-byte values; every record of a file must have the same dimension.

use std::path::Path;

use crate::error::{Result, VectorError};

mod mapped;
pub use mapped::{VectorFile, VectorFormat};

/// A row-major matrix read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix<T> {
    /// Row-major values.
    pub data: Vec<T>,
    /// Number of rows.
    pub rows: usize,
    /// Values per row.
    pub dim: usize,
}

impl<T> Matrix<T> {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn bad(name: &str, offset: usize, reason: impl Into<String>) -> VectorError {
    VectorError::BadVectorFile {
        path: name.to_owned(),
        offset: offset as u64,
        reason: reason.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| VectorError::io(path, e))
}

fn parse_vecs<T>(bytes: &[u8], name: &str, conv: fn([u8; 4]) -> T) -> Result<Matrix<T>> {
    let mut data = Vec::new();
    let mut dim = None;
    let mut pos = 0;
    let mut rows = 0;
    while pos < bytes.len() {
        let Some(h) = bytes.get(pos..pos + 4) else {
            return Err(bad(name, pos, "truncated dimension header"));
        };
        let d = i32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        if d <= 0 {
            return Err(bad(name, pos, format!("dimension {d} is not positive")));
        }
        let d = d as usize;
        match dim {
            None => {
                dim = Some(d);
                data.reserve(bytes.len() / 4);
            }
            Some(first) if first != d => {
                return Err(bad(
                    name,
                    pos,
                    format!("row {rows} has dimension {d}, earlier rows {first}"),
                ));
            }
            Some(_) => {}
        }
        pos += 4;
        let need = d * 4;
        let Some(body) = bytes.get(pos..pos + need) else {
            return Err(bad(
                name,
                pos,
                format!(
                    "truncated row {rows}: needs {need} bytes, {} left",
                    bytes.len() - pos
                ),
            ));
        };
        data.extend(body.chunks_exact(4).map(|c| conv([c[0], c[1], c[2], c[3]])));
        pos += need;
        rows += 1;
    }
    Ok(Matrix {
        data,
        rows,
        dim: dim.unwrap_or(0),
    })
}

/// Parses fvecs bytes (`name` is used in errors).
///
/// # Errors
/// [`VectorError::BadVectorFile`] for a truncated file, a non-positive or
/// inconsistent dimension.
pub fn parse_fvecs(bytes: &[u8], name: &str) -> Result<Matrix<f32>> {
    parse_vecs(bytes, name, f32::from_le_bytes)
}

/// Parses ivecs bytes (`name` is used in errors).
///
/// # Errors
/// As [`parse_fvecs`].
pub fn parse_ivecs(bytes: &[u8], name: &str) -> Result<Matrix<i32>> {
    parse_vecs(bytes, name, i32::from_le_bytes)
}

/// Reads an `.fvecs` file.
///
/// # Errors
/// I/O errors and those of [`parse_fvecs`].
pub fn read_fvecs(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse_fvecs(&read(path)?, &path.display().to_string())
}

/// Reads an `.ivecs` file.
///
/// # Errors
/// I/O errors and those of [`parse_fvecs`].
pub fn read_ivecs(path: impl AsRef<Path>) -> Result<Matrix<i32>> {
    let path = path.as_ref();
    parse_ivecs(&read(path)?, &path.display().to_string())
}

/// Parses a NumPy `.npy` file holding a 2-D little-endian f32 array in C order.
///
/// The header is parsed as the Python literal it is (a dict of exactly
/// `descr`, `fortran_order` and `shape`; strings in either quote, booleans,
/// integers, tuples), never by searching for key names, so a key name
/// inside a value is not mistaken for the key.
///
/// # Errors
/// [`VectorError::BadVectorFile`] for a bad magic or header, another dtype,
/// Fortran order, a shape that is not 2-D, or a data size that differs from
/// the shape.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<Matrix<f32>> {
    let (hstart, hlen) = npy_header_span(bytes, name)?;
    let Some(header) = bytes.get(hstart..hstart.saturating_add(hlen)) else {
        return Err(bad(name, hstart, "truncated header"));
    };
    let (rows, dim, need) = npy_f32_shape(header, hstart, name)?;
    let start = hstart + hlen;
    if bytes.len() - start != need {
        return Err(bad(
            name,
            start,
            format!(
                "data has {} bytes, shape ({rows}, {dim}) needs {need}",
                bytes.len().saturating_sub(start)
            ),
        ));
    }
    let data = bytes[start..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Matrix { data, rows, dim })
}

/// Where the header of a `.npy` file starts and how long it is, from the
/// file's first bytes (`head`, at least the first 12 when the file has
/// them): the magic, the format version and the header length.
pub(crate) fn npy_header_span(head: &[u8], name: &str) -> Result<(usize, usize)> {
    if head.len() < 10 || &head[..6] != b"\x93NUMPY" {
        return Err(bad(name, 0, "not a .npy file (bad magic)"));
    }
    match head[6] {
        1 => Ok((10, u16::from_le_bytes([head[8], head[9]]) as usize)),
        2 | 3 => {
            let Some(b) = head.get(8..12) else {
                return Err(bad(name, 8, "truncated header length"));
            };
            Ok((12, u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize))
        }
        v => Err(bad(name, 6, format!("unsupported .npy version {v}"))),
    }
}

/// The shape `(rows, dim)` and data bytes of a `.npy` header (starting at
/// byte `hstart` of the file) that describes a 2-D little-endian f32
/// array in C order; an error naming what is not so.
pub(crate) fn npy_f32_shape(
    header: &[u8],
    hstart: usize,
    name: &str,
) -> Result<(usize, usize, usize)> {
    let header =
        std::str::from_utf8(header).map_err(|_| bad(name, hstart, "header is not text"))?;
    let h = NpyHeader::parse(header).map_err(|(at, why)| bad(name, hstart + at, why))?;
    if !(h.descr == "<f4" || h.descr == "float32") {
        return Err(bad(
            name,
            hstart,
            format!("dtype {:?} is not little-endian f32 ('<f4')", h.descr),
        ));
    }
    if h.fortran_order {
        return Err(bad(name, hstart, "Fortran-order arrays are not supported"));
    }
    let [rows, dim] = h.shape[..] else {
        return Err(bad(name, hstart, format!("shape {:?} is not 2-D", h.shape)));
    };
    let need = rows
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| bad(name, hstart, "shape too large"))?;
    Ok((rows, dim, need))
}

/// The header of a `.npy` file: a Python literal dict with exactly the keys
/// `descr` (a string), `fortran_order` (a boolean) and `shape` (a tuple of
/// integers), as numpy requires.
#[derive(Debug, Clone, PartialEq)]
struct NpyHeader {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// A value of the header's literal syntax.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Int(usize),
    Tuple(Vec<Literal>),
}

/// A byte offset into the header and what is wrong there.
type ParseError = (usize, String);

/// How deep tuples may nest (numpy writes one level).
const MAX_NESTING: usize = 8;

/// A recursive-descent parser over the header text.
struct LiteralParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl LiteralParser<'_> {
    fn err<T>(&self, what: impl Into<String>) -> Result<T, ParseError> {
        Err((self.pos, what.into()))
    }

    fn ws(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then consumes `c` if it comes next.
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            self.err(format!("expected '{}'", c as char))
        }
    }

    /// A quoted string (either quote) with backslash escapes of the quote,
    /// the backslash and `n`, `t`, `r`.
    fn string(&mut self) -> Result<String, ParseError> {
        self.ws();
        let Some(&quote) = self.s.get(self.pos).filter(|&&q| q == b'\'' || q == b'"') else {
            return self.err("expected a string");
        };
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.pos) {
                None | Some(b'\n') => return self.err("unterminated string"),
                Some(&c) if c == quote => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    let c = match self.s.get(self.pos + 1) {
                        Some(b'n') => b'\n',
                        Some(b't') => b'\t',
                        Some(b'r') => b'\r',
                        Some(&c @ (b'\\' | b'\'' | b'"')) => c,
                        _ => return self.err("unsupported escape in string"),
                    };
                    out.push(c);
                    self.pos += 2;
                }
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        // The input is a `str` and quotes and escapes are ASCII.
        String::from_utf8(out).map_or_else(|_| self.err("string is not UTF-8"), Ok)
    }

    fn value(&mut self, depth: usize) -> Result<Literal, ParseError> {
        self.ws();
        let rest = &self.s[self.pos..];
        match rest.first() {
            Some(b'\'' | b'"') => Ok(Literal::Str(self.string()?)),
            Some(b'(') => {
                if depth >= MAX_NESTING {
                    return self.err("tuples nested too deep");
                }
                self.pos += 1;
                let mut items = Vec::new();
                // `()`, `(a,)`, `(a, b)`, `(a, b,)`; not `(a)` (a
                // parenthesised value, not a tuple) nor `(,)`.
                loop {
                    if self.eat(b')') {
                        if items.len() == 1 {
                            return self.err("(x) is not a tuple; write (x,)");
                        }
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',') {
                        if items.len() == 1 && self.eat(b')') {
                            break;
                        }
                        continue;
                    }
                    self.expect(b')')?;
                    if items.len() == 1 {
                        return self.err("(x) is not a tuple; write (x,)");
                    }
                    break;
                }
                Ok(Literal::Tuple(items))
            }
            Some(b'0'..=b'9') => {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let text = std::str::from_utf8(&rest[..digits]).unwrap_or("");
                let n = text
                    .parse::<usize>()
                    .map_or_else(|_| self.err(format!("integer {text} is too large")), Ok)?;
                self.pos += digits;
                // Python 2 wrote long integers with an `L` suffix.
                if self.s.get(self.pos) == Some(&b'L') {
                    self.pos += 1;
                }
                Ok(Literal::Int(n))
            }
            _ if rest.starts_with(b"True") => {
                self.pos += 4;
                Ok(Literal::Bool(true))
            }
            _ if rest.starts_with(b"False") => {
                self.pos += 5;
                Ok(Literal::Bool(false))
            }
            _ => self.err("expected a string, a boolean, an integer or a tuple"),
        }
    }
}

impl NpyHeader {
    /// Parses the header text (the dict, then only whitespace).
    fn parse(text: &str) -> Result<NpyHeader, ParseError> {
        let mut p = LiteralParser {
            s: text.as_bytes(),
            pos: 0,
        };
        p.expect(b'{')?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            if p.eat(b'}') {
                break;
            }
            let key_at = {
                p.ws();
                p.pos
            };
            let key = p.string()?;
            p.expect(b':')?;
            let value_at = {
                p.ws();
                p.pos
            };
            let value = p.value(0)?;
            let slot = match key.as_str() {
                "descr" => &mut descr,
                "fortran_order" => &mut fortran,
                "shape" => &mut shape,
                _ => return Err((key_at, format!("unexpected key {key:?} in the header"))),
            };
            if slot.replace((value_at, value)).is_some() {
                return Err((key_at, format!("key {key:?} appears twice")));
            }
            if !p.eat(b',') {
                p.expect(b'}')?;
                break;
            }
        }
        p.ws();
        if p.pos != p.s.len() {
            return p.err("text after the header dict");
        }
        let missing = |k: &str| (0, format!("header has no '{k}'"));
        let descr = match descr.ok_or_else(|| missing("descr"))? {
            (_, Literal::Str(s)) => s,
            (at, v) => return Err((at, format!("descr {v:?} is not a string"))),
        };
        let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
            (_, Literal::Bool(b)) => b,
            (at, v) => return Err((at, format!("fortran_order {v:?} is not a boolean"))),
        };
        let shape = match shape.ok_or_else(|| missing("shape"))? {
            (at, Literal::Tuple(items)) => items
                .into_iter()
                .map(|i| match i {
                    Literal::Int(n) => Ok(n),
                    v => Err((at, format!("shape holds {v:?}, not an integer"))),
                })
                .collect::<Result<Vec<usize>, ParseError>>()?,
            (at, v) => return Err((at, format!("shape {v:?} is not a tuple"))),
        };
        Ok(NpyHeader {
            descr,
            fortran_order,
            shape,
        })
    }
}

/// Reads a `.npy` file (see [`parse_npy`]).
///
/// # Errors
/// I/O errors and those of [`parse_npy`].
pub fn read_npy(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    parse_npy(&read(path)?, &path.display().to_string())
}

/// Reads f32 vectors by extension: `.npy`, otherwise fvecs.
///
/// # Errors
/// As [`read_npy`] / [`read_fvecs`].
pub fn read_vectors(path: impl AsRef<Path>) -> Result<Matrix<f32>> {
    let path = path.as_ref();
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        read_npy(path)
    } else {
        read_fvecs(path)
    }
}

/// Serialises rows as fvecs (for tests and tools).
pub fn to_fvecs(data: &[f32], dim: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 4 + data.len() / dim.max(1) * 4);
    for row in data.chunks_exact(dim.max(1)) {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        for v in row {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests;

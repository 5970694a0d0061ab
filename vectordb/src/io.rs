//! Readers of vector files: `.fvecs` (f32), `.ivecs` (i32) and NumPy
//! `.npy` (2-D little-endian f32, C order).
//!
//! fvecs/ivecs records are a little-endian `i32` dimension followed by that
//! many 4-byte values; every record of a file must have the same dimension.

use std::path::Path;

use crate::error::{Result, VectorError};

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
pub fn read_fvecs(path: &Path) -> Result<Matrix<f32>> {
    parse_fvecs(&read(path)?, &path.display().to_string())
}

/// Reads an `.ivecs` file.
///
/// # Errors
/// I/O errors and those of [`parse_fvecs`].
pub fn read_ivecs(path: &Path) -> Result<Matrix<i32>> {
    parse_ivecs(&read(path)?, &path.display().to_string())
}

/// Parses a NumPy `.npy` file holding a 2-D little-endian f32 array in C order.
///
/// # Errors
/// [`VectorError::BadVectorFile`] for a bad magic or header, another dtype,
/// Fortran order, a shape that is not 2-D, or a data size that differs from
/// the shape.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<Matrix<f32>> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(name, 0, "not a .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (hlen, hstart): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            let Some(b) = bytes.get(8..12) else {
                return Err(bad(name, 8, "truncated header length"));
            };
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(name, 6, format!("unsupported .npy version {v}"))),
    };
    let Some(header) = bytes.get(hstart..hstart.saturating_add(hlen)) else {
        return Err(bad(name, hstart, "truncated header"));
    };
    let header =
        std::str::from_utf8(header).map_err(|_| bad(name, hstart, "header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':')?;
        Some(rest[colon + 1..].trim_start())
    };
    let descr = field("descr").ok_or_else(|| bad(name, hstart, "header has no 'descr'"))?;
    if !(descr.starts_with("'<f4'") || descr.starts_with("'float32'")) {
        return Err(bad(name, hstart, "dtype is not little-endian f32 ('<f4')"));
    }
    let fortran =
        field("fortran_order").ok_or_else(|| bad(name, hstart, "header has no 'fortran_order'"))?;
    if !fortran.starts_with("False") {
        return Err(bad(name, hstart, "Fortran-order arrays are not supported"));
    }
    let shape = field("shape").ok_or_else(|| bad(name, hstart, "header has no 'shape'"))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad(name, hstart, "malformed shape"))?;
    let dims: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(name, hstart, format!("malformed shape ({inner})")))?;
    let [rows, dim] = dims[..] else {
        return Err(bad(name, hstart, format!("shape ({inner}) is not 2-D")));
    };
    let start = hstart + hlen;
    let need = rows
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| bad(name, hstart, "shape too large"))?;
    if bytes.len() - start != need {
        return Err(bad(
            name,
            start,
            format!(
                "data has {} bytes, shape ({rows}, {dim}) needs {need}",
                bytes.len() - start
            ),
        ));
    }
    let data = bytes[start..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Matrix { data, rows, dim })
}

/// Reads a `.npy` file (see [`parse_npy`]).
///
/// # Errors
/// I/O errors and those of [`parse_npy`].
pub fn read_npy(path: &Path) -> Result<Matrix<f32>> {
    parse_npy(&read(path)?, &path.display().to_string())
}

/// Reads f32 vectors by extension: `.npy`, otherwise fvecs.
///
/// # Errors
/// As [`read_npy`] / [`read_fvecs`].
pub fn read_vectors(path: &Path) -> Result<Matrix<f32>> {
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

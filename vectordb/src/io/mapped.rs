//! [`VectorFile`]: `.fvecs`, `.bvecs`, `.ivecs` and `.npy` files read in
//! row ranges through short-lived memory maps, so a file larger than
//! memory is read with memory bounded by the range asked for.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::bad;
use crate::error::{Result, VectorError};

/// The layout of a vector file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    /// `.fvecs`: per row an `i32` dimension and that many f32.
    Fvecs,
    /// `.bvecs`: per row an `i32` dimension and that many u8 (read as f32).
    Bvecs,
    /// `.ivecs`: per row an `i32` dimension and that many i32.
    Ivecs,
    /// `.npy`: a 2-D little-endian f32 array in C order.
    Npy,
}

impl VectorFormat {
    /// The format of `path` by its extension (case-insensitive).
    ///
    /// # Errors
    /// [`VectorError::BadVectorFile`] for another extension.
    pub fn of_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "fvecs" => Ok(VectorFormat::Fvecs),
            "bvecs" => Ok(VectorFormat::Bvecs),
            "ivecs" => Ok(VectorFormat::Ivecs),
            "npy" => Ok(VectorFormat::Npy),
            _ => Err(bad(
                &path.display().to_string(),
                0,
                format!("unknown extension {ext:?}: expected .fvecs, .bvecs, .ivecs or .npy"),
            )),
        }
    }

    /// Bytes per value.
    fn width(self) -> usize {
        match self {
            VectorFormat::Bvecs => 1,
            _ => 4,
        }
    }

    /// Whether each row starts with its dimension.
    fn has_row_header(self) -> bool {
        self != VectorFormat::Npy
    }
}

/// An open vector file whose shape is known and checked: every row has
/// the same dimension and the file length matches the rows exactly.
/// Rows are read by range ([`VectorFile::read_f32`],
/// [`VectorFile::read_i32`]), each range through its own memory map,
/// unmapped on return.
///
/// The file must not be truncated while it is open (the usual contract
/// of memory-mapped files); its length is checked again before each map.
///
/// ```
/// use unidb_vectordb::io::{to_fvecs, VectorFile};
/// # fn main() -> Result<(), unidb_vectordb::VectorError> {
/// let dir = std::env::temp_dir().join(format!("vf-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("base.fvecs");
/// std::fs::write(&path, to_fvecs(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2)).unwrap();
/// let file = VectorFile::open(&path)?;
/// assert_eq!((file.rows(), file.dim()), (3, 2));
/// let mut rows = Vec::new();
/// file.read_f32(1, 2, &mut rows)?;
/// assert_eq!(rows, [3.0, 4.0, 5.0, 6.0]);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct VectorFile {
    file: File,
    path: PathBuf,
    format: VectorFormat,
    rows: usize,
    dim: usize,
    /// Where row 0 starts.
    data_offset: u64,
    /// Bytes per row, its dimension header included.
    record: usize,
    /// The file length when opened.
    len: u64,
}

/// At most this many header bytes are read from a `.npy` file.
const MAX_NPY_HEADER: usize = 1 << 20;

impl VectorFile {
    /// Opens `path` (format by extension) and checks its shape.
    ///
    /// # Errors
    /// [`VectorError::Io`]; [`VectorError::BadVectorFile`] naming the
    /// file and the byte offset for an unknown extension, a bad header,
    /// a non-positive dimension, or a length that is not a whole number
    /// of rows (a truncated last row).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let format = VectorFormat::of_path(path)?;
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| VectorError::io(path, e))?;
        let meta = file.metadata().map_err(|e| VectorError::io(path, e))?;
        if meta.is_dir() {
            return Err(VectorError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
            ));
        }
        let len = meta.len();
        let (data_offset, dim) = match format {
            VectorFormat::Npy => npy_shape(&file, &name, len)?,
            _ => {
                if len == 0 {
                    (0, 0)
                } else {
                    let head = read_at(&file, path, 0, 4.min(len as usize))?;
                    let Ok(h) = <[u8; 4]>::try_from(head.as_slice()) else {
                        return Err(bad(&name, 0, "truncated dimension header"));
                    };
                    let d = i32::from_le_bytes(h);
                    if d <= 0 {
                        return Err(bad(&name, 0, format!("dimension {d} is not positive")));
                    }
                    (0, d as usize)
                }
            }
        };
        let header = if format.has_row_header() { 4 } else { 0 };
        let record = dim * format.width() + header;
        let body = len - data_offset;
        let rows = if record == 0 {
            0
        } else {
            let whole = body / record as u64;
            let left = body % record as u64;
            if left != 0 {
                let at = data_offset + whole * record as u64;
                return Err(bad(
                    &name,
                    at as usize,
                    format!("truncated row {whole}: needs {record} bytes, {left} left"),
                ));
            }
            usize::try_from(whole).map_err(|_| bad(&name, 0, "too many rows"))?
        };
        Ok(VectorFile {
            file,
            path: path.to_path_buf(),
            format,
            rows,
            dim,
            data_offset,
            record,
            len,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (0 for an empty fvecs/bvecs/ivecs file).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The format.
    pub fn format(&self) -> VectorFormat {
        self.format
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes one row takes in the file (its dimension header included).
    pub fn row_bytes(&self) -> usize {
        self.record
    }

    /// Maps rows `start..start + count` and hands their bytes to `f`.
    fn with_rows<R>(
        &self,
        start: usize,
        count: usize,
        f: impl FnOnce(&[u8]) -> Result<R>,
    ) -> Result<R> {
        let name = self.path.display().to_string();
        let end = start
            .checked_add(count)
            .filter(|&e| e <= self.rows)
            .ok_or_else(|| {
                bad(
                    &name,
                    0,
                    format!(
                        "rows {start}..{} asked for, the file has {}",
                        start.saturating_add(count),
                        self.rows
                    ),
                )
            })?;
        if count == 0 {
            return f(&[]);
        }
        let offset = self.data_offset + (start * self.record) as u64;
        let bytes = (end - start) * self.record;
        let now = self
            .file
            .metadata()
            .map_err(|e| VectorError::io(&self.path, e))?
            .len();
        if now < self.len {
            return Err(bad(
                &name,
                now as usize,
                format!("the file shrank from {} to {now} bytes", self.len),
            ));
        }
        // SAFETY: a read-only private map of a range inside the file's
        // length (checked just above); the documented contract is that
        // the file is not truncated while open. Every byte is validated
        // before it is interpreted.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(bytes)
                .map(&self.file)
        }
        .map_err(|e| VectorError::io(&self.path, e))?;
        // Best effort: the rows are read once, front to back.
        let _ = map.advise(memmap2::Advice::Sequential);
        f(&map)
    }

    /// Checks each row's dimension header in `bytes` (rows from `start`)
    /// and calls `each` with every row's values.
    fn rows_of<'b>(
        &self,
        bytes: &'b [u8],
        start: usize,
        mut each: impl FnMut(&'b [u8]),
    ) -> Result<()> {
        let header = if self.format.has_row_header() { 4 } else { 0 };
        for (i, rec) in bytes.chunks_exact(self.record).enumerate() {
            if header == 4 {
                let d = i32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
                if d != self.dim as i32 {
                    let row = start + i;
                    let at = self.data_offset as usize + row * self.record;
                    return Err(bad(
                        &self.path.display().to_string(),
                        at,
                        format!("row {row} has dimension {d}, earlier rows {}", self.dim),
                    ));
                }
            }
            each(&rec[header..]);
        }
        Ok(())
    }

    /// Reads rows `start..start + count` as f32 into `out` (replacing its
    /// contents): `.fvecs` and `.npy` values as they are, `.bvecs` bytes
    /// converted exactly.
    ///
    /// # Errors
    /// [`VectorError::BadVectorFile`] naming the file and offset for a
    /// range past the end, a row whose dimension differs, an `.ivecs`
    /// file, or a file that shrank since it was opened;
    /// [`VectorError::Io`] when the map fails.
    pub fn read_f32(&self, start: usize, count: usize, out: &mut Vec<f32>) -> Result<()> {
        if self.format == VectorFormat::Ivecs {
            return Err(bad(
                &self.path.display().to_string(),
                0,
                "an .ivecs file holds integers, not vectors",
            ));
        }
        out.clear();
        out.reserve(count * self.dim);
        self.with_rows(start, count, |bytes| {
            self.rows_of(bytes, start, |row| match self.format {
                VectorFormat::Bvecs => out.extend(row.iter().map(|&b| f32::from(b))),
                _ => out.extend(
                    row.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                ),
            })
        })
    }

    /// Reads rows `start..start + count` of an `.ivecs` file into `out`
    /// (replacing its contents).
    ///
    /// # Errors
    /// As [`VectorFile::read_f32`]; any other format is refused.
    pub fn read_i32(&self, start: usize, count: usize, out: &mut Vec<i32>) -> Result<()> {
        if self.format != VectorFormat::Ivecs {
            return Err(bad(
                &self.path.display().to_string(),
                0,
                "integer rows are read from an .ivecs file",
            ));
        }
        out.clear();
        out.reserve(count * self.dim);
        self.with_rows(start, count, |bytes| {
            self.rows_of(bytes, start, |row| {
                out.extend(
                    row.chunks_exact(4)
                        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
            })
        })
    }
}

/// Reads `len` bytes at `offset` (fewer at the end of the file).
fn read_at(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| VectorError::io(path, e))?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64)
        .read_to_end(&mut buf)
        .map_err(|e| VectorError::io(path, e))?;
    Ok(buf)
}

/// The data offset and dimension of a `.npy` file of `len` bytes,
/// checking its header and that the data is exactly the shape.
fn npy_shape(file: &File, name: &str, len: u64) -> Result<(u64, usize)> {
    let path = Path::new(name);
    let head = read_at(file, path, 0, 12.min(len as usize))?;
    let (hstart, hlen) = crate::io::npy_header_span(&head, name)?;
    if hlen > MAX_NPY_HEADER {
        return Err(bad(name, 8, format!("header of {hlen} bytes is too long")));
    }
    let header = read_at(file, path, hstart as u64, hlen)?;
    if header.len() != hlen {
        return Err(bad(name, hstart, "truncated header"));
    }
    let (rows, dim, need) = crate::io::npy_f32_shape(&header, hstart, name)?;
    let start = (hstart + hlen) as u64;
    if len - start.min(len) != need as u64 || (dim == 0 && rows != 0) {
        return Err(bad(
            name,
            start as usize,
            format!(
                "data has {} bytes, shape ({rows}, {dim}) needs {need}",
                len.saturating_sub(start)
            ),
        ));
    }
    Ok((start, dim))
}

//! `unidb compress`: compresses the columns of a CSV file with the syncdb
//! codecs (automatic selection), verifies the round trip and reports the
//! cascade chosen, the ratio and the speeds per column.
//!
//! ```
//! use unidb_cli::compress::{compress_csv, Options};
//! let csv = "id,price,at,tag\n1,9.99,2024-05-01T10:00:00Z,a\n2,NA,2024-05-01 10:00:01,b\n";
//! let reports = compress_csv(csv, &Options::default()).unwrap();
//! assert_eq!(reports[2].kind.name(), "timestamp");
//! assert_eq!(reports[1].nulls, 1);
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use unidb_codec::{decode_column, encode_column, CodecError, Column, ColumnKind, Effort, Values};

use crate::output::{progress_enabled, sig3, StageBars};

/// Arguments of `unidb compress`.
#[derive(Debug, clap::Args)]
pub struct CompressArgs {
    /// The CSV file (first line: column names).
    pub file: PathBuf,
    /// Only these columns (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Column types instead of inference: `name:type,...` with types int,
    /// timestamp, float, text, bool, bytes.
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
    /// `fast` (cheapest codecs, two stages) or `max` (best ratio).
    #[arg(long, default_value_t = effort_name(Options::default().effort).to_owned())]
    pub effort: String,
    /// Field delimiter: one ASCII character, or `tab`.
    #[arg(long, default_value_t = char::from(Options::default().delimiter).to_string())]
    pub delimiter: String,
}

/// Errors of `unidb compress`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompressError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Malformed CSV.
    #[error("CSV line {line}: {reason}")]
    Csv {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A column named in `--columns` or `--types` that the file lacks.
    #[error("no column {name:?}; columns: {}", known.join(", "))]
    NoColumn {
        /// The name asked for.
        name: String,
        /// The file's columns.
        known: Vec<String>,
    },
    /// A cell that does not parse as its column's type.
    #[error("column {column:?}, row {row}: {value:?} is not a {kind}")]
    BadCell {
        /// The column.
        column: String,
        /// 1-based data row.
        row: usize,
        /// The cell.
        value: String,
        /// The type expected.
        kind: ColumnKind,
    },
    /// A bad option value.
    #[error("{0}")]
    Usage(String),
    /// A CSV file without a header or without data records.
    #[error("empty CSV: {reason}")]
    Empty {
        /// What is missing.
        reason: &'static str,
    },
    /// Encoding or decoding failed.
    #[error("column {column:?}: {source}")]
    Codec {
        /// The column.
        column: String,
        /// The codec error.
        source: CodecError,
    },
    /// The decoded column differs from the input (a codec bug).
    #[error("column {0:?}: round trip changed the values")]
    RoundTrip(String),
}

impl CompressError {
    /// The project-wide category: an unreadable file its I/O error's kind,
    /// malformed CSV [`Serialization`](unidb_common::ErrorKind::Serialization),
    /// a missing column [`NotFound`](unidb_common::ErrorKind::NotFound), a
    /// bad cell or option or an empty file
    /// [`Validation`](unidb_common::ErrorKind::Validation),
    /// a codec error the codec's kind, a round trip that changed the values
    /// [`CorruptData`](unidb_common::ErrorKind::CorruptData).
    pub fn kind(&self) -> unidb_common::ErrorKind {
        use unidb_common::ErrorKind;
        match self {
            CompressError::Io { source, .. } => ErrorKind::of_io(source.kind()),
            CompressError::Csv { .. } => ErrorKind::Serialization,
            CompressError::NoColumn { .. } => ErrorKind::NotFound,
            CompressError::BadCell { .. }
            | CompressError::Usage(_)
            | CompressError::Empty { .. } => ErrorKind::Validation,
            CompressError::Codec { source, .. } => source.kind(),
            CompressError::RoundTrip(_) => ErrorKind::CorruptData,
        }
    }
}

impl From<CompressError> for unidb_common::Error {
    fn from(e: CompressError) -> Self {
        unidb_common::Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

/// The name [`Effort`]'s `FromStr` reads for `effort` (the codecs give
/// none), so `--effort` can show its default.
fn effort_name(effort: Effort) -> &'static str {
    match effort {
        Effort::Fast => "fast",
        Effort::Max => "max",
    }
}

/// What to compress and how; [`Default`] also gives `unidb compress` its
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Only these columns (all when empty).
    pub columns: Vec<String>,
    /// Types given instead of inferred.
    pub types: Vec<(String, ColumnKind)>,
    /// Selection effort.
    pub effort: Effort,
    /// Field delimiter byte (`,` by default).
    pub delimiter: u8,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            columns: Vec::new(),
            types: Vec::new(),
            effort: Effort::default(),
            delimiter: b',',
        }
    }
}

/// The result for one column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnReport {
    /// Column name.
    pub column: String,
    /// Its type.
    pub kind: ColumnKind,
    /// Rows and null rows.
    pub rows: usize,
    /// Null rows.
    pub nulls: usize,
    /// The cascade chosen (per block, distinct ones joined by `;`).
    pub codec: String,
    /// Raw bytes (8 per number, 1 per boolean, UTF-8 length of text).
    pub raw_bytes: usize,
    /// Encoded bytes.
    pub encoded_bytes: usize,
    /// Encode speed, MB of raw values per second.
    pub encode_mb_s: f64,
    /// Decode speed, MB of raw values per second.
    pub decode_mb_s: f64,
}

impl ColumnReport {
    /// `raw_bytes / encoded_bytes`.
    pub fn ratio(&self) -> f64 {
        self.raw_bytes as f64 / self.encoded_bytes.max(1) as f64
    }
}

/// Cells read as null.
pub const NULL_MARKERS: [&str; 5] = ["NA", "N/A", "null", "nil", "NaN"];

fn is_null(cell: &str) -> bool {
    let c = cell.trim();
    c.is_empty() || NULL_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(c))
}

pub use unidb_common::csv::{Cells, Table, MAX_COLUMNS};

impl From<unidb_common::csv::CsvError> for CompressError {
    fn from(e: unidb_common::csv::CsvError) -> Self {
        use unidb_common::csv::CsvError;
        match e {
            CsvError::Io(source) => CompressError::Io {
                path: PathBuf::from("<input>"),
                source,
            },
            CsvError::Malformed { line, reason } => CompressError::Csv { line, reason },
            CsvError::Empty { reason } => CompressError::Empty { reason },
            other => CompressError::Usage(other.to_string()),
        }
    }
}

/// Reads CSV with common's reader ([`unidb_common::csv::read_csv`]: RFC
/// 4180 as the `csv` crate reads it, at most [`MAX_COLUMNS`] fields, the
/// first record the header), its errors as [`CompressError`]s.
///
/// # Errors
/// [`CompressError::Csv`] (naming the line) for a malformed record,
/// [`CompressError::Empty`] for input without a header or data records,
/// [`CompressError::Io`] when reading fails.
pub fn read_csv(
    input: impl std::io::Read,
    delimiter: u8,
    progress: &mut dyn FnMut(u64),
) -> Result<Table, CompressError> {
    Ok(unidb_common::csv::read_csv(input, delimiter, progress)?)
}

/// Parses an ISO-8601 / RFC 3339 date-time to milliseconds since the
/// epoch (rounded down), with `jiff`: `T` or a space between date and
/// time, optional seconds and fraction, and a `Z` or `±HH:MM` offset (no
/// offset means UTC); a plain date is its midnight UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let ns = unidb_common::csv::parse_timestamp_nanos(s)?;
    i64::try_from(ns.div_euclid(1_000_000)).ok()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" => Some(true),
        "false" | "f" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Parses a type name.
///
/// # Errors
/// [`CompressError::Usage`] for an unknown name.
pub fn parse_kind(s: &str) -> Result<ColumnKind, CompressError> {
    ColumnKind::ALL
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            CompressError::Usage(format!(
                "unknown type {s:?}; known: int, timestamp, float, text, bool, bytes"
            ))
        })
}

/// The narrowest type that every non-null cell parses as: int, timestamp,
/// float, bool, else text.
pub fn infer_kind<'a>(cells: impl Iterator<Item = &'a str> + Clone) -> ColumnKind {
    let mut present = cells.filter(|c| !is_null(c));
    if present.clone().next().is_none() {
        return ColumnKind::Text;
    }
    if present.clone().all(|c| c.trim().parse::<i64>().is_ok()) {
        ColumnKind::Int
    } else if present.clone().all(|c| parse_timestamp(c).is_some()) {
        ColumnKind::Timestamp
    } else if present.clone().all(|c| c.trim().parse::<f64>().is_ok()) {
        ColumnKind::Float
    } else if present.all(|c| parse_bool(c).is_some()) {
        ColumnKind::Bool
    } else {
        ColumnKind::Text
    }
}

/// Builds a column of `kind` from cells (nulls per [`NULL_MARKERS`]; for
/// text only empty cells are null, NaN stays a float).
///
/// # Errors
/// [`CompressError::BadCell`] for a cell that does not parse.
pub fn build_column(name: &str, kind: ColumnKind, cells: &[&str]) -> Result<Column, CompressError> {
    let mut mask = Vec::with_capacity(cells.len());
    let bad = |row: usize, value: &str| CompressError::BadCell {
        column: name.to_owned(),
        row: row + 1,
        value: value.to_owned(),
        kind,
    };
    macro_rules! collect {
        ($variant:ident, $parse:expr) => {{
            let mut v = Vec::new();
            for (row, &c) in cells.iter().enumerate() {
                if is_null(c) && !(kind == ColumnKind::Text && !c.trim().is_empty()) {
                    mask.push(false);
                } else {
                    mask.push(true);
                    v.push($parse(c).ok_or_else(|| bad(row, c))?);
                }
            }
            Values::$variant(v)
        }};
    }
    let values = match kind {
        ColumnKind::Int => collect!(Int, |c: &str| c.trim().parse::<i64>().ok()),
        ColumnKind::Timestamp => collect!(Int, parse_timestamp),
        ColumnKind::Float => collect!(Float, |c: &str| c.trim().parse::<f64>().ok()),
        ColumnKind::Bool => collect!(Bool, parse_bool),
        ColumnKind::Text => collect!(Text, |c: &str| Some(c.to_owned())),
        ColumnKind::Bytes => collect!(Bytes, |c: &str| Some(c.as_bytes().to_vec())),
    };
    Column::with_validity(kind, values, Some(mask)).map_err(|source| CompressError::Codec {
        column: name.to_owned(),
        source,
    })
}

/// Runs `f` at least once and until 20 ms have passed (at most 50 times);
/// the mean time of one run.
fn time<T>(mut f: impl FnMut() -> T) -> (T, Duration) {
    let start = Instant::now();
    let mut out = f();
    let mut runs = 1u32;
    while start.elapsed() < Duration::from_millis(20) && runs < 50 {
        out = f();
        runs += 1;
    }
    (out, start.elapsed() / runs)
}

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64().max(1e-9) / 1e6
}

/// Compresses every selected column of CSV text (read as [`read_csv`]
/// reads it, with `opts.delimiter`).
///
/// # Errors
/// Malformed or empty CSV, unknown column names, cells that do not parse
/// as a given type, and a failed round trip.
pub fn compress_csv(text: &str, opts: &Options) -> Result<Vec<ColumnReport>, CompressError> {
    let table = read_csv(text.as_bytes(), opts.delimiter, &mut |_| {})?;
    compress_table(&table, opts, &mut |_, _| {})
}

/// Compresses every selected column of a table, calling
/// `progress(done, total)` after each column.
///
/// # Errors
/// As [`compress_csv`].
pub fn compress_table(
    table: &Table,
    opts: &Options,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<ColumnReport>, CompressError> {
    let header = &table.header;
    let known = || header.clone();
    let index = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| CompressError::NoColumn {
                name: name.to_owned(),
                known: known(),
            })
    };
    for (name, _) in &opts.types {
        index(name)?;
    }
    let selected: Vec<usize> = if opts.columns.is_empty() {
        (0..header.len()).collect()
    } else {
        opts.columns
            .iter()
            .map(|c| index(c))
            .collect::<Result<_, _>>()?
    };
    let mut reports = Vec::new();
    let total = selected.len();
    for (done, i) in selected.into_iter().enumerate() {
        let name = &header[i];
        let cells: Vec<&str> = table.columns[i].iter().collect();
        let kind = match opts.types.iter().find(|(n, _)| n == name) {
            Some((_, k)) => *k,
            None => infer_kind(cells.iter().copied()),
        };
        let col = build_column(name, kind, &cells)?;
        let codec_err = |source| CompressError::Codec {
            column: name.clone(),
            source,
        };
        let (enc, t_enc) = time(|| encode_column(&col, opts.effort));
        let enc = enc.map_err(codec_err)?;
        let (dec, t_dec) = time(|| decode_column(&enc.bytes));
        if dec.map_err(codec_err)? != col {
            return Err(CompressError::RoundTrip(name.clone()));
        }
        let mut cascades: Vec<String> = Vec::new();
        for c in &enc.cascades {
            if !cascades.contains(c) {
                cascades.push(c.clone());
            }
        }
        let raw = col.values().raw_bytes();
        reports.push(ColumnReport {
            column: name.clone(),
            kind,
            rows: col.rows(),
            nulls: col.rows() - col.values().len(),
            codec: cascades.join(";"),
            raw_bytes: raw,
            encoded_bytes: enc.bytes.len(),
            encode_mb_s: mb_s(raw, t_enc),
            decode_mb_s: mb_s(raw, t_dec),
        });
        progress(done + 1, total);
    }
    Ok(reports)
}

/// Formats reports as a table (figures to 3 significant digits), or as
/// one JSON object per line (`column`, `type`, `codec`, `ratio`,
/// `encode_mb_s`, `decode_mb_s`, `rows`, `nulls`, `raw_bytes`,
/// `encoded_bytes`).
pub fn format_reports(reports: &[ColumnReport], json: bool) -> String {
    let mut out = String::new();
    if json {
        for r in reports {
            let obj = serde_json::json!({
                "column": r.column,
                "type": r.kind.name(),
                "codec": r.codec,
                "ratio": r.ratio(),
                "encode_mb_s": r.encode_mb_s,
                "decode_mb_s": r.decode_mb_s,
                "rows": r.rows,
                "nulls": r.nulls,
                "raw_bytes": r.raw_bytes,
                "encoded_bytes": r.encoded_bytes,
            });
            out.push_str(&obj.to_string());
            out.push('\n');
        }
        return out;
    }
    out.push_str(&format!(
        "{:<16} {:<9} {:>8} {:>6} {:>10} {:>10} {:>8} {:>9} {:>9}  codec\n",
        "column", "type", "rows", "nulls", "raw B", "enc B", "ratio", "enc MB/s", "dec MB/s"
    ));
    for r in reports {
        out.push_str(&format!(
            "{:<16} {:<9} {:>8} {:>6} {:>10} {:>10} {:>8} {:>9} {:>9}  {}\n",
            r.column,
            r.kind.name(),
            r.rows,
            r.nulls,
            r.raw_bytes,
            r.encoded_bytes,
            sig3(r.ratio()),
            sig3(r.encode_mb_s),
            sig3(r.decode_mb_s),
            r.codec
        ));
    }
    out
}

/// Runs `unidb compress` and returns its output (a table, or JSON lines
/// with `json`). The file is read as a stream; on a terminal (and without
/// `json`) progress bars show the bytes read and the columns compressed.
///
/// # Errors
/// As [`compress_csv`], plus unreadable files and bad options.
pub fn run(args: &CompressArgs, json: bool) -> Result<String, CompressError> {
    let opts = args.options()?;
    let io_error = |source| CompressError::Io {
        path: args.file.clone(),
        source,
    };
    let file = std::fs::File::open(&args.file).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    let bars = StageBars::new(progress_enabled(json));
    let table = read_csv(
        std::io::BufReader::new(file),
        opts.delimiter,
        &mut |bytes| bars.update("reading", bytes, size),
    )
    .map_err(|e| match e {
        CompressError::Io { source, .. } => io_error(source),
        other => other,
    })?;
    let reports = compress_table(&table, &opts, &mut |done, total| {
        bars.update("compressing", done as u64, total as u64)
    })?;
    Ok(format_reports(&reports, json))
}

/// The field delimiter `--delimiter` names: one ASCII character, or `tab`
/// (also `\t`).
///
/// # Errors
/// [`CompressError::Usage`] for anything else.
pub fn parse_delimiter(s: &str) -> Result<u8, CompressError> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(CompressError::Usage(format!(
            "--delimiter wants one ASCII character other than a quote or line break, or tab; got {s:?}"
        ))),
    }
}

impl CompressArgs {
    /// The [`Options`] these arguments ask for.
    ///
    /// # Errors
    /// [`CompressError::Usage`] for an unknown effort or type, or a
    /// `--types` entry without `:`.
    pub fn options(&self) -> Result<Options, CompressError> {
        let effort: Effort = self
            .effort
            .parse()
            .map_err(|e: CodecError| CompressError::Usage(e.to_string()))?;
        let mut types = Vec::new();
        for t in &self.types {
            let (name, kind) = t.split_once(':').ok_or_else(|| {
                CompressError::Usage(format!("--types wants name:type, got {t:?}"))
            })?;
            types.push((name.to_owned(), parse_kind(kind)?));
        }
        Ok(Options {
            columns: self.columns.clone(),
            types,
            effort,
            delimiter: parse_delimiter(&self.delimiter)?,
        })
    }
}

#[cfg(test)]
mod tests;

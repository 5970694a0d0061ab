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
mod tests {
    use super::*;

    #[test]
    fn errors_convert_with_their_kind_and_source_chain() {
        use std::error::Error as _;
        use unidb_common::ErrorKind;
        let args = |file: &str, types: &[&str]| CompressArgs {
            file: PathBuf::from(file),
            columns: Vec::new(),
            types: types.iter().map(|t| t.to_string()).collect(),
            effort: "max".into(),
            delimiter: ",".into(),
        };
        let missing = std::env::temp_dir().join(format!(
            "unidb-compress-test-{}-missing.csv",
            std::process::id()
        ));
        let e: unidb_common::Error = run(&args(missing.to_str().unwrap(), &[]), false)
            .unwrap_err()
            .into();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let io = e.source().unwrap().source().unwrap();
        assert_eq!(
            io.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::NotFound
        );
        let usage = run(&args("x.csv", &["a"]), false).unwrap_err();
        assert_eq!(
            unidb_common::Error::from(usage).kind(),
            ErrorKind::Validation
        );
        let csv = compress_csv("a\n1,2\n", &Options::default()).unwrap_err();
        assert!(matches!(csv, CompressError::Csv { .. }), "{csv}");
        assert_eq!(
            unidb_common::Error::from(csv).kind(),
            ErrorKind::Serialization
        );
        let opts = Options {
            columns: vec!["nope".into()],
            ..Options::default()
        };
        let none = compress_csv("a\n1\n", &opts).unwrap_err();
        assert_eq!(unidb_common::Error::from(none).kind(), ErrorKind::NotFound);
        let codec = CompressError::Codec {
            column: "a".into(),
            source: CodecError::OutputTooLarge { limit: 1 },
        };
        let e = unidb_common::Error::from(codec);
        assert_eq!(e.kind(), ErrorKind::CorruptData);
        assert!(e
            .source()
            .unwrap()
            .source()
            .unwrap()
            .downcast_ref::<CodecError>()
            .is_some());
    }

    const CSV: &str = "id,at,price,temp,cat,note,done,count\r\n\
1,2024-05-01T10:00:00.120Z,9.99,20.5,ios,\"hello, world\",true,3\n\
2,2024-05-01 10:00:01.250,10.49,NaN,android,\"say \"\"hi\"\"\",false,4\n\
3,2024-05-01T12:00:02+02:00,N/A,20.75,ios,\"two\nlines\",true,\n\
4,2024-05-01T10:00:03.5,11.00,21,web,,nil,3\n";

    #[test]
    fn effort_names_parse_back() {
        for effort in [Effort::Fast, Effort::Max] {
            assert_eq!(effort_name(effort).parse::<Effort>().unwrap(), effort);
        }
    }

    #[test]
    fn megabytes_of_commas_are_refused_or_reported() {
        // One record of 4 Mi empty fields: refused while reading.
        let commas = ",".repeat(4 << 20);
        let err = compress_csv(&commas, &Options::default()).unwrap_err();
        assert!(
            matches!(&err, CompressError::Csv { line: 1, reason } if reason.contains("fields")),
            "{err}"
        );
        // As wide as allowed: read.
        let widest = format!(
            "{}\n{}",
            ",".repeat(MAX_COLUMNS - 1),
            ",".repeat(MAX_COLUMNS - 1)
        );
        let table = read_csv(widest.as_bytes(), b',', &mut |_| {}).unwrap();
        assert_eq!(table.header.len(), MAX_COLUMNS);
        assert_eq!(table.rows(), 1);
        // Records of commas: two null columns, reported.
        let rows = format!("a,b\n{}", ",\n".repeat(1 << 20));
        let r = compress_csv(&rows, &Options::default()).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|c| c.rows == 1 << 20 && c.nulls == 1 << 20));
    }

    #[test]
    fn identical_long_cells_round_trip() {
        // Compressed far beyond the decode budget: the encoder pads, the
        // round trip holds (it used to fail on 1000-byte cells).
        let cell = "c".repeat(1000);
        let text = format!(
            "id,note\n{}",
            (0..5000)
                .map(|i| format!("{i},{cell}\n"))
                .collect::<String>()
        );
        let r = compress_csv(&text, &Options::default()).unwrap();
        assert_eq!(r[1].rows, 5000);
        assert!(r[1].ratio() > 100.0, "{}", r[1].ratio());
    }

    fn read(text: &str) -> Result<Table, CompressError> {
        read_csv(text.as_bytes(), b',', &mut |_| {})
    }

    /// The cells of column `i`.
    fn column(t: &Table, i: usize) -> Vec<&str> {
        t.columns[i].iter().collect()
    }

    #[test]
    fn csv_reader_handles_quotes_and_line_breaks() {
        let t = read(CSV).unwrap();
        assert_eq!(t.header.len(), 8);
        assert_eq!(t.rows(), 4);
        assert!(t.columns.iter().all(|c| c.len() == 4));
        assert_eq!(
            column(&t, 5),
            ["hello, world", "say \"hi\"", "two\nlines", ""]
        );
        assert_eq!(t.header[7], "count");
        // The csv crate is lenient where RFC 4180 is not: an unterminated
        // quote runs to the end, text after a closing quote is kept.
        assert_eq!(column(&read("a,b\n1,\"x\n").unwrap(), 1), ["x\n"]);
        assert_eq!(column(&read("a,b\n1,\"b\"c\n").unwrap(), 1), ["bc"]);
        // A last record without a line break; blank lines are skipped.
        let t = read("a,b\n\n1,2").unwrap();
        assert_eq!((column(&t, 0), column(&t, 1)), (vec!["1"], vec!["2"]));
    }

    /// A byte order mark, quoted fields, CRLF line ends and another
    /// delimiter: each read back as the cells written.
    #[test]
    fn bom_quotes_crlf_and_delimiters_round_trip() {
        let cells = [
            ["id", "name;x", "note"],
            ["1", "a \"quoted\" word", "semi;colon"],
            ["2", "line\r\nbreak", ""],
        ];
        for delimiter in [b',', b';', b'\t', b'|'] {
            let d = char::from(delimiter).to_string();
            let mut text = String::from("\u{feff}");
            for row in &cells {
                let quoted: Vec<String> = row
                    .iter()
                    .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                    .collect();
                text.push_str(&quoted.join(&d));
                text.push_str("\r\n");
            }
            let t = read_csv(text.as_bytes(), delimiter, &mut |_| {}).unwrap();
            assert_eq!(t.header, cells[0], "{delimiter}");
            for (i, _) in cells[0].iter().enumerate() {
                assert_eq!(column(&t, i), [cells[1][i], cells[2][i]], "{delimiter}");
            }
            let opts = Options {
                delimiter,
                ..Options::default()
            };
            let r = compress_csv(&text, &opts).unwrap();
            assert_eq!(r[0].column, "id");
            assert_eq!(r[0].kind, ColumnKind::Int);
        }
        // Unquoted, with CRLF: no '\r' left in the last cell.
        let t = read("\u{feff}a,b\r\n1,x\r\n2,y\r\n").unwrap();
        assert_eq!(t.header, ["a", "b"]);
        assert_eq!(column(&t, 1), ["x", "y"]);
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        for bad in ["", ";;", "\"", "é"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
    }

    /// An empty file, and one with only a header, are errors.
    #[test]
    fn empty_or_header_only_csv_is_an_error() {
        for text in ["", "\u{feff}", "a,b\n", "a,b", "a,b\r\n\r\n"] {
            let err = compress_csv(text, &Options::default()).unwrap_err();
            assert!(
                matches!(err, CompressError::Empty { .. }),
                "{text:?}: {err}"
            );
            assert_eq!(
                unidb_common::Error::from(err).kind(),
                unidb_common::ErrorKind::Validation
            );
        }
    }

    /// Against epoch values computed by hand (19844 days from 1970-01-01
    /// to 2024-05-01).
    #[test]
    fn timestamps_parse_to_epoch_millis() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400_000));
        let may1 = 19_844 * 86_400_000i64 + 10 * 3_600_000;
        assert_eq!(may1, 1_714_557_600_000);
        for (text, want) in [
            ("2024-05-01T10:00:00Z", may1),
            ("2024-05-01t10:00:00z", may1),
            ("2024-05-01 10:00:00.5", may1 + 500),
            ("2024-05-01T10:00", may1),
            ("2024-05-01T12:00:00+02:00", may1),
            ("2024-05-01T05:30-04:30", may1),
            ("2024-05-01T05:30:00.123456-0430", may1 + 123),
            ("1969-12-31T23:59:59.999Z", -1),
            ("1969-12-31T23:59:59.9995Z", -1),
        ] {
            assert_eq!(parse_timestamp(text), Some(want), "{text}");
        }
        for bad in [
            "2024-13-01",
            "2024-02-30",
            "2024-05-01T25:00",
            "2024-05-01X10:00",
            "10:00",
            "2024-05-01T10:00Zx",
            "2024-5-1",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn compresses_an_embedded_csv() {
        let reports = compress_csv(CSV, &Options::default()).unwrap();
        let kinds: Vec<&str> = reports.iter().map(|r| r.kind.name()).collect();
        assert_eq!(
            kinds,
            [
                "int",
                "timestamp",
                "float",
                "float",
                "text",
                "text",
                "bool",
                "int"
            ]
        );
        let nulls: Vec<usize> = reports.iter().map(|r| r.nulls).collect();
        assert_eq!(nulls, [0, 0, 1, 1, 0, 1, 1, 1]);
        assert!(reports.iter().all(|r| r.rows == 4 && !r.codec.is_empty()));
        assert_eq!(reports[0].raw_bytes, 32);
        // Only some columns, with a type given.
        let opts = Options {
            columns: vec!["count".into(), "id".into()],
            types: vec![("id".into(), ColumnKind::Float)],
            effort: Effort::Fast,
            ..Options::default()
        };
        let r = compress_csv(CSV, &opts).unwrap();
        assert_eq!(
            r.iter().map(|r| r.column.as_str()).collect::<Vec<_>>(),
            ["count", "id"]
        );
        assert_eq!(r[1].kind, ColumnKind::Float);
        let json = format_reports(&r, true);
        for line in json.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for key in [
                "column",
                "type",
                "codec",
                "ratio",
                "encode_mb_s",
                "decode_mb_s",
            ] {
                assert!(v.get(key).is_some(), "{key} missing in {line}");
            }
        }
        assert!(format_reports(&r, false).contains("count"));
        // Errors name the problem.
        let err = compress_csv(
            CSV,
            &Options {
                columns: vec!["nope".into()],
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope") && err.to_string().contains("price"));
        let opts = Options {
            types: vec![("cat".into(), ColumnKind::Int)],
            ..Options::default()
        };
        assert!(matches!(
            compress_csv(CSV, &opts),
            Err(CompressError::BadCell { row: 1, .. })
        ));
        assert!(matches!(
            compress_csv("a,b\n1\n", &Options::default()),
            Err(CompressError::Csv { line: 2, .. })
        ));
        assert!(matches!(
            compress_csv("a,b\n1,2\n3,4\n5\n", &Options::default()),
            Err(CompressError::Csv { line: 4, .. })
        ));
    }

    #[test]
    fn large_mobile_like_columns_compress() {
        // ms timestamps with jitter, increasing ids, 2-decimal prices.
        let mut rng = unidb_common::rng::SplitMix64::new(7);
        let mut rnd = move || rng.next_u64();
        let mut text = String::from("ts,id,price\n");
        for i in 0..20_000i64 {
            let ts = 1_714_557_600_000 + i * 1000 + (rnd() % 41) as i64 - 20;
            text.push_str(&format!(
                "{ts},{},{}.{:02}\n",
                5000 + i,
                rnd() % 500,
                rnd() % 100
            ));
        }
        let r = compress_csv(&text, &Options::default()).unwrap();
        // Jitter of ±20 ms leaves ~5.4 bits per value: well above 8x.
        assert!(r[0].ratio() > 8.0, "{:?}", r[0]);
        assert!(r[1].ratio() > 100.0, "{:?}", r[1]);
        // ~15.6 bits of information per price.
        assert!(r[2].ratio() > 3.5, "{:?}", r[2]);
    }
}

//! The one CSV reader of the project: `csv-core` driven with a bounded
//! field table, cells kept by column ([`read_csv`]), and the one
//! date-time parser CSV columns are read with ([`parse_timestamp_nanos`]).
//! `unidb compress` and the feature store's CSV input both read through it.
//!
//! ```
//! use unidb_common::csv::{parse_timestamp_nanos, read_csv};
//!
//! let t = read_csv("id,at\n1,1970-01-01T00:00:01Z\n".as_bytes(), b',', &mut |_| {}).unwrap();
//! assert_eq!(t.header, ["id", "at"]);
//! let at = t.columns[1].iter().next().unwrap();
//! assert_eq!(parse_timestamp_nanos(at), Some(1_000_000_000));
//! ```

/// Errors of [`read_csv`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// Reading the input failed.
    #[error("cannot read the CSV input: {0}")]
    Io(#[source] std::io::Error),
    /// Malformed CSV.
    #[error("CSV line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Input without a header or without data records.
    #[error("empty CSV: {reason}")]
    Empty {
        /// What is missing.
        reason: &'static str,
    },
}

impl CsvError {
    /// The error's kind: I/O errors by [`ErrorKind::of_io`], malformed
    /// records [`ErrorKind::Serialization`], empty input
    /// [`ErrorKind::Validation`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            CsvError::Io(e) => ErrorKind::of_io(e.kind()),
            CsvError::Malformed { .. } => ErrorKind::Serialization,
            CsvError::Empty { .. } => ErrorKind::Validation,
        }
    }
}

impl From<CsvError> for Error {
    fn from(e: CsvError) -> Self {
        Error::new(e.kind(), e.to_string()).with_source(e)
    }
}

use crate::error::{Error, ErrorKind};

/// Most fields in one CSV record: a file with wider records is refused
/// (20 MiB of commas would otherwise make 20 million columns, each with
/// its own report).
pub const MAX_COLUMNS: usize = 16_384;

/// One column of CSV cells: their text back to back and where each ends
/// (one allocation per column, not one `String` per cell).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cells {
    text: String,
    ends: Vec<usize>,
}

impl Cells {
    fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len());
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no cells.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The cells in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| &self.text[a..b])
    }
}

/// A CSV file read by [`read_csv`]: the header and the data cells by
/// column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names (the first record).
    pub header: Vec<String>,
    /// Each column's cells, one per data record.
    pub columns: Vec<Cells>,
}

impl Table {
    /// Number of data records.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Cells::len)
    }
}

/// Reads CSV with the `csv` crate's parser (`csv-core`, RFC 4180 as the
/// `csv` crate reads it: `"` quotes fields, `""` is a quote inside one,
/// quoted fields may hold delimiters and line breaks, records end with
/// `\n`, `\r\n` or `\r`, blank lines are skipped, a UTF-8 byte order mark
/// at the start is skipped) with `delimiter` between fields. The first
/// record is the header. `progress` is called now and then with the bytes
/// read so far.
///
/// The parser is lenient where RFC 4180 is not: an unterminated quote runs
/// to the end of the input, and text after a closing quote is kept
/// (`"b"c` reads as `bc`).
///
/// `csv-core` is driven directly, with room for the ends of
/// [`MAX_COLUMNS`] fields and no more, so a record that would be wider is
/// refused as soon as the parser runs out of room (the `csv` crate's
/// `Reader` grows a record's field table without limit first: 190 MiB
/// for one line of 4 Mi commas).
///
/// # Errors
/// [`CsvError::Malformed`] (naming the line) for a record whose field count
/// differs from the header's, a record that is not UTF-8, or a record of
/// more than [`MAX_COLUMNS`] fields; [`CsvError::Empty`] for input
/// without a header or without data records; [`CsvError::Io`] when
/// reading fails.
pub fn read_csv(
    input: impl std::io::Read,
    delimiter: u8,
    progress: &mut dyn FnMut(u64),
) -> Result<Table, CsvError> {
    use csv_core::ReadRecordResult as R;
    use std::io::BufRead as _;
    let mut input = std::io::BufReader::with_capacity(1 << 16, input);
    let mut parser = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut out = vec![0u8; 1024];
    let mut ends = vec![0usize; MAX_COLUMNS];
    let mut header: Option<Vec<String>> = None;
    let mut columns: Vec<Cells> = Vec::new();
    let mut records = 0u64;
    let mut consumed = 0u64;
    let (mut outlen, mut endlen) = (0usize, 0usize);
    let mut line = parser.line();
    loop {
        let buf = input.fill_buf().map_err(CsvError::Io)?;
        let (res, nin, nout, nend) =
            parser.read_record(buf, &mut out[outlen..], &mut ends[endlen..]);
        input.consume(nin);
        consumed += nin as u64;
        outlen += nout;
        endlen += nend;
        match res {
            R::InputEmpty => continue,
            R::OutputFull => {
                let len = out.len();
                out.resize(2 * len, 0);
            }
            R::OutputEndsFull => {
                return Err(CsvError::Malformed {
                    line: line as usize,
                    reason: format!("more than {MAX_COLUMNS} fields in one record"),
                })
            }
            R::Record => {
                let text =
                    std::str::from_utf8(&out[..outlen]).map_err(|e| CsvError::Malformed {
                        line: line as usize,
                        reason: format!("not UTF-8 at byte {} of the record", e.valid_up_to()),
                    })?;
                let fields = &ends[..endlen];
                let cells = std::iter::once(0)
                    .chain(fields.iter().copied())
                    .zip(fields.iter().copied())
                    .map(|(a, b)| &text[a..b]);
                match &header {
                    None => {
                        header = Some(cells.map(str::to_owned).collect());
                        columns = vec![Cells::default(); endlen];
                    }
                    Some(h) if h.len() != endlen => {
                        return Err(CsvError::Malformed {
                            line: line as usize,
                            reason: format!("{endlen} fields, the header has {}", h.len()),
                        })
                    }
                    Some(_) => {
                        for (column, cell) in columns.iter_mut().zip(cells) {
                            column.push(cell);
                        }
                        records += 1;
                        if records.is_multiple_of(4096) {
                            progress(consumed);
                        }
                    }
                }
                (outlen, endlen) = (0, 0);
                line = parser.line();
            }
            R::End => break,
        }
    }
    progress(consumed);
    let Some(header) = header else {
        return Err(CsvError::Empty {
            reason: "no header line",
        });
    };
    if records == 0 {
        return Err(CsvError::Empty {
            reason: "a header but no data records",
        });
    }
    Ok(Table { header, columns })
}

/// Parses an ISO-8601 / RFC 3339 date-time to nanoseconds since the
/// epoch, with `jiff`: `T` or a space between date and time, optional
/// seconds and fraction (to the nanosecond), and a `Z` or `±HH:MM` offset
/// (no offset means UTC); a plain date is its midnight UTC. `None` for
/// anything else. The result spans jiff's years -9999..=9999, wider than
/// an `i64` of nanoseconds: callers narrow it to their unit.
pub fn parse_timestamp_nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    let ts = match s.parse::<jiff::Timestamp>() {
        Ok(ts) => ts,
        Err(_) => {
            let civil = match s.parse::<jiff::civil::DateTime>() {
                Ok(dt) => dt,
                // A bare date parses as one; require its exact form.
                Err(_) if s.len() == 10 => s.parse::<jiff::civil::Date>().ok()?.at(0, 0, 0, 0),
                Err(_) => return None,
            };
            civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp()
        }
    };
    Some(ts.as_nanosecond())
}

#[cfg(test)]
mod tests;

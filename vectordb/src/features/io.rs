//! Files in and out: CSV view and entity files read with common's CSV
//! reader (types given by a view's definition, or inferred), and the
//! join written as CSV, JSON lines or (with the `parquet` feature)
//! Parquet, streamed chunk by chunk and replaced atomically.

use std::io::Write;
use std::path::Path;

use unidb_common::csv::{Cells, Table};
use unidb_common::value::ColumnType;

use super::column::{Column, ColumnData, FeatureValue, KeyColumn};
use super::error::{cut, FeatureError, FeatureResult};
use super::join::{EntityTable, JoinBatch, JoinOptions, JoinPlan};
use super::schema::{parse_time, EntityDef, Feature, FeatureType, TimeUnit, ViewDef};
use super::store::{FeatureStore, RowBatch};

/// The column of event times in view files and of row times in entity
/// files.
pub const EVENT_TIMESTAMP: &str = "event_timestamp";
/// The column of created (recorded) times in view files.
pub const CREATED_TIMESTAMP: &str = "created_timestamp";

/// Reads a CSV file whole with common's reader (`,` between fields).
///
/// # Errors
/// [`FeatureError::Io`] or [`FeatureError::Csv`] naming the file.
pub fn read_csv_file(path: &Path, progress: &mut dyn FnMut(u64)) -> FeatureResult<Table> {
    let file = std::fs::File::open(path).map_err(|source| FeatureError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    unidb_common::csv::read_csv(file, b',', progress).map_err(|source| FeatureError::Csv {
        table: path.display().to_string(),
        source,
    })
}

fn column<'t>(t: &'t Table, table: &str, name: &str) -> FeatureResult<&'t Cells> {
    t.header
        .iter()
        .position(|h| h == name)
        .map(|i| &t.columns[i])
        .ok_or_else(|| FeatureError::MissingColumn {
            table: table.to_owned(),
            column: name.to_owned(),
        })
}

fn timestamps(cells: &Cells, table: &str, name: &str, unit: TimeUnit) -> FeatureResult<Vec<i64>> {
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            parse_time(c, unit).ok_or_else(|| FeatureError::BadTimestamp {
                table: table.to_owned(),
                row: i + 1,
                column: name.to_owned(),
                value: cut(c),
                unit: unit.name(),
            })
        })
        .collect()
}

/// Whether every cell of `cells` reads as an integer key.
pub fn all_int(cells: &Cells) -> bool {
    cells.iter().all(|c| c.trim().parse::<i64>().is_ok())
}

/// A key column of type `ty` from text cells.
fn key_column(cells: &Cells, ty: ColumnType, table: &str, name: &str) -> FeatureResult<KeyColumn> {
    let bad = |i: usize, c: &str, what: &str| FeatureError::BadCell {
        table: table.to_owned(),
        row: i + 1,
        column: name.to_owned(),
        value: cut(c),
        expected: what.to_owned(),
    };
    Ok(match ty {
        ColumnType::I64 => KeyColumn::Int(
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| c.trim().parse().map_err(|_| bad(i, c, "an integer key")))
                .collect::<FeatureResult<_>>()?,
        ),
        _ => KeyColumn::Text(
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if c.is_empty() {
                        Err(bad(i, c, "a key (it is empty)"))
                    } else {
                        Ok(c.to_owned())
                    }
                })
                .collect::<FeatureResult<_>>()?,
        ),
    })
}

/// A vector cell: `[a, b, ...]` (or the numbers alone, separated by
/// commas, spaces or semicolons).
fn parse_vector(cell: &str) -> Option<Vec<f32>> {
    let s = cell.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let v: Option<Vec<f32>> = s
        .split([',', ';', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<f32>().ok())
        .collect();
    v.filter(|v| !v.is_empty())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "True" | "TRUE" | "t" | "1" => Some(true),
        "false" | "False" | "FALSE" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// The type of a column of cells: integer, float, boolean, timestamp (RFC
/// 3339 text only: numbers stay numbers), vector (`[..]`, all of one
/// dimension), else text. Empty cells are nulls and do not vote; an
/// all-null column is text.
pub fn infer_type(cells: &Cells) -> FeatureType {
    let mut present = cells.iter().filter(|c| !c.is_empty()).peekable();
    if present.peek().is_none() {
        return FeatureType::Text;
    }
    let all = |f: &dyn Fn(&str) -> bool| cells.iter().filter(|c| !c.is_empty()).all(f);
    if all(&|c| c.trim().parse::<i64>().is_ok()) {
        return FeatureType::Int;
    }
    if all(&|c| c.trim().parse::<f64>().is_ok()) {
        return FeatureType::Float;
    }
    if all(&|c| {
        matches!(
            c.trim(),
            "true" | "false" | "True" | "False" | "TRUE" | "FALSE"
        )
    }) {
        return FeatureType::Bool;
    }
    if all(&|c| {
        !c.trim().starts_with(['-', '+', '.'])
            && c.trim().parse::<f64>().is_err()
            && parse_time(c, TimeUnit::Nanos).is_some()
    }) {
        return FeatureType::Timestamp;
    }
    if all(&|c| c.trim().starts_with('[')) {
        let dims: Option<Vec<usize>> = cells
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| parse_vector(c).map(|v| v.len()))
            .collect();
        if let Some(&first) = dims.as_ref().and_then(|d| d.first()) {
            let same = dims.iter().flatten().all(|&d| d == first);
            if let (true, Ok(dim)) = (same, u32::try_from(first)) {
                return FeatureType::Vector { dim };
            }
        }
    }
    FeatureType::Text
}

/// Parses text cells as a feature column of type `ty`; empty cells are
/// nulls.
///
/// # Errors
/// [`FeatureError::BadCell`] or [`FeatureError::BadTimestamp`] naming
/// the row (1-based) and column.
pub fn parse_column(
    cells: &Cells,
    ty: FeatureType,
    table: &str,
    name: &str,
    unit: TimeUnit,
) -> FeatureResult<Column> {
    let n = cells.len();
    let valid: Vec<bool> = cells.iter().map(|c| !c.is_empty()).collect();
    let bad = |i: usize, c: &str| FeatureError::BadCell {
        table: table.to_owned(),
        row: i + 1,
        column: name.to_owned(),
        value: cut(c),
        expected: match ty {
            FeatureType::Int => "an integer".to_owned(),
            FeatureType::Float => "a float".to_owned(),
            FeatureType::Bool => "a boolean".to_owned(),
            FeatureType::Vector { dim } => format!("a vector of {dim} floats"),
            _ => ty.to_string(),
        },
    };
    fn each<T: Default>(
        cells: &Cells,
        mut f: impl FnMut(usize, &str) -> FeatureResult<T>,
    ) -> FeatureResult<Vec<T>> {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if c.is_empty() {
                    Ok(T::default())
                } else {
                    f(i, c)
                }
            })
            .collect()
    }
    let data = match ty {
        FeatureType::Int => {
            ColumnData::Int(each(cells, |i, c| c.trim().parse().map_err(|_| bad(i, c)))?)
        }
        FeatureType::Float => {
            ColumnData::Float(each(cells, |i, c| c.trim().parse().map_err(|_| bad(i, c)))?)
        }
        FeatureType::Bool => {
            ColumnData::Bool(each(cells, |i, c| parse_bool(c).ok_or_else(|| bad(i, c)))?)
        }
        FeatureType::Text => ColumnData::Text(cells.iter().map(str::to_owned).collect()),
        FeatureType::Timestamp => ColumnData::Timestamp(each(cells, |i, c| {
            parse_time(c, unit).ok_or_else(|| FeatureError::BadTimestamp {
                table: table.to_owned(),
                row: i + 1,
                column: name.to_owned(),
                value: cut(c),
                unit: unit.name(),
            })
        })?),
        FeatureType::Vector { dim } => {
            let d = dim as usize;
            let mut values = Vec::with_capacity(n * d);
            for (i, c) in cells.iter().enumerate() {
                if c.is_empty() {
                    values.extend(std::iter::repeat_n(0.0, d));
                    continue;
                }
                match parse_vector(c) {
                    Some(v) if v.len() == d => values.extend_from_slice(&v),
                    _ => return Err(bad(i, c)),
                }
            }
            ColumnData::Vector { dim, values }
        }
    };
    Column::try_new(data, valid)
}

/// A view file (`<entity keys>, event_timestamp, created_timestamp,
/// <features...>`) as a batch for `view` of `entity`. With `schema`, its
/// features are parsed by their declared types and every column must be
/// one of them; without, every other column is a feature of the type
/// [`infer_type`] gives. Returns the features (in file order) and the
/// rows.
///
/// # Errors
/// [`FeatureError::MissingColumn`] for a key column, timestamp column or
/// declared feature the file lacks; [`FeatureError::UnknownFeature`] for
/// an undeclared column; [`FeatureError::BadCell`] or
/// [`FeatureError::BadTimestamp`] naming the row and column.
pub fn view_batch(
    t: &Table,
    table: &str,
    entity: &EntityDef,
    schema: Option<&ViewDef>,
    unit: TimeUnit,
) -> FeatureResult<(Vec<Feature>, RowBatch)> {
    let mut keys = Vec::new();
    for (name, ty) in &entity.keys {
        keys.push((
            name.clone(),
            key_column(column(t, table, name)?, *ty, table, name)?,
        ));
    }
    let event_timestamps = timestamps(
        column(t, table, EVENT_TIMESTAMP)?,
        table,
        EVENT_TIMESTAMP,
        unit,
    )?;
    let created_timestamps = timestamps(
        column(t, table, CREATED_TIMESTAMP)?,
        table,
        CREATED_TIMESTAMP,
        unit,
    )?;
    let reserved = |h: &str| {
        h == EVENT_TIMESTAMP || h == CREATED_TIMESTAMP || entity.keys.iter().any(|(k, _)| k == h)
    };
    let mut features = Vec::new();
    let mut columns = Vec::new();
    for (h, cells) in t.header.iter().zip(&t.columns) {
        if reserved(h) {
            continue;
        }
        if features.iter().any(|f: &Feature| f.name == *h) {
            return Err(FeatureError::AlreadyDefined {
                what: "column",
                name: h.clone(),
            });
        }
        let ty = match schema {
            Some(def) => def.features[def.feature_index(h)?].ty,
            None => infer_type(cells),
        };
        columns.push((h.clone(), parse_column(cells, ty, table, h, unit)?));
        features.push(Feature {
            name: h.clone(),
            ty,
        });
    }
    if let Some(def) = schema {
        if let Some(f) = def
            .features
            .iter()
            .find(|f| !features.iter().any(|g| g.name == f.name))
        {
            return Err(FeatureError::MissingColumn {
                table: table.to_owned(),
                column: f.name.clone(),
            });
        }
    }
    Ok((
        features,
        RowBatch {
            keys,
            event_timestamps,
            created_timestamps,
            features: columns,
        },
    ))
}

/// An entity file (`<entity keys>, event_timestamp, <labels...>`) as an
/// [`EntityTable`]; labels get the types [`infer_type`] gives.
///
/// # Errors
/// [`FeatureError::MissingColumn`], [`FeatureError::BadCell`] or
/// [`FeatureError::BadTimestamp`] naming the row and column.
pub fn entity_table(
    t: &Table,
    table: &str,
    keys: &[(String, ColumnType)],
    unit: TimeUnit,
) -> FeatureResult<EntityTable> {
    let mut out = EntityTable::default();
    for (name, ty) in keys {
        out.keys.push((
            name.clone(),
            key_column(column(t, table, name)?, *ty, table, name)?,
        ));
    }
    out.timestamps = timestamps(
        column(t, table, EVENT_TIMESTAMP)?,
        table,
        EVENT_TIMESTAMP,
        unit,
    )?;
    for (h, cells) in t.header.iter().zip(&t.columns) {
        if h == EVENT_TIMESTAMP || keys.iter().any(|(k, _)| k == h) {
            continue;
        }
        out.labels.push((
            h.clone(),
            parse_column(cells, infer_type(cells), table, h, unit)?,
        ));
    }
    Ok(out)
}

/// The format of a join's output file, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.csv`
    Csv,
    /// `.json` or `.jsonl`: one object per line.
    JsonLines,
    /// `.parquet` (with the `parquet` feature).
    Parquet,
}

impl OutputFormat {
    /// The format of `path`.
    ///
    /// # Errors
    /// [`FeatureError::Invalid`] for another extension.
    pub fn of(path: &Path) -> FeatureResult<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Ok(OutputFormat::Csv),
            Some(e) if e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("jsonl") => {
                Ok(OutputFormat::JsonLines)
            }
            Some(e) if e.eq_ignore_ascii_case("parquet") => Ok(OutputFormat::Parquet),
            _ => Err(FeatureError::invalid(
                format!("output {}", path.display()),
                "the extension must be .csv, .json, .jsonl or .parquet",
            )),
        }
    }
}

/// The output columns of a join of `table`: its key columns, then
/// `event_timestamp`, its labels, and the features.
pub fn output_header(table: &EntityTable, features: &[String]) -> Vec<String> {
    table
        .keys
        .iter()
        .map(|(k, _)| k.clone())
        .chain(std::iter::once(EVENT_TIMESTAMP.to_owned()))
        .chain(table.labels.iter().map(|(l, _)| l.clone()))
        .chain(features.iter().cloned())
        .collect()
}

fn key_json(k: &KeyColumn, i: usize) -> serde_json::Value {
    match k {
        KeyColumn::Int(v) => serde_json::Value::from(v[i]),
        KeyColumn::Text(v) => serde_json::Value::from(v[i].as_str()),
    }
}

/// Writes the rows of `batch` as JSON objects, one per line, keys in
/// [`output_header`] order; nulls for missing or expired values.
///
/// # Errors
/// The writer's.
pub fn write_json_rows(
    w: &mut dyn Write,
    table: &EntityTable,
    header: &[String],
    batch: &JoinBatch,
) -> std::io::Result<()> {
    let nk = table.keys.len();
    let nl = table.labels.len();
    let mut line = String::new();
    for i in 0..batch.len {
        let row = batch.start + i;
        line.clear();
        line.push('{');
        let mut field = |name: &str, v: serde_json::Value| {
            if line.len() > 1 {
                line.push(',');
            }
            line.push_str(&serde_json::Value::from(name).to_string());
            line.push(':');
            line.push_str(&v.to_string());
        };
        for (j, (_, k)) in table.keys.iter().enumerate() {
            field(&header[j], key_json(k, row));
        }
        field(
            &header[nk],
            FeatureValue::Timestamp(table.timestamps[row]).to_json(),
        );
        for (j, (_, l)) in table.labels.iter().enumerate() {
            field(&header[nk + 1 + j], l.get(row).to_json());
        }
        for (j, c) in batch.columns.iter().enumerate() {
            field(&header[nk + 1 + nl + j], c.get(i).to_json());
        }
        line.push_str("}\n");
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv_value(out: &mut String, v: FeatureValue<'_>) {
    use std::fmt::Write as _;
    match v {
        FeatureValue::Null => {}
        FeatureValue::Int(x) => {
            let _ = write!(out, "{x}");
        }
        FeatureValue::Float(x) => {
            let _ = write!(out, "{x}");
        }
        FeatureValue::Bool(x) => {
            let _ = write!(out, "{x}");
        }
        FeatureValue::Text(x) => csv_field(out, x),
        FeatureValue::Timestamp(ns) => out.push_str(&super::schema::format_time(ns)),
        FeatureValue::Vector(x) => {
            let parts: Vec<String> = x.iter().map(|f| f.to_string()).collect();
            csv_field(out, &format!("[{}]", parts.join(", ")));
        }
    }
}

/// Writes the CSV header line.
///
/// # Errors
/// The writer's.
pub fn write_csv_header(w: &mut dyn Write, header: &[String]) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(&mut line, h);
    }
    line.push('\n');
    w.write_all(line.as_bytes())
}

/// Writes the rows of `batch` as CSV records (empty cells for nulls).
///
/// # Errors
/// The writer's.
pub fn write_csv_rows(
    w: &mut dyn Write,
    table: &EntityTable,
    batch: &JoinBatch,
) -> std::io::Result<()> {
    let mut line = String::new();
    for i in 0..batch.len {
        let row = batch.start + i;
        line.clear();
        for (j, (_, k)) in table.keys.iter().enumerate() {
            if j > 0 {
                line.push(',');
            }
            match k {
                KeyColumn::Int(v) => line.push_str(&v[row].to_string()),
                KeyColumn::Text(v) => csv_field(&mut line, &v[row]),
            }
        }
        line.push(',');
        line.push_str(&super::schema::format_time(table.timestamps[row]));
        for (_, l) in &table.labels {
            line.push(',');
            csv_value(&mut line, l.get(row));
        }
        for c in &batch.columns {
            line.push(',');
            csv_value(&mut line, c.get(i));
        }
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

impl FeatureStore {
    /// Joins `table` (see [`FeatureStore::join`]) and writes the result
    /// to `path` in the format its extension names, streaming chunk by
    /// chunk into a temporary file that replaces `path` only when the
    /// whole join is written (common's `write_atomic_with`): an error
    /// leaves `path` as it was. `on_batch` is called after each chunk.
    ///
    /// # Errors
    /// As [`FeatureStore::join`]; [`FeatureError::Io`];
    /// [`FeatureError::Unsupported`] for Parquet in a build without the
    /// `parquet` feature.
    pub fn join_to_file(
        &self,
        table: &EntityTable,
        options: &JoinOptions,
        path: &Path,
        on_batch: &mut dyn FnMut(&JoinBatch),
    ) -> FeatureResult<JoinPlan> {
        let format = OutputFormat::of(path)?;
        let features = self.join_columns(options)?;
        let header = output_header(table, &features);
        if format == OutputFormat::Parquet {
            return parquet_join(self, table, options, path, on_batch);
        }
        let mut failure: Option<FeatureError> = None;
        let mut plan = None;
        let res = unidb_common::fs::write_atomic_with(path, |w| {
            if format == OutputFormat::Csv {
                write_csv_header(w, &header)?;
            }
            let r = self.join(table, options, |batch| {
                let res = match format {
                    OutputFormat::Csv => write_csv_rows(w, table, &batch),
                    _ => write_json_rows(w, table, &header, &batch),
                };
                res.map_err(|source| FeatureError::Io {
                    action: "write",
                    path: path.to_owned(),
                    source,
                })?;
                on_batch(&batch);
                Ok(())
            });
            match r {
                Ok(p) => {
                    plan = Some(p);
                    Ok(())
                }
                Err(e) => {
                    failure = Some(e);
                    Err(std::io::Error::other("join failed"))
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        res.map_err(|e| FeatureError::Io {
            action: "write",
            path: path.to_owned(),
            source: std::io::Error::new(e.kind(), e),
        })?;
        plan.ok_or_else(|| FeatureError::invalid("join", "no result"))
    }
}

#[cfg(not(feature = "parquet"))]
fn parquet_join(
    _: &FeatureStore,
    _: &EntityTable,
    _: &JoinOptions,
    path: &Path,
    _: &mut dyn FnMut(&JoinBatch),
) -> FeatureResult<JoinPlan> {
    Err(no_parquet(path, "output"))
}

#[cfg(feature = "parquet")]
fn parquet_join(
    store: &FeatureStore,
    table: &EntityTable,
    options: &JoinOptions,
    path: &Path,
    on_batch: &mut dyn FnMut(&JoinBatch),
) -> FeatureResult<JoinPlan> {
    super::parquet::write_join(store, table, options, path, on_batch)
}

/// An input file of the join, opened by its extension: CSV (read whole
/// into cells) or Parquet (read when its rows are asked for; with the
/// `parquet` feature).
#[derive(Debug)]
pub enum InputFile {
    /// A CSV file's cells.
    Csv {
        /// The file.
        path: std::path::PathBuf,
        /// Its cells.
        table: Table,
    },
    /// A Parquet file.
    Parquet(std::path::PathBuf),
}

fn no_parquet(path: &Path, what: &str) -> FeatureError {
    FeatureError::Unsupported {
        what: format!("Parquet {what} ({})", path.display()),
        hint: "this build has no Parquet support; rebuild with the `parquet` feature \
               (`cargo build --features parquet`)"
            .into(),
    }
}

impl InputFile {
    /// Opens `path`: `.parquet` is Parquet, anything else CSV.
    ///
    /// # Errors
    /// [`FeatureError::Io`] or [`FeatureError::Csv`];
    /// [`FeatureError::Unsupported`] for Parquet without the `parquet`
    /// feature.
    pub fn open(path: &Path, progress: &mut dyn FnMut(u64)) -> FeatureResult<Self> {
        if OutputFormat::of(path).ok() == Some(OutputFormat::Parquet) {
            if cfg!(feature = "parquet") {
                return Ok(InputFile::Parquet(path.to_owned()));
            }
            return Err(no_parquet(path, "input"));
        }
        Ok(InputFile::Csv {
            path: path.to_owned(),
            table: read_csv_file(path, progress)?,
        })
    }

    fn name(&self) -> String {
        match self {
            InputFile::Csv { path, .. } | InputFile::Parquet(path) => path.display().to_string(),
        }
    }

    /// Whether column `name` holds only integers.
    ///
    /// # Errors
    /// [`FeatureError::MissingColumn`], or an unreadable Parquet file.
    pub fn is_int(&self, name: &str) -> FeatureResult<bool> {
        match self {
            InputFile::Csv { table, .. } => Ok(all_int(column(table, &self.name(), name)?)),
            #[cfg(feature = "parquet")]
            InputFile::Parquet(path) => super::parquet::column_is_int(path, name),
            #[cfg(not(feature = "parquet"))]
            InputFile::Parquet(path) => Err(no_parquet(path, "input")),
        }
    }

    /// The file as a view's features and rows (see [`view_batch`]).
    ///
    /// # Errors
    /// As [`view_batch`].
    pub fn view(
        &self,
        entity: &EntityDef,
        unit: TimeUnit,
    ) -> FeatureResult<(Vec<Feature>, RowBatch)> {
        match self {
            InputFile::Csv { table, .. } => view_batch(table, &self.name(), entity, None, unit),
            #[cfg(feature = "parquet")]
            InputFile::Parquet(path) => super::parquet::read_view(path, entity, unit),
            #[cfg(not(feature = "parquet"))]
            InputFile::Parquet(path) => Err(no_parquet(path, "input")),
        }
    }

    /// The file as an entity table (see [`entity_table`]).
    ///
    /// # Errors
    /// As [`entity_table`].
    pub fn entities(
        &self,
        keys: &[(String, ColumnType)],
        unit: TimeUnit,
    ) -> FeatureResult<EntityTable> {
        match self {
            InputFile::Csv { table, .. } => entity_table(table, &self.name(), keys, unit),
            #[cfg(feature = "parquet")]
            InputFile::Parquet(path) => super::parquet::read_entities(path, keys, unit),
            #[cfg(not(feature = "parquet"))]
            InputFile::Parquet(path) => Err(no_parquet(path, "input")),
        }
    }
}

//! Arrow and Parquet in and out (the `parquet` cargo feature): view and
//! entity files read as Arrow record batches, and the join written as
//! Parquet, chunk by chunk, replaced atomically.
//!
//! Arrow types map to feature types: `Int8..Int64`/`UInt8..UInt32` →
//! int, `Float32`/`Float64` → float, `Boolean` → bool,
//! `Utf8`/`LargeUtf8` → text, `Timestamp(_)` → timestamp (to
//! nanoseconds), `FixedSizeList<Float32>` → vector. The join writes keys
//! as `Int64` or `Utf8`, times as `Timestamp(Nanosecond, "UTC")`, vectors
//! as `FixedSizeList<Float32>`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit as ArrowUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use unidb_common::value::ColumnType;

use super::column::{Column, ColumnData, KeyColumn};
use super::error::{FeatureError, FeatureResult};
use super::io::{output_header, CREATED_TIMESTAMP, EVENT_TIMESTAMP};
use super::join::{EntityTable, JoinBatch, JoinOptions, JoinPlan};
use super::schema::{EntityDef, Feature, FeatureType, TimeUnit};
use super::store::{FeatureStore, RowBatch};

fn arrow_error(path: &Path, e: impl std::fmt::Display) -> FeatureError {
    FeatureError::Io {
        action: "read Parquet file",
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    }
}

/// The record batches of a Parquet file, all in memory.
fn read_batches(path: &Path) -> FeatureResult<(Arc<Schema>, Vec<RecordBatch>)> {
    let file = std::fs::File::open(path).map_err(|source| FeatureError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| arrow_error(path, e))?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| arrow_error(path, e))?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| arrow_error(path, e))?;
    Ok((schema, batches))
}

/// Whether the Parquet file's column `name` holds integers.
///
/// # Errors
/// [`FeatureError::Io`], [`FeatureError::MissingColumn`].
pub fn column_is_int(path: &Path, name: &str) -> FeatureResult<bool> {
    let file = std::fs::File::open(path).map_err(|source| FeatureError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| arrow_error(path, e))?;
    let field = builder
        .schema()
        .field_with_name(name)
        .map_err(|_| FeatureError::MissingColumn {
            table: path.display().to_string(),
            column: name.to_owned(),
        })?
        .clone();
    Ok(field.data_type().is_integer())
}

/// The arrays of column `name` across the batches.
fn arrays<'b>(
    table: &str,
    schema: &Schema,
    batches: &'b [RecordBatch],
    name: &str,
) -> FeatureResult<(DataType, Vec<&'b ArrayRef>)> {
    let i = schema
        .index_of(name)
        .map_err(|_| FeatureError::MissingColumn {
            table: table.to_owned(),
            column: name.to_owned(),
        })?;
    Ok((
        schema.field(i).data_type().clone(),
        batches.iter().map(|b| b.column(i)).collect(),
    ))
}

/// The first null of `arrays`, as a 1-based row.
fn first_null(arrays: &[&ArrayRef]) -> Option<usize> {
    let mut base = 0;
    for a in arrays {
        if a.null_count() > 0 {
            return (0..a.len()).find(|&i| a.is_null(i)).map(|i| base + i + 1);
        }
        base += a.len();
    }
    None
}

fn mismatch(table: &str, column: &str, expected: &str, found: &DataType) -> FeatureError {
    FeatureError::TypeMismatch {
        table: table.to_owned(),
        column: column.to_owned(),
        row: None,
        expected: expected.to_owned(),
        found: format!("Arrow {found}"),
    }
}

/// Integers of any width as `i64`, in order (nulls as 0).
fn ints(table: &str, column: &str, ty: &DataType, arrays: &[&ArrayRef]) -> FeatureResult<Vec<i64>> {
    let mut out = Vec::new();
    for a in arrays {
        macro_rules! take {
            ($t:ty) => {
                out.extend(
                    a.as_primitive::<$t>()
                        .values()
                        .iter()
                        .map(|&v| i64::from(v)),
                )
            };
        }
        match ty {
            DataType::Int8 => take!(Int8Type),
            DataType::Int16 => take!(Int16Type),
            DataType::Int32 => take!(Int32Type),
            DataType::Int64 => take!(Int64Type),
            DataType::UInt8 => take!(UInt8Type),
            DataType::UInt16 => take!(UInt16Type),
            DataType::UInt32 => take!(UInt32Type),
            _ => return Err(mismatch(table, column, "integers", ty)),
        }
    }
    Ok(out)
}

/// Timestamps (any unit) or epoch integers in `unit`, as nanoseconds.
fn times(
    table: &str,
    column: &str,
    ty: &DataType,
    arrays: &[&ArrayRef],
    unit: TimeUnit,
) -> FeatureResult<Vec<i64>> {
    if let Some(row) = first_null(arrays) {
        return Err(FeatureError::BadTimestamp {
            table: table.to_owned(),
            row,
            column: column.to_owned(),
            value: "null".into(),
            unit: unit.name(),
        });
    }
    let (raw, scale): (Vec<i64>, i64) = match ty {
        DataType::Timestamp(u, _) => {
            let mut raw = Vec::new();
            for a in arrays {
                match u {
                    ArrowUnit::Second => {
                        raw.extend_from_slice(a.as_primitive::<TimestampSecondType>().values())
                    }
                    ArrowUnit::Millisecond => {
                        raw.extend_from_slice(a.as_primitive::<TimestampMillisecondType>().values())
                    }
                    ArrowUnit::Microsecond => {
                        raw.extend_from_slice(a.as_primitive::<TimestampMicrosecondType>().values())
                    }
                    ArrowUnit::Nanosecond => {
                        raw.extend_from_slice(a.as_primitive::<TimestampNanosecondType>().values())
                    }
                }
            }
            let scale = match u {
                ArrowUnit::Second => 1_000_000_000,
                ArrowUnit::Millisecond => 1_000_000,
                ArrowUnit::Microsecond => 1_000,
                ArrowUnit::Nanosecond => 1,
            };
            (raw, scale)
        }
        t if t.is_integer() => {
            let scale = match unit {
                TimeUnit::Seconds => 1_000_000_000,
                TimeUnit::Millis => 1_000_000,
                TimeUnit::Micros => 1_000,
                TimeUnit::Nanos => 1,
            };
            (ints(table, column, ty, arrays)?, scale)
        }
        _ => return Err(mismatch(table, column, "timestamps or epoch integers", ty)),
    };
    raw.iter()
        .enumerate()
        .map(|(i, &v)| {
            v.checked_mul(scale)
                .ok_or_else(|| FeatureError::BadTimestamp {
                    table: table.to_owned(),
                    row: i + 1,
                    column: column.to_owned(),
                    value: v.to_string(),
                    unit: unit.name(),
                })
        })
        .collect()
}

/// A key column of type `want` (integers read as text when text is asked for).
fn keys(
    table: &str,
    column: &str,
    ty: &DataType,
    arrays: &[&ArrayRef],
    want: ColumnType,
) -> FeatureResult<KeyColumn> {
    if let Some(row) = first_null(arrays) {
        return Err(FeatureError::BadCell {
            table: table.to_owned(),
            row,
            column: column.to_owned(),
            value: "null".into(),
            expected: "a key".into(),
        });
    }
    match (want, ty) {
        (ColumnType::I64, t) if t.is_integer() => {
            Ok(KeyColumn::Int(ints(table, column, ty, arrays)?))
        }
        (ColumnType::Text, t) if t.is_integer() => Ok(KeyColumn::Text(
            ints(table, column, ty, arrays)?
                .iter()
                .map(|v| v.to_string())
                .collect(),
        )),
        (ColumnType::Text, DataType::Utf8 | DataType::LargeUtf8) => {
            let mut out = Vec::new();
            for a in arrays {
                match ty {
                    DataType::Utf8 => out.extend(
                        a.as_string::<i32>()
                            .iter()
                            .map(|s| s.unwrap_or("").to_owned()),
                    ),
                    _ => out.extend(
                        a.as_string::<i64>()
                            .iter()
                            .map(|s| s.unwrap_or("").to_owned()),
                    ),
                }
            }
            Ok(KeyColumn::Text(out))
        }
        _ => Err(mismatch(table, column, want.name(), ty)),
    }
}

/// The feature type of an Arrow type.
fn feature_type(table: &str, column: &str, ty: &DataType) -> FeatureResult<FeatureType> {
    Ok(match ty {
        t if t.is_integer() && !matches!(t, DataType::UInt64) => FeatureType::Int,
        DataType::Float32 | DataType::Float64 => FeatureType::Float,
        DataType::Boolean => FeatureType::Bool,
        DataType::Utf8 | DataType::LargeUtf8 => FeatureType::Text,
        DataType::Timestamp(..) => FeatureType::Timestamp,
        DataType::FixedSizeList(f, n) if *f.data_type() == DataType::Float32 && *n > 0 => {
            FeatureType::Vector { dim: *n as u32 }
        }
        _ => {
            return Err(mismatch(
                table,
                column,
                "an int, float, bool, text, timestamp or FixedSizeList<Float32> column",
                ty,
            ))
        }
    })
}

/// A feature column from Arrow arrays.
fn feature_column(
    table: &str,
    column: &str,
    ty: &DataType,
    arrays: &[&ArrayRef],
    unit: TimeUnit,
) -> FeatureResult<(FeatureType, Column)> {
    let ft = feature_type(table, column, ty)?;
    let valid: Vec<bool> = arrays
        .iter()
        .flat_map(|a| (0..a.len()).map(move |i| a.is_valid(i)))
        .collect();
    let data = match ft {
        FeatureType::Int => ColumnData::Int(ints(table, column, ty, arrays)?),
        FeatureType::Float => {
            let mut out = Vec::new();
            for a in arrays {
                match ty {
                    DataType::Float32 => out.extend(
                        a.as_primitive::<Float32Type>()
                            .values()
                            .iter()
                            .map(|&v| f64::from(v)),
                    ),
                    _ => out.extend_from_slice(a.as_primitive::<Float64Type>().values()),
                }
            }
            ColumnData::Float(out)
        }
        FeatureType::Bool => ColumnData::Bool(
            arrays
                .iter()
                .flat_map(|a| a.as_boolean().iter().map(|b| b.unwrap_or(false)))
                .collect(),
        ),
        FeatureType::Text => {
            let mut out = Vec::new();
            for a in arrays {
                match ty {
                    DataType::Utf8 => out.extend(
                        a.as_string::<i32>()
                            .iter()
                            .map(|s| s.unwrap_or("").to_owned()),
                    ),
                    _ => out.extend(
                        a.as_string::<i64>()
                            .iter()
                            .map(|s| s.unwrap_or("").to_owned()),
                    ),
                }
            }
            ColumnData::Text(out)
        }
        FeatureType::Timestamp => {
            // Nulls are allowed in a feature: time them as 0 first.
            let mut out = Vec::new();
            for a in arrays {
                let filled: Vec<i64> = match ty {
                    DataType::Timestamp(u, _) => {
                        let scale = match u {
                            ArrowUnit::Second => 1_000_000_000i64,
                            ArrowUnit::Millisecond => 1_000_000,
                            ArrowUnit::Microsecond => 1_000,
                            ArrowUnit::Nanosecond => 1,
                        };
                        let raw: Vec<i64> = match u {
                            ArrowUnit::Second => {
                                a.as_primitive::<TimestampSecondType>().values().to_vec()
                            }
                            ArrowUnit::Millisecond => a
                                .as_primitive::<TimestampMillisecondType>()
                                .values()
                                .to_vec(),
                            ArrowUnit::Microsecond => a
                                .as_primitive::<TimestampMicrosecondType>()
                                .values()
                                .to_vec(),
                            ArrowUnit::Nanosecond => a
                                .as_primitive::<TimestampNanosecondType>()
                                .values()
                                .to_vec(),
                        };
                        raw.iter()
                            .enumerate()
                            .map(|(i, &v)| {
                                if a.is_valid(i) {
                                    v.checked_mul(scale)
                                } else {
                                    Some(0)
                                }
                            })
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| FeatureError::BadTimestamp {
                                table: table.to_owned(),
                                row: out.len() + 1,
                                column: column.to_owned(),
                                value: "out of range".into(),
                                unit: unit.name(),
                            })?
                    }
                    _ => return Err(mismatch(table, column, "timestamps", ty)),
                };
                out.extend(filled);
            }
            ColumnData::Timestamp(out)
        }
        FeatureType::Vector { dim } => {
            let mut out = Vec::new();
            for a in arrays {
                let list: &FixedSizeListArray = a.as_fixed_size_list();
                let values = list.values().as_primitive::<Float32Type>();
                let start = list.offset() * dim as usize;
                out.extend_from_slice(&values.values()[start..start + list.len() * dim as usize]);
            }
            ColumnData::Vector { dim, values: out }
        }
    };
    Ok((ft, Column::try_new(data, valid)?))
}

/// A view file in Parquet (`<entity keys>, event_timestamp,
/// created_timestamp, <features...>`) as the features and a batch, as
/// [`super::io::view_batch`] reads CSV. Integer times are epoch numbers
/// in `unit`.
///
/// # Errors
/// [`FeatureError::Io`] for an unreadable file; a missing column, a
/// column of an unsupported type, or a null key or time, naming the row
/// and column.
pub fn read_view(
    path: &Path,
    entity: &EntityDef,
    unit: TimeUnit,
) -> FeatureResult<(Vec<Feature>, RowBatch)> {
    let (schema, batches) = read_batches(path)?;
    view_from_batches(&path.display().to_string(), &schema, &batches, entity, unit)
}

/// A view's rows held as Arrow record batches of `schema`
/// (`<entity keys>, event_timestamp, created_timestamp, <features...>`)
/// as the features and a batch to append, exactly as [`read_view`]
/// reads a Parquet file; `table` names the input in errors.
///
/// # Errors
/// As [`read_view`], without the I/O.
pub fn view_from_batches(
    table: &str,
    schema: &Schema,
    batches: &[RecordBatch],
    entity: &EntityDef,
    unit: TimeUnit,
) -> FeatureResult<(Vec<Feature>, RowBatch)> {
    let table = table.to_owned();
    let mut batch = RowBatch::default();
    for (name, want) in &entity.keys {
        let (ty, a) = arrays(&table, &schema, &batches, name)?;
        batch
            .keys
            .push((name.clone(), keys(&table, name, &ty, &a, *want)?));
    }
    let (ty, a) = arrays(&table, &schema, &batches, EVENT_TIMESTAMP)?;
    batch.event_timestamps = times(&table, EVENT_TIMESTAMP, &ty, &a, unit)?;
    let (ty, a) = arrays(&table, &schema, &batches, CREATED_TIMESTAMP)?;
    batch.created_timestamps = times(&table, CREATED_TIMESTAMP, &ty, &a, unit)?;
    let mut features = Vec::new();
    for f in schema.fields() {
        let name = f.name();
        if name == EVENT_TIMESTAMP
            || name == CREATED_TIMESTAMP
            || entity.keys.iter().any(|(k, _)| k == name)
        {
            continue;
        }
        let (ty, a) = arrays(&table, &schema, &batches, name)?;
        let (ft, col) = feature_column(&table, name, &ty, &a, unit)?;
        features.push(Feature {
            name: name.clone(),
            ty: ft,
        });
        batch.features.push((name.clone(), col));
    }
    Ok((features, batch))
}

/// An entity file in Parquet (`<entity keys>, event_timestamp,
/// <labels...>`).
///
/// # Errors
/// As [`read_view`].
pub fn read_entities(
    path: &Path,
    keys_of: &[(String, ColumnType)],
    unit: TimeUnit,
) -> FeatureResult<EntityTable> {
    let (schema, batches) = read_batches(path)?;
    entities_from_batches(
        &path.display().to_string(),
        &schema,
        &batches,
        keys_of,
        unit,
    )
}

/// An entity table held as Arrow record batches of `schema`
/// (`<entity keys>, event_timestamp, <labels...>`), exactly as
/// [`read_entities`] reads a Parquet file; `table` names the input in
/// errors.
///
/// # Errors
/// As [`read_entities`], without the I/O.
pub fn entities_from_batches(
    table: &str,
    schema: &Schema,
    batches: &[RecordBatch],
    keys_of: &[(String, ColumnType)],
    unit: TimeUnit,
) -> FeatureResult<EntityTable> {
    let table = table.to_owned();
    let mut out = EntityTable::default();
    for (name, want) in keys_of {
        let (ty, a) = arrays(&table, &schema, &batches, name)?;
        out.keys
            .push((name.clone(), keys(&table, name, &ty, &a, *want)?));
    }
    let (ty, a) = arrays(&table, &schema, &batches, EVENT_TIMESTAMP)?;
    out.timestamps = times(&table, EVENT_TIMESTAMP, &ty, &a, unit)?;
    for f in schema.fields() {
        let name = f.name();
        if name == EVENT_TIMESTAMP || keys_of.iter().any(|(k, _)| k == name) {
            continue;
        }
        let (ty, a) = arrays(&table, &schema, &batches, name)?;
        out.labels
            .push((name.clone(), feature_column(&table, name, &ty, &a, unit)?.1));
    }
    Ok(out)
}

fn arrow_type(ty: FeatureType) -> DataType {
    match ty {
        FeatureType::Int => DataType::Int64,
        FeatureType::Float => DataType::Float64,
        FeatureType::Bool => DataType::Boolean,
        FeatureType::Text => DataType::Utf8,
        FeatureType::Timestamp => DataType::Timestamp(ArrowUnit::Nanosecond, Some("UTC".into())),
        FeatureType::Vector { dim } => DataType::FixedSizeList(
            Arc::new(Field::new("item", DataType::Float32, false)),
            dim as i32,
        ),
    }
}

/// Rows `range` of `c` as an Arrow array.
fn array(c: &Column, range: std::ops::Range<usize>) -> FeatureResult<ArrayRef> {
    let valid = &c.validity()[range.clone()];
    let opt = |i: usize| valid[i - range.start];
    Ok(match c.data() {
        ColumnData::Int(v) => Arc::new(Int64Array::from_iter(
            range.clone().map(|i| opt(i).then_some(v[i])),
        )),
        ColumnData::Float(v) => Arc::new(Float64Array::from_iter(
            range.clone().map(|i| opt(i).then_some(v[i])),
        )),
        ColumnData::Bool(v) => Arc::new(BooleanArray::from_iter(
            range.clone().map(|i| opt(i).then_some(v[i])),
        )),
        ColumnData::Text(v) => Arc::new(StringArray::from_iter(
            range.clone().map(|i| opt(i).then_some(v[i].as_str())),
        )),
        ColumnData::Timestamp(v) => Arc::new(
            TimestampNanosecondArray::from_iter(range.clone().map(|i| opt(i).then_some(v[i])))
                .with_timezone("UTC"),
        ),
        ColumnData::Vector { dim, values } => {
            let d = *dim as usize;
            let vals = Float32Array::from(values[range.start * d..range.end * d].to_vec());
            let nulls = arrow_buffer::NullBuffer::from(valid.to_vec());
            Arc::new(
                FixedSizeListArray::try_new(
                    Arc::new(Field::new("item", DataType::Float32, false)),
                    *dim as i32,
                    Arc::new(vals),
                    Some(nulls),
                )
                .map_err(|e| FeatureError::invalid("Parquet output", e.to_string()))?,
            )
        }
    })
}

/// The Arrow schema of the join of `table` (as [`join_to_batches`]
/// and the Parquet output write it): keys, `event_timestamp`, labels,
/// then `view__feature` columns.
fn join_schema(
    store: &FeatureStore,
    table: &EntityTable,
    options: &JoinOptions,
) -> FeatureResult<Arc<Schema>> {
    let features = store.join_columns(options)?;
    let header = output_header(table, &features);
    let mut types: Vec<(DataType, bool)> = table
        .keys
        .iter()
        .map(|(_, k)| match k {
            KeyColumn::Int(_) => (DataType::Int64, false),
            KeyColumn::Text(_) => (DataType::Utf8, false),
        })
        .collect();
    types.push((arrow_type(FeatureType::Timestamp), false));
    types.extend(table.labels.iter().map(|(_, c)| (arrow_type(c.ty()), true)));
    let views = if options.views.is_empty() {
        store.views().map(|v| v.name.clone()).collect()
    } else {
        options.views.clone()
    };
    for v in &views {
        for f in &store.view(v)?.features {
            types.push((arrow_type(f.ty), true));
        }
    }
    Ok(Arc::new(Schema::new(
        header
            .iter()
            .zip(&types)
            .map(|(n, (t, null))| Field::new(n, t.clone(), *null))
            .collect::<Vec<_>>(),
    )))
}

/// One chunk of the join as a record batch of `schema`.
fn join_record(
    schema: &Arc<Schema>,
    table: &EntityTable,
    b: &JoinBatch,
) -> FeatureResult<RecordBatch> {
    let range = b.start..b.start + b.len;
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (_, k) in &table.keys {
        cols.push(match k {
            KeyColumn::Int(v) => Arc::new(Int64Array::from(v[range.clone()].to_vec())),
            KeyColumn::Text(v) => Arc::new(StringArray::from_iter_values(v[range.clone()].iter())),
        });
    }
    cols.push(Arc::new(
        TimestampNanosecondArray::from(table.timestamps[range.clone()].to_vec())
            .with_timezone("UTC"),
    ));
    for (_, l) in &table.labels {
        cols.push(array(l, range.clone())?);
    }
    for c in &b.columns {
        cols.push(array(c, 0..b.len)?);
    }
    RecordBatch::try_new(schema.clone(), cols)
        .map_err(|e| FeatureError::invalid("Parquet output", e.to_string()))
}

/// The point-in-time join of `table` as Arrow record batches (one per
/// join chunk, in input order) of the schema returned with them: the
/// columns and types of the Parquet output ([`FeatureStore::join_to_file`]).
///
/// # Errors
/// As [`FeatureStore::join`].
pub fn join_to_batches(
    store: &FeatureStore,
    table: &EntityTable,
    options: &JoinOptions,
) -> FeatureResult<(Arc<Schema>, Vec<RecordBatch>, JoinPlan)> {
    let schema = join_schema(store, table, options)?;
    let mut out = Vec::new();
    let plan = store.join(table, options, |b| {
        out.push(join_record(&schema, table, &b)?);
        Ok(())
    })?;
    Ok((schema, out, plan))
}

/// Writes the join of `table` to the Parquet file `path` (see
/// [`FeatureStore::join_to_file`]).
pub(crate) fn write_join(
    store: &FeatureStore,
    table: &EntityTable,
    options: &JoinOptions,
    path: &Path,
    on_batch: &mut dyn FnMut(&JoinBatch),
) -> FeatureResult<JoinPlan> {
    let schema = join_schema(store, table, options)?;
    let mut failure: Option<FeatureError> = None;
    let mut plan = None;
    let res = unidb_common::fs::write_atomic_with(path, |w| {
        let mut writer =
            ArrowWriter::try_new(&mut *w, schema.clone(), None).map_err(std::io::Error::other)?;
        let r = store.join(table, options, |b| {
            let batch = join_record(&schema, table, &b)?;
            writer.write(&batch).map_err(|e| FeatureError::Io {
                action: "write",
                path: path.to_owned(),
                source: std::io::Error::other(e),
            })?;
            on_batch(&b);
            Ok(())
        });
        match r {
            Ok(p) => {
                plan = Some(p);
                writer.close().map_err(std::io::Error::other)?;
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

#[cfg(test)]
mod tests;

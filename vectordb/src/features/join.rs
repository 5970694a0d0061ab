//! The point-in-time join: an [`EntityTable`] (entity keys, a timestamp
//! per row, labels) joined with many views at once.
//!
//! Entity rows are taken in chunks of [`JoinOptions::chunk_rows`], in
//! input order. In each chunk the rows are sorted by (entity code,
//! timestamp) once per entity, then merged with each view's rows of the
//! same entity (a pointer that only moves forward), and the
//! [lookup rule](crate::features) picks the row; features are gathered
//! into columns in input order. Chunks of a window and the views of a
//! chunk run in parallel (rayon); each finished chunk goes to the sink
//! in order, so memory holds one window of output, whatever the table's
//! size.

use rayon::prelude::*;

use super::column::{Column, KeyColumn};
use super::error::{FeatureError, FeatureResult};
use super::lookup::{resolve, Hit};
use super::store::{FeatureStore, ViewData};

/// The rows to build features for: entity keys by column name, a
/// timestamp per row (UTC ns) and label columns passed through.
#[derive(Debug, Clone, Default)]
pub struct EntityTable {
    /// Key columns by name (those of every joined view's entity).
    pub keys: Vec<(String, KeyColumn)>,
    /// Each row's time (a label's time).
    pub timestamps: Vec<i64>,
    /// Other columns (labels), passed through.
    pub labels: Vec<(String, Column)>,
}

impl EntityTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }
}

/// Which rows the join may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KnownAt {
    /// Every stored row, however late it was recorded.
    #[default]
    Latest,
    /// Only rows recorded by each entity row's time
    /// (`created_timestamp ≤ timestamp`): leak-free training sets.
    AtLabel,
}

/// Options of [`FeatureStore::join`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOptions {
    /// The views to join, in output order (all, in definition order, when
    /// empty).
    pub views: Vec<String>,
    /// Which rows count.
    pub known_at: KnownAt,
    /// Entity rows per chunk (at least 1).
    pub chunk_rows: usize,
}

impl Default for JoinOptions {
    fn default() -> Self {
        JoinOptions {
            views: Vec::new(),
            known_at: KnownAt::Latest,
            chunk_rows: 1 << 18,
        }
    }
}

/// One chunk of the join's output: entity rows `start..start + len` (in
/// input order) and their feature columns, named as
/// [`JoinPlan::columns`] names them.
#[derive(Debug, Clone)]
pub struct JoinBatch {
    /// The first entity row.
    pub start: usize,
    /// Number of rows.
    pub len: usize,
    /// One column per output column.
    pub columns: Vec<Column>,
}

/// Per view: how many entity rows found a value, found only an expired
/// one, or found none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewCounts {
    /// The view.
    pub view: String,
    /// Rows served.
    pub found: u64,
    /// Rows whose chosen row had expired.
    pub expired: u64,
    /// Rows with no row.
    pub missing: u64,
}

/// What a join produces: its output columns and, once it has run, the
/// counts per view.
#[derive(Debug, Clone, Default)]
pub struct JoinPlan {
    /// Output column names, `view__feature`.
    pub columns: Vec<String>,
    /// Counts per joined view.
    pub counts: Vec<ViewCounts>,
}

/// A view being joined.
struct Part<'a> {
    view: &'a ViewData,
    /// Index into the entity groups.
    group: usize,
}

/// The entity rows of a chunk sorted for one entity: (code, time, local row).
type Sorted = Vec<(u32, i64, u32)>;

impl FeatureStore {
    /// The output columns a join with `options` produces (`view__feature`).
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`].
    pub fn join_columns(&self, options: &JoinOptions) -> FeatureResult<Vec<String>> {
        let mut out = Vec::new();
        for v in self.join_views(options)? {
            for f in &self.views[v].def.features {
                out.push(format!("{}__{}", self.views[v].def.name, f.name));
            }
        }
        Ok(out)
    }

    fn join_views(&self, options: &JoinOptions) -> FeatureResult<Vec<usize>> {
        if options.views.is_empty() {
            return Ok((0..self.views.len()).collect());
        }
        let mut out = Vec::with_capacity(options.views.len());
        for name in &options.views {
            let v = self.view_index(name)?;
            if out.contains(&v) {
                return Err(FeatureError::AlreadyDefined {
                    what: "view",
                    name: name.clone(),
                });
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The point-in-time join of `table` with the views of `options`:
    /// for each entity row and view, the [lookup rule](crate::features) at
    /// the row's time (with `known_at` = that time for
    /// [`KnownAt::AtLabel`]); a missing or expired value is null. Each
    /// chunk of output is handed to `sink` in input order; `sink`
    /// returning an error stops the join with it.
    ///
    /// # Errors
    /// [`FeatureError::UnknownView`]; [`FeatureError::MissingColumn`] for
    /// a key column of a joined view's entity that the table lacks;
    /// [`FeatureError::TypeMismatch`] for one of the wrong type;
    /// [`FeatureError::LengthMismatch`]; an invalid chunk size; what
    /// `sink` returns.
    pub fn join(
        &self,
        table: &EntityTable,
        options: &JoinOptions,
        mut sink: impl FnMut(JoinBatch) -> FeatureResult<()>,
    ) -> FeatureResult<JoinPlan> {
        if options.chunk_rows == 0 {
            return Err(FeatureError::invalid("chunk_rows", "must be at least 1"));
        }
        let n = table.len();
        let views = self.join_views(options)?;
        // The key columns of each entity joined, checked once.
        let mut groups: Vec<(usize, Vec<&KeyColumn>)> = Vec::new();
        let mut parts = Vec::with_capacity(views.len());
        for &v in &views {
            let view = &self.views[v];
            let group = match groups.iter().position(|(e, _)| *e == view.entity) {
                Some(g) => g,
                None => {
                    let def = &self.entities[view.entity].def;
                    let mut cols = Vec::new();
                    for (name, ty) in &def.keys {
                        let col = table
                            .keys
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, c)| c)
                            .ok_or_else(|| FeatureError::MissingColumn {
                                table: "entity table".into(),
                                column: name.clone(),
                            })?;
                        if col.column_type() != *ty {
                            return Err(FeatureError::TypeMismatch {
                                table: "entity table".into(),
                                column: name.clone(),
                                row: None,
                                expected: ty.to_string(),
                                found: col.column_type().to_string(),
                            });
                        }
                        if col.len() != n {
                            return Err(FeatureError::LengthMismatch {
                                table: "entity table".into(),
                                column: name.clone(),
                                expected: n,
                                got: col.len(),
                            });
                        }
                        cols.push(col);
                    }
                    groups.push((view.entity, cols));
                    groups.len() - 1
                }
            };
            parts.push(Part { view, group });
        }
        let mut plan = JoinPlan {
            columns: self.join_columns(options)?,
            counts: parts
                .iter()
                .map(|p| ViewCounts {
                    view: p.view.def.name.clone(),
                    ..ViewCounts::default()
                })
                .collect(),
        };
        let chunk = options.chunk_rows;
        let n_chunks = n.div_ceil(chunk);
        let window = rayon::current_num_threads().max(1);
        let at_label = options.known_at == KnownAt::AtLabel;
        let mut next = 0;
        while next < n_chunks {
            let end = (next + window).min(n_chunks);
            let done: Vec<(JoinBatch, Vec<[u64; 3]>)> = (next..end)
                .into_par_iter()
                .map(|c| {
                    let start = c * chunk;
                    let len = chunk.min(n - start);
                    let times = &table.timestamps[start..start + len];
                    let sorted: Vec<Sorted> = groups
                        .par_iter()
                        .map(|(e, cols)| sort_chunk(&self.entities[*e].dict, cols, times, start))
                        .collect();
                    let per_view: Vec<(Vec<Column>, [u64; 3])> = parts
                        .par_iter()
                        .map(|p| {
                            let (pairs, found, expired) =
                                merge_view(p.view, &sorted[p.group], at_label);
                            let missing = (len as u64) - found - expired;
                            let cols = p
                                .view
                                .columns
                                .iter()
                                .map(|c| c.gather_pairs(&pairs, len))
                                .collect();
                            (cols, [found, expired, missing])
                        })
                        .collect();
                    let mut columns = Vec::new();
                    let mut counts = Vec::with_capacity(per_view.len());
                    for (cols, k) in per_view {
                        columns.extend(cols);
                        counts.push(k);
                    }
                    (
                        JoinBatch {
                            start,
                            len,
                            columns,
                        },
                        counts,
                    )
                })
                .collect();
            for (batch, counts) in done {
                for (total, k) in plan.counts.iter_mut().zip(counts) {
                    total.found += k[0];
                    total.expired += k[1];
                    total.missing += k[2];
                }
                sink(batch)?;
            }
            next = end;
        }
        Ok(plan)
    }
}

/// The chunk's rows with a known key, sorted by (code, time, row).
fn sort_chunk(
    dict: &super::store::Dict,
    cols: &[&KeyColumn],
    times: &[i64],
    start: usize,
) -> Sorted {
    let mut out: Sorted = Vec::with_capacity(times.len());
    for (i, &t) in times.iter().enumerate() {
        if let Some(code) = dict.code_at(cols, start + i) {
            out.push((code, t, i as u32));
        }
    }
    out.sort_unstable();
    out
}

/// A merge per entity of the chunk's sorted entity rows with the view's
/// rows of that entity: the `(local row, view row)` pairs served, in view
/// row order, and how many rows were served and how many had expired.
fn merge_view(view: &ViewData, sorted: &Sorted, at_label: bool) -> (Vec<(u32, u32)>, u64, u64) {
    let mut pairs = Vec::with_capacity(sorted.len());
    let mut expired = 0u64;
    let ttl = view.def.ttl;
    let mut i = 0;
    while i < sorted.len() {
        let code = sorted[i].0;
        let r = view.range(code);
        let event = &view.event[r.clone()];
        let created = &view.created[r.clone()];
        let mut upto = 0;
        while i < sorted.len() && sorted[i].0 == code {
            let (_, at, local) = sorted[i];
            while upto < event.len() && event[upto] <= at {
                upto += 1;
            }
            let known_at = at_label.then_some(at);
            match resolve(event, created, upto, at, known_at, ttl) {
                Hit::Found(j) => pairs.push((local, (r.start + j) as u32)),
                Hit::Expired(_) => expired += 1,
                Hit::Missing => {}
            }
            i += 1;
        }
    }
    let found = pairs.len() as u64;
    (pairs, found, expired)
}

//! Exchanging changes with other replicas: what this replica holds, and
//! the validation and merge of changes received from elsewhere.

use std::ops::Bound;

use crate::change::{Change, ChangeOp, VersionVector};
use crate::error::{Result, SyncError};

use super::gc::Collected;
use super::observe::Touched;
use super::state::State;
use super::Database;

impl State {
    /// Checks a change from elsewhere against the schema.
    pub(super) fn validate(&self, c: &Change) -> Result<()> {
        let bad = |reason: String| SyncError::InvalidChange {
            origin: c.origin,
            seq: c.seq,
            reason,
        };
        if c.seq == 0 {
            return Err(bad("sequence number 0".into()));
        }
        if c.cl == 0 {
            return Err(bad("causal length 0".into()));
        }
        let table = self.schema.table_by_id(c.table)?;
        table.check_value(table.primary_key(), &c.key)?;
        match &c.op {
            ChangeOp::Row => {}
            ChangeOp::Set { column, value } => {
                let col = table.column_by_id(*column)?;
                if col.id == 0 {
                    return Err(bad("write to the primary key column".into()));
                }
                if col.resolver().is_counter() {
                    return Err(bad(format!(
                        "register write to counter column {:?}",
                        col.def.name
                    )));
                }
                table.check_value(col, value)?;
            }
            ChangeOp::Count { column, .. } => {
                let col = table.column_by_id(*column)?;
                if !col.resolver().is_counter() {
                    return Err(bad(format!(
                        "counter write to non-counter column {:?}",
                        col.def.name
                    )));
                }
            }
        }
        if !matches!(c.op, ChangeOp::Row) && c.cl & 1 == 0 {
            return Err(bad(format!(
                "column write in deleted row life (causal length {})",
                c.cl
            )));
        }
        Ok(())
    }
}

impl Database {
    /// This replica's version vector: per origin, the contiguous frontier of
    /// the changes it holds.
    pub fn version_vector(&self) -> VersionVector {
        self.read_state().own_vv()
    }

    /// Every held change the holder of `known` lacks (`seq > known[origin]`),
    /// by origin then sequence number.
    pub fn changes_since(&self, known: &VersionVector) -> Vec<Change> {
        let st = self.read_state();
        let mut out = Vec::new();
        for (origin, log) in &st.log {
            let from = known.get(*origin);
            out.extend(
                log.changes
                    .range((Bound::Excluded(from), Bound::Unbounded))
                    .map(|(_, c)| c.clone()),
            );
        }
        out
    }

    /// Whether this replica holds (or has garbage-collected) change `seq`
    /// of `origin`.
    pub fn holds(&self, origin: unidb_common::id::ReplicaId, seq: u64) -> bool {
        self.read_state().seen(origin, seq)
    }

    /// Number of changes held in the log.
    pub fn log_len(&self) -> usize {
        self.read_state()
            .log
            .values()
            .map(|l| l.changes.len())
            .sum()
    }

    /// Merges changes from another replica, written against schema version
    /// `schema_version`. Changes already held are skipped, so applying a
    /// batch twice is a no-op, and batches may come in any order. Returns
    /// the number of changes that were new.
    ///
    /// All changes are validated (schema ids, types, causal lengths) and the
    /// newest timestamp is checked against the HLC drift bound before any is
    /// applied: on error nothing changes.
    ///
    /// # Errors
    /// [`SyncError::SchemaTooNew`], [`SyncError::ClockSkew`], or a
    /// validation error naming the change.
    pub fn apply_changes(&self, schema_version: u32, changes: &[Change]) -> Result<usize> {
        self.apply_batch(schema_version, changes.to_vec(), &[])
    }

    /// [`Database::apply_changes`] plus ranges of sequence numbers that the
    /// sender garbage-collected ([`Database::collected_since`]): they count
    /// as held, so version vectors still advance over them.
    ///
    /// # Errors
    /// As [`Database::apply_changes`], or [`SyncError::Protocol`] for an
    /// empty or reversed range.
    pub fn apply_batch(
        &self,
        schema_version: u32,
        changes: Vec<Change>,
        collected: &[Collected],
    ) -> Result<usize> {
        for c in collected {
            if c.first == 0 || c.first > c.last {
                return Err(SyncError::Protocol {
                    reason: format!(
                        "invalid collected range {}..={} of replica {}",
                        c.first, c.last, c.origin
                    ),
                });
            }
        }
        let mut st = self.write_state();
        let local = st.schema.version();
        if schema_version > local {
            return Err(SyncError::SchemaTooNew {
                local,
                remote: schema_version,
            });
        }
        let mut newest: Option<&Change> = None;
        for c in &changes {
            st.validate(c)?;
            if !st.seen(c.origin, c.seq) && !matches!(newest, Some(n) if c.ts <= n.ts) {
                newest = Some(c);
            }
        }
        let Some(newest) = newest else {
            st.mark_collected(collected);
            return Ok(0);
        };
        self.hlc
            .update(newest.ts)
            .map_err(|source| SyncError::ClockSkew {
                replica: newest.origin,
                source,
            })?;
        let mut applied = 0;
        let st = &mut *st;
        let schema = st.schema.clone();
        let observer = self.observer();
        let mut touched = Touched::default();
        for c in changes {
            if st.seen(c.origin, c.seq) {
                continue;
            }
            let table = schema.table_by_id(c.table)?;
            if observer.is_some() {
                let prev = st.tables[c.table as usize].rows.get(&c.key);
                touched.touch(c.table, &c.key, prev, c.origin);
            }
            st.tables[c.table as usize].apply(table, &c);
            st.record(c);
            applied += 1;
        }
        st.mark_collected(collected);
        if let (Some(observer), true) = (observer, applied > 0) {
            observer.committed(st.commit_event(false, applied, touched, observer.wants_rows()));
        }
        Ok(applied)
    }
}

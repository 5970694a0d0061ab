//! Saving a database as a snapshot and opening one from a snapshot (the
//! format is [`crate::snapshot`]'s).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use unidb_common::time::{Clock, Hlc};

use crate::error::{Result, SyncError};
use crate::schema::Schema;
use crate::snapshot;

use super::state::{OriginLog, State};
use super::Database;

impl Database {
    /// Saves the whole replicated state as a snapshot (format in
    /// [`snapshot`]): every held change column by column
    /// with the codecs, version vector, schema history, acknowledgements and
    /// garbage-collection state, closed by a CRC-32.
    pub fn save_snapshot(&self) -> Vec<u8> {
        let st = self.read_state();
        let parts = snapshot::Parts {
            replica: self.replica,
            max_drift: self.hlc.max_drift(),
            hlc_last: self.hlc.last(),
            migrations: st.schema.history().to_vec(),
            origins: st
                .log
                .iter()
                .map(|(r, l)| snapshot::OriginState {
                    origin: *r,
                    frontier: l.frontier,
                    collected: l.collected.iter().map(|(f, l)| (*f, *l)).collect(),
                })
                .collect(),
            acks: st.acks.iter().map(|(r, v)| (*r, v.clone())).collect(),
            gc_epoch: st.gc_epoch.clone(),
            gc_frontier: st.gc_frontier.clone(),
            changes: st
                .log
                .values()
                .flat_map(|l| l.changes.values().cloned())
                .collect(),
        };
        drop(st);
        snapshot::encode(&parts)
    }

    /// Opens a database from a snapshot made by [`Database::save_snapshot`],
    /// with `clock` as its physical clock. Its rows, cells, indexes, version
    /// vector and merge behaviour are those of the saved database.
    ///
    /// # Errors
    /// [`SyncError::Kernels`] when `UNIDB_ISA` is invalid;
    /// [`SyncError::Decode`] for a snapshot that is truncated, corrupt
    /// (checksum), of another format version or inconsistent;
    /// [`SyncError::MissingCodec`] naming a codec it needs that this
    /// process lacks (or that the current
    /// [`with_codecs`](unidb_codec::with_codecs) scope leaves out); the schema
    /// and validation errors of a change that does not fit the schema.
    pub fn load_snapshot(bytes: &[u8], clock: Arc<dyn Clock>) -> Result<Database> {
        unidb_kernels::Kernels::try_active()?;
        let p = snapshot::decode(bytes)?;
        let mut st = State {
            schema: Arc::new(Schema::from_migrations(&p.migrations)?),
            tables: Vec::new(),
            log: BTreeMap::new(),
            acks: p.acks.into_iter().collect(),
            gc_epoch: p.gc_epoch,
            gc_frontier: p.gc_frontier,
        };
        st.sync_tables();
        for o in p.origins {
            st.log.insert(
                o.origin,
                OriginLog {
                    frontier: o.frontier,
                    changes: BTreeMap::new(),
                    collected: o.collected.into_iter().collect(),
                },
            );
        }
        let schema = st.schema.clone();
        let mut newest = p.hlc_last;
        for c in p.changes {
            st.validate(&c)?;
            let inconsistent = |reason: &str| SyncError::Decode {
                offset: 0,
                reason: format!("snapshot: change ({}, {}) {reason}", c.origin, c.seq),
            };
            let Some(log) = st.log.get(&c.origin) else {
                return Err(inconsistent("of an origin the snapshot does not list"));
            };
            if log.changes.contains_key(&c.seq) {
                return Err(inconsistent("appears twice"));
            }
            if c.ts > newest {
                newest = c.ts;
            }
            let table = schema.table_by_id(c.table)?;
            st.tables[c.table as usize].apply(table, &c);
            if let Some(log) = st.log.get_mut(&c.origin) {
                log.changes.insert(c.seq, c);
            }
        }
        Ok(Database {
            replica: p.replica,
            hlc: Hlc::with_last(clock, p.max_drift, newest),
            state: RwLock::new(state_checked(st)?),
            observer: RwLock::new(None),
        })
    }

    /// Saves a snapshot ([`Database::save_snapshot`]) to the file `path`,
    /// atomically: the bytes are written to a temporary file in the same
    /// directory, synced to disk and renamed over `path`, and the directory
    /// is synced (on Unix). A crash or error leaves either the old file or
    /// the complete new one, never a part; on error the temporary file is
    /// removed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use unidb_common::{id::ReplicaId, time::ManualClock};
    /// use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, TableDef, Value};
    ///
    /// # fn main() -> Result<(), unidb_syncdb::SyncError> {
    /// let schema = [Migration::AddTable(
    ///     TableDef::new("todo", "id", ColumnType::I64).column(ColumnDef::new("title", ColumnType::Text)),
    /// )];
    /// let clock = Arc::new(ManualClock::new(1_000));
    /// let db = Database::open(ReplicaId::from_u64(1), clock.clone(), &schema)?;
    /// db.insert("todo", [("id", Value::I64(1)), ("title", "milk".into())])?;
    ///
    /// let path = std::env::temp_dir().join(format!("unidb-doc-{}.snapshot", std::process::id()));
    /// db.save_snapshot_to(&path)?;
    /// let back = Database::open_snapshot(&path, clock);
    /// std::fs::remove_file(&path).ok();
    /// assert_eq!(back?.read().dump(), db.read().dump());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SyncError::Io`] naming `path` and the step that failed (creating,
    /// writing or syncing the temporary file, the rename, the directory sync),
    /// e.g. for a missing directory or a `path` that is a directory.
    pub fn save_snapshot_to(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        snapshot::write_file_atomic(path.as_ref(), &self.save_snapshot())
    }

    /// Opens a database from a snapshot file written by
    /// [`Database::save_snapshot_to`] (or the bytes of
    /// [`Database::save_snapshot`]), with `clock` as its physical clock; see
    /// [`Database::load_snapshot`]. Example at [`Database::save_snapshot_to`].
    ///
    /// # Errors
    /// [`SyncError::Io`] naming `path` when the file is missing or unreadable
    /// (e.g. a directory); the errors of [`Database::load_snapshot`] for its
    /// content.
    pub fn open_snapshot(
        path: impl AsRef<std::path::Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Database> {
        Database::load_snapshot(&snapshot::read_file(path.as_ref())?, clock)
    }
}

/// Checks that every origin's stored frontier is where the log would have
/// advanced it (the change or collected range right after it is absent).
/// Changes at or below the frontier may have been garbage-collected, which
/// a snapshot cannot tell from loss; they are not checked.
fn state_checked(st: State) -> Result<State> {
    for (origin, log) in &st.log {
        let next = log.frontier.saturating_add(1);
        let stalled = log.changes.contains_key(&next)
            || log
                .collected
                .range(..=next)
                .any(|(_, last)| *last > log.frontier);
        if stalled {
            return Err(SyncError::Decode {
                offset: 0,
                reason: format!(
                    "snapshot: frontier {} of replica {origin} is behind its log",
                    log.frontier
                ),
            });
        }
    }
    Ok(st)
}

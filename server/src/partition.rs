//! A partition: one server-side replica and its durable log.
//!
//! Each partition is its own syncdb [`Database`]: a client connected to
//! partition `P` syncs with `P`'s database only, so the version vectors,
//! changes and errors it sees are `P`'s alone, and acknowledgements wait
//! only for `P`'s log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use unidb_common::id::ReplicaId;
use unidb_common::time::SystemClock;
use unidb_syncdb::{Database, Message, Migration};

use crate::error::{Result, ServerError};
use crate::storage::{Opened, PartitionLog, RecoveryReport};

/// One partition of the server.
pub struct Partition {
    name: String,
    db: Arc<Database>,
    log: Box<dyn PartitionLog>,
    /// Orders "apply, then append" so the log replays in apply order.
    write: Mutex<()>,
    compacting: AtomicBool,
    report: RecoveryReport,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("name", &self.name)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Applies one log record (an encoded `Changes` or `Migrations` message)
/// to `db`.
///
/// # Errors
/// [`ServerError::Corrupt`] for a record that is another message kind;
/// the decode and apply errors of the message.
pub fn replay(db: &Database, record: &[u8]) -> Result<()> {
    match Message::decode(record)? {
        Message::Changes {
            schema_version,
            changes,
            collected,
            ..
        } => {
            db.apply_batch(schema_version, changes, &collected)?;
        }
        Message::Migrations {
            from_version,
            migrations,
        } => {
            db.apply_migrations(from_version, &migrations)?;
        }
        _ => {
            return Err(ServerError::Corrupt {
                what: "log record".into(),
                offset: 3,
                reason: "not a changes or migrations message".into(),
            })
        }
    }
    Ok(())
}

impl Partition {
    /// Rebuilds a partition from what its storage recovered: the snapshot
    /// (or an empty database of `replica` with `schema`), then every
    /// record in order.
    ///
    /// # Errors
    /// A snapshot or record that does not load, or a `schema` that
    /// conflicts with the stored history.
    pub fn recover(
        name: &str,
        opened: Opened,
        replica: ReplicaId,
        schema: &[Migration],
    ) -> Result<Partition> {
        let clock = Arc::new(SystemClock);
        let db = match &opened.snapshot {
            Some(bytes) => Database::load_snapshot(bytes, clock)?,
            None => Database::open(replica, clock, &[])?,
        };
        for (i, record) in opened.records.iter().enumerate() {
            replay(&db, record).map_err(|e| ServerError::Corrupt {
                what: format!("log record {i} of partition {name}"),
                offset: 0,
                reason: e.to_string(),
            })?;
        }
        // The schema given at start is logged like a client's migrations,
        // so records written against it replay after a restart.
        if db.apply_migrations(0, schema)? > 0 {
            let m = Message::Migrations {
                from_version: 0,
                migrations: schema.to_vec(),
            };
            opened.log.append(m.encode());
        }
        Ok(Partition {
            name: name.to_owned(),
            db: Arc::new(db),
            log: opened.log,
            write: Mutex::new(()),
            compacting: AtomicBool::new(false),
            report: opened.report,
        })
    }

    /// The partition's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The partition's database.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Its log.
    pub fn log(&self) -> &dyn PartitionLog {
        &*self.log
    }

    /// What recovery found when it was opened.
    pub fn report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Holds writes to the partition off while the guard lives.
    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compacts the log into a snapshot when it has grown past
    /// `threshold` bytes (one compaction at a time). Blocking: run it off
    /// the async workers.
    ///
    /// # Errors
    /// The storage's error; the log and older files stay as they were.
    pub fn compact_if_over(&self, threshold: u64) -> Result<bool> {
        if self.log.bytes_since_snapshot() < threshold
            || self.compacting.swap(true, Ordering::SeqCst)
        {
            return Ok(false);
        }
        let result = self.compact();
        self.compacting.store(false, Ordering::SeqCst);
        result.map(|()| true)
    }

    /// Compacts the log into a snapshot now.
    ///
    /// # Errors
    /// The storage's error.
    pub fn compact(&self) -> Result<()> {
        let (cut, snapshot) = {
            let _held = self.write_lock();
            let cut = self.log.begin_compaction()?;
            (cut, self.db.save_snapshot())
        };
        cut.finish(&snapshot)
    }
}

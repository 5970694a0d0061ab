//! A partition: one server-side replica and its durable log.
//!
//! Each partition is its own syncdb [`Database`]: a client connected to
//! partition `P` syncs with `P`'s database only, so the version vectors,
//! changes and errors it sees are `P`'s alone, and acknowledgements wait
//! only for `P`'s log. [`PartitionRules`] place rows in partitions by a
//! column (`todos` by `owner`) or a fixed partition per table; a write
//! to `P` touching a row of another partition is refused whole, so `P`'s
//! replica holds `P`'s rows alone.

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
    rules: Arc<PartitionRules>,
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
        let mut opened = opened;
        let loaded = match &opened.snapshot {
            Some(bytes) => Database::load_snapshot(bytes, clock.clone()),
            None => Database::open(replica, clock.clone(), &[]),
        };
        let db = match (loaded, opened.fallback.take()) {
            (Ok(db), _) => db,
            // A damaged newest snapshot: the one before it and the logs
            // since, reported.
            (Err(e), Some(fallback)) if opened.snapshot.is_some() => {
                let previous = fallback()?;
                opened.report.snapshot_fallback = Some(format!(
                    "snapshot {} did not load ({e}); recovered from {} and {} more log records",
                    opened.report.snapshot_generation.unwrap_or_default(),
                    previous
                        .snapshot_generation
                        .map_or("the first log record".to_owned(), |g| format!(
                            "snapshot {g}"
                        )),
                    previous.records.len()
                ));
                opened.report.snapshot_generation = previous.snapshot_generation;
                opened.report.snapshot_bytes =
                    previous.snapshot.as_ref().map_or(0, |b| b.len() as u64);
                let db = match &previous.snapshot {
                    Some(bytes) => Database::load_snapshot(bytes, clock)?,
                    None => Database::open(replica, clock, &[])?,
                };
                for (i, record) in previous.records.iter().enumerate() {
                    replay(&db, record).map_err(|e| ServerError::Corrupt {
                        what: format!(
                            "log record {i} before the newest snapshot of partition {name}"
                        ),
                        offset: 0,
                        reason: e.to_string(),
                    })?;
                }
                db
            }
            (Err(e), _) => return Err(e.into()),
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
            rules: Arc::default(),
        })
    }

    /// The partition with `rules` checked on every write
    /// ([`PartitionRules::check`]).
    ///
    /// # Errors
    /// [`ServerError::Invalid`] when the rules do not fit the partition's
    /// schema ([`PartitionRules::validate`]).
    pub fn with_rules(mut self, rules: Arc<PartitionRules>) -> Result<Partition> {
        rules.validate(&self.db.schema())?;
        self.rules = rules;
        Ok(self)
    }

    /// The rules its writes are checked against.
    pub fn rules(&self) -> &PartitionRules {
        &self.rules
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

    /// Compacts the log into a snapshot now. Writes go on meanwhile: the
    /// log is cut first (every record before the cut is applied already,
    /// since a write is applied before it is appended), then the snapshot
    /// is taken from a copy of the state (the database's read lock is held
    /// only while copying) and encoded and written without any lock. It
    /// may hold some records after the cut too, which replay harmlessly.
    ///
    /// # Errors
    /// The storage's error.
    pub fn compact(&self) -> Result<()> {
        let cut = self.log.begin_compaction()?;
        let snapshot = self.db.save_snapshot();
        cut.finish(&snapshot)
    }
}

/// Which partition a row of a table belongs to ([`PartitionRules`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TableRule {
    /// The row's value in this text column names its partition (e.g.
    /// `todos` by `owner`).
    Column(String),
    /// Every row of the table is in this one partition (e.g.
    /// `public_items` in `public`).
    Fixed(String),
}

/// Rules placing rows in partitions, table by table: a write to a
/// partition is accepted only if every row it touches belongs there, so
/// a partition's replica, log, version vector and acknowledgements hold
/// its own rows alone, and a token reads exactly the rows of the
/// partitions it is granted. Tables without a rule may be written in any
/// partition.
///
/// Loadable from JSON (`unidb sync serve --partition-rules FILE`):
///
/// ```
/// use unidb_server::partition::{PartitionRules, TableRule};
///
/// let rules: PartitionRules = serde_json::from_str(
///     r#"{"tables": {"todos": {"column": "owner"}, "public_items": {"fixed": "public"}}}"#,
/// ).unwrap();
/// assert_eq!(rules.tables["todos"], TableRule::Column("owner".into()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartitionRules {
    /// The rule of each table, by table name.
    pub tables: std::collections::BTreeMap<String, TableRule>,
}

impl PartitionRules {
    /// Whether there is no rule (every write goes to the partition of
    /// its connection, unchecked).
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Checks the rules against a schema: every partition column exists
    /// and holds text, every fixed partition is a valid name. Tables the
    /// schema does not have yet are checked when they come.
    ///
    /// # Errors
    /// [`ServerError::Invalid`] naming the table and what is wrong.
    pub fn validate(&self, schema: &unidb_syncdb::Schema) -> Result<()> {
        for (table, rule) in &self.tables {
            match rule {
                TableRule::Fixed(p) => {
                    if !crate::storage::valid_partition(p) {
                        return Err(ServerError::invalid(
                            format!("partition rule of table {table}"),
                            format!("{p:?} is not a valid partition name"),
                        ));
                    }
                }
                TableRule::Column(c) => {
                    let Ok(t) = schema.table(table) else { continue };
                    let col = t.column(c).map_err(|_| {
                        ServerError::invalid(
                            format!("partition rule of table {table}"),
                            format!("no column {c}"),
                        )
                    })?;
                    if col.def.ty != unidb_syncdb::ColumnType::Text {
                        return Err(ServerError::invalid(
                            format!("partition rule of table {table}"),
                            format!("column {c} is not text"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that every row `changes` touch belongs to `partition`,
    /// whose replica is `db` (the caller holds the partition's write
    /// lock, so what it reads stays true until the batch is applied).
    /// A row of a table partitioned by a column must set that column to
    /// `partition` in the batch or already be a live row of `db` (whose
    /// rows all belong to it).
    ///
    /// # Errors
    /// What is wrong, about the client's own write only (the message
    /// names no other partition's rows).
    pub fn check(
        &self,
        partition: &str,
        db: &Database,
        changes: &[unidb_syncdb::Change],
    ) -> std::result::Result<(), String> {
        use std::collections::BTreeSet;
        use unidb_syncdb::ChangeOp;
        if self.is_empty() {
            return Ok(());
        }
        let schema = db.schema();
        // Rows of column-partitioned tables: (table, key) -> whether the
        // batch sets the partition column.
        let mut placed: BTreeSet<(u32, &unidb_common::value::Value)> = BTreeSet::new();
        let mut touched: BTreeSet<(u32, &unidb_common::value::Value)> = BTreeSet::new();
        for c in changes {
            // A table the replica does not know: the session refuses it.
            let Ok(table) = schema.table_by_id(c.table) else {
                continue;
            };
            match self.tables.get(&table.name) {
                Some(TableRule::Fixed(p)) if p != partition => {
                    return Err(format!(
                        "rows of table {} belong to partition {p}, not {partition}; the batch was not applied",
                        table.name
                    ));
                }
                None | Some(TableRule::Fixed(_)) => {}
                Some(TableRule::Column(col)) => {
                    let Ok(column) = table.column(col) else {
                        return Err(format!(
                            "table {} has no partition column {col}; the batch was not applied",
                            table.name
                        ));
                    };
                    if let ChangeOp::Set { column: id, value } = &c.op {
                        if *id == column.id {
                            if value.as_text() != Some(partition) {
                                return Err(format!(
                                    "row {} of table {} sets {col} to {value}, outside partition {partition}; the batch was not applied",
                                    c.key, table.name
                                ));
                            }
                            placed.insert((c.table, &c.key));
                        }
                    }
                    touched.insert((c.table, &c.key));
                }
            }
        }
        let view = db.read();
        for (table_id, key) in touched.difference(&placed) {
            let Ok(table) = schema.table_by_id(*table_id) else {
                continue;
            };
            let alive = view.get(&table.name, key).ok().flatten().is_some();
            if !alive {
                let col = match self.tables.get(&table.name) {
                    Some(TableRule::Column(c)) => c.as_str(),
                    _ => "",
                };
                return Err(format!(
                    "row {key} of table {} is not in partition {partition} and the batch does not set its {col}; the batch was not applied",
                    table.name
                ));
            }
        }
        Ok(())
    }
}

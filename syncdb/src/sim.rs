//! A seeded simulation of replicas syncing through a faulty network, and a
//! reference model of the merged state.
//!
//! [`simulate`] runs `replicas` clients and one server. Clients make random
//! inserts, updates, deletes and counter increments on a small key space
//! (so that they conflict), and the first client also applies compatible
//! migrations (add, rename and drop columns) while offline. Sync
//! handshakes, pushes and replies travel through a network that drops,
//! duplicates, delays and reorders messages. Then the network heals and
//! sync rounds run until every replica holds every change. The report says
//! whether all replicas converged to the same tables, whether those equal
//! [`reference_model`] of the union of all changes, and how many
//! acknowledged writes are missing anywhere (must be 0).
//!
//! ```
//! use unidb_syncdb::sim::{simulate, SimConfig};
//! let report = simulate(&SimConfig { replicas: 3, ops: 40, seed: 7, ..SimConfig::default() }).unwrap();
//! assert!(report.converged && report.matches_reference);
//! assert_eq!(report.lost_acked_writes, 0);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;

use crate::change::{Change, ChangeOp, VersionVector};
use crate::columnar::BatchEncoder;
use crate::db::{Database, Row};
use crate::error::Result;
use crate::resolver::Cell;
use crate::schema::{ColumnDef, Migration, Schema, TableDef, TableId};
use crate::sync::{Session, SyncConfig};
use unidb_common::value::{ColumnType, Value};

/// Every live row of every table: table name → key → row.
pub type Dump = BTreeMap<String, BTreeMap<Value, Row>>;

/// Parameters of [`simulate`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct SimConfig {
    /// Number of client replicas (plus one server).
    pub replicas: usize,
    /// Number of local write attempts, spread over the clients.
    pub ops: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Probability that a message is dropped.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Probability that a message is delayed by a random time (reordering it).
    pub reorder: f64,
    /// Largest change batch in bytes.
    pub max_batch_bytes: usize,
    /// Whether the first client applies migrations while offline.
    pub migrations: bool,
    /// Number of distinct keys written (small: more conflicts).
    pub keys: u64,
    /// Whether the server and clients garbage-collect deleted rows as they sync.
    pub gc: bool,
}

impl Default for SimConfig {
    /// Also the defaults of `unidb sync simulate`.
    fn default() -> Self {
        SimConfig {
            replicas: 3,
            ops: 200,
            seed: 1,
            drop: 0.2,
            duplicate: 0.1,
            reorder: 0.3,
            max_batch_bytes: 1024,
            migrations: true,
            keys: 12,
            gc: true,
        }
    }
}

/// Outcome of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub struct SimReport {
    /// Every replica (server included) holds the same tables and changes.
    pub converged: bool,
    /// Those tables equal the reference model of the union of all changes.
    pub matches_reference: bool,
    /// Changes acknowledged by the server to their writer but missing from
    /// some replica after healing.
    pub lost_acked_writes: u64,
    /// Client replicas.
    pub replicas: usize,
    /// Local write attempts.
    pub ops: usize,
    /// Writes that committed (others were refused, e.g. updating a deleted row).
    pub committed: usize,
    /// Changes recorded in total.
    pub changes: usize,
    /// Messages sent (before drops and duplicates).
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Messages dropped by the network.
    pub dropped: u64,
    /// Messages duplicated by the network.
    pub duplicated: u64,
    /// Messages refused by their receiver (e.g. a batch ahead of its schema).
    pub refused: u64,
    /// Sync rounds after healing until convergence.
    pub heal_rounds: usize,
    /// Live rows at the end.
    pub rows: usize,
    /// Final schema version.
    pub schema_version: u32,
    /// Changes garbage-collected on the server.
    pub collected: usize,
}

use unidb_common::rng::SplitMix64 as Rng;

/// The schema of [`row_workload`]: one `items` table keyed by `id` with
/// `name` (text), `qty` (i64), `price` (f64) and `done` (bool).
pub fn row_workload_schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("items", "id", ColumnType::I64)
            .column(ColumnDef::new("name", ColumnType::Text))
            .column(ColumnDef::new("qty", ColumnType::I64))
            .column(ColumnDef::new("price", ColumnType::F64))
            .column(ColumnDef::new("done", ColumnType::Bool)),
    )]
}

/// The row workload's inserts: rows `0..rows` in transactions of `batch`.
fn workload_insert(db: &Database, rows: usize, batch: usize) -> Result<()> {
    for chunk in (0..rows).collect::<Vec<_>>().chunks(batch.max(1)) {
        let mut tx = db.transaction();
        for &i in chunk {
            tx.insert(
                "items",
                [
                    ("id", Value::I64(i as i64)),
                    ("name", Value::Text(format!("item {i}"))),
                    ("qty", Value::I64((i % 100) as i64)),
                    ("price", Value::F64(i as f64 * 0.25)),
                    ("done", Value::Bool(i % 3 == 0)),
                ],
            );
        }
        tx.commit()?;
    }
    Ok(())
}

/// The row workload's updates: `n` random single-column updates of rows
/// `0..rows`, in transactions of `batch`.
fn workload_update(
    db: &Database,
    rng: &mut Rng,
    rows: usize,
    n: usize,
    batch: usize,
) -> Result<()> {
    let batch = batch.max(1);
    let mut left = n;
    while left > 0 && rows > 0 {
        let mut tx = db.transaction();
        for _ in 0..left.min(batch) {
            let key = rng.below(rows as u64) as i64;
            let (col, v) = match rng.below(4) {
                0 => ("name", Value::Text(format!("renamed {}", rng.below(1000)))),
                1 => ("qty", Value::I64(rng.below(1000) as i64)),
                2 => ("price", Value::F64(rng.below(10_000) as f64 / 4.0)),
                _ => ("done", Value::Bool(rng.chance(0.5))),
            };
            tx.update("items", key, [(col, v)]);
        }
        left -= left.min(batch);
        tx.commit()?;
    }
    Ok(())
}

/// The change set of [`row_workload`]'s first replica: `rows` inserts (in
/// transactions of 1000) then `updates` random single-column updates, as
/// held in its change log. Deterministic for a seed.
///
/// # Errors
/// Only on an internal inconsistency (the workload's writes are valid).
pub fn row_workload_changes(rows: usize, updates: usize, seed: u64) -> Result<Vec<Change>> {
    let clock = ManualClock::new(1_700_000_000_000);
    let db = Database::open(
        ReplicaId::from_u64(1),
        Arc::new(clock),
        &row_workload_schema(),
    )?;
    workload_insert(&db, rows, 1000)?;
    workload_update(&db, &mut Rng::new(seed), rows, updates, 1000)?;
    Ok(db.changes_since(&VersionVector::new()))
}

/// The schema the simulation starts from.
pub fn sim_schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("items", "id", ColumnType::I64)
            .column(
                ColumnDef::new("name", ColumnType::Text)
                    .default_value("")
                    .indexed(),
            )
            .column(ColumnDef::new("price", ColumnType::F64).default_value(0.0))
            .column(ColumnDef::new("done", ColumnType::Bool).default_value(false))
            .column(ColumnDef::new("qty", ColumnType::I64).resolver("counter"))
            .column(
                ColumnDef::new("best", ColumnType::I64)
                    .resolver("max")
                    .default_value(0i64),
            )
            .column(
                ColumnDef::new("low", ColumnType::I64)
                    .resolver("min")
                    .default_value(1000i64),
            )
            .column(ColumnDef::new("note", ColumnType::Text).nullable()),
    )]
}

struct Packet {
    at: u64,
    order: u64,
    client: usize,
    to_server: bool,
    bytes: Vec<u8>,
}

struct Net {
    queue: Vec<Packet>,
    order: u64,
    faulty: bool,
    drop: f64,
    duplicate: f64,
    reorder: f64,
    messages: u64,
    bytes: u64,
    dropped: u64,
    duplicated: u64,
}

impl Net {
    fn send(&mut self, rng: &mut Rng, now: u64, client: usize, to_server: bool, bytes: Vec<u8>) {
        self.messages += 1;
        self.bytes += bytes.len() as u64;
        if self.faulty && rng.chance(self.drop) {
            self.dropped += 1;
            return;
        }
        let copies = if self.faulty && rng.chance(self.duplicate) {
            self.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.faulty && rng.chance(self.reorder) {
                1 + rng.below(300)
            } else {
                1
            };
            self.order += 1;
            self.queue.push(Packet {
                at: now + delay,
                order: self.order,
                client,
                to_server,
                bytes: bytes.clone(),
            });
        }
    }

    /// Removes and returns the packets due by `now`, in delivery order.
    fn due(&mut self, now: u64) -> Vec<Packet> {
        let (mut due, rest): (Vec<Packet>, Vec<Packet>) =
            self.queue.drain(..).partition(|p| p.at <= now);
        self.queue = rest;
        due.sort_by_key(|p| (p.at, p.order));
        due
    }
}

struct World {
    clock: ManualClock,
    now: u64,
    rng: Rng,
    net: Net,
    server: Arc<Database>,
    clients: Vec<Arc<Database>>,
    /// Client i's session with the server.
    client_sessions: Vec<Session>,
    /// The server's session with client i.
    server_sessions: Vec<Session>,
    refused: u64,
    gc: bool,
    collected: usize,
}

impl World {
    fn tick(&mut self, ms: u64) {
        self.now += ms;
        self.clock.advance(ms);
    }

    fn send_all(&mut self, client: usize, to_server: bool, msgs: Vec<Vec<u8>>) {
        for m in msgs {
            self.net.send(&mut self.rng, self.now, client, to_server, m);
        }
    }

    fn handshake(&mut self, i: usize) {
        if self.gc {
            self.collected += self.server.collect_garbage();
            self.clients[i].collect_garbage();
        }
        let a = self.client_sessions[i].hello_encoded();
        let b = self.server_sessions[i].hello_encoded();
        self.send_all(i, true, vec![a]);
        self.send_all(i, false, vec![b]);
    }

    fn push(&mut self, i: usize) {
        let a = self.client_sessions[i].poll_encoded();
        let b = self.server_sessions[i].poll_encoded();
        self.send_all(i, true, a);
        self.send_all(i, false, b);
    }

    fn deliver(&mut self) {
        for p in self.net.due(self.now) {
            let session = if p.to_server {
                &mut self.server_sessions[p.client]
            } else {
                &mut self.client_sessions[p.client]
            };
            match session.handle_bytes(&p.bytes) {
                Ok(replies) => self.send_all(p.client, !p.to_server, replies),
                Err(_) => self.refused += 1,
            }
        }
    }

    fn drain(&mut self) {
        while !self.net.queue.is_empty() {
            self.tick(1);
            self.deliver();
        }
    }

    fn random_op(&mut self, i: usize, keys: u64, migrations: bool, stamp: usize) -> bool {
        let db = self.clients[i].clone();
        let key = Value::I64(self.rng.below(keys) as i64);
        if migrations && i == 0 && self.rng.chance(0.1) {
            return self.random_migration(&db, stamp);
        }
        let schema = db.schema();
        let Ok(table) = schema.table("items") else {
            return false;
        };
        let cols: Vec<(String, ColumnType, bool)> = table
            .columns()
            .filter(|c| c.id != 0)
            .map(|c| (c.def.name.clone(), c.def.ty, c.resolver().is_counter()))
            .collect();
        let value_for = |rng: &mut Rng, ty: ColumnType| match ty {
            ColumnType::I64 => Value::I64(rng.below(100) as i64 - 20),
            ColumnType::F64 => Value::F64(rng.below(1000) as f64 / 8.0),
            ColumnType::Text => Value::Text(format!("r{i}-{stamp}")),
            ColumnType::Bool => Value::Bool(rng.chance(0.5)),
            ColumnType::Bytes => Value::Bytes(vec![rng.below(256) as u8]),
            ColumnType::Timestamp => Value::Timestamp(rng.below(1 << 40) as i64),
        };
        let roll = self.rng.below(100);
        let result = if roll < 35 {
            let mut row = vec![("id".to_owned(), key)];
            for (name, ty, _) in &cols {
                if self.rng.chance(0.6) {
                    row.push((name.clone(), value_for(&mut self.rng, *ty)));
                }
            }
            db.insert("items", row)
        } else if roll < 70 {
            let mut vals = Vec::new();
            for (name, ty, _) in &cols {
                if self.rng.chance(0.4) {
                    vals.push((name.clone(), value_for(&mut self.rng, *ty)));
                }
            }
            db.update("items", key, vals)
        } else if roll < 85 {
            db.delete("items", key)
        } else {
            let delta = self.rng.below(11) as i64 - 5;
            db.increment("items", key, "qty", delta)
        };
        result.is_ok()
    }

    fn random_migration(&mut self, db: &Database, stamp: usize) -> bool {
        let schema = db.schema();
        let Ok(table) = schema.table("items") else {
            return false;
        };
        let extras: Vec<String> = table
            .columns()
            .map(|c| c.def.name.clone())
            .filter(|n| n.starts_with('x'))
            .collect();
        let m = match (self.rng.below(3), extras.first()) {
            (1, Some(name)) => Migration::RenameColumn {
                table: "items".into(),
                from: name.clone(),
                to: format!("x{stamp}r"),
            },
            (2, Some(name)) => Migration::DropColumn {
                table: "items".into(),
                column: name.clone(),
            },
            _ => {
                let col = if self.rng.chance(0.5) {
                    ColumnDef::new(format!("x{stamp}"), ColumnType::I64).default_value(stamp as i64)
                } else {
                    ColumnDef::new(format!("x{stamp}"), ColumnType::Text).nullable()
                };
                Migration::AddColumn {
                    table: "items".into(),
                    column: col,
                }
            }
        };
        db.migrate(m).is_ok()
    }
}

/// Runs the simulation described in the [module docs](self).
///
/// # Errors
/// Only if the initial schema cannot be built (never for the built-in one).
pub fn simulate(cfg: &SimConfig) -> Result<SimReport> {
    let clock = ManualClock::new(1_700_000_000_000);
    let schema = sim_schema();
    let open = |id: u64| -> Result<Arc<Database>> {
        Ok(Arc::new(Database::open(
            ReplicaId::from_u64(id),
            Arc::new(clock.clone()),
            &schema,
        )?))
    };
    let server = open(1_000_000)?;
    let clients: Vec<Arc<Database>> = (1..=cfg.replicas as u64).map(open).collect::<Result<_>>()?;
    let sync_cfg = SyncConfig {
        max_batch_bytes: cfg.max_batch_bytes,
        ..SyncConfig::default()
    };
    let mut w = World {
        clock: clock.clone(),
        now: 0,
        rng: Rng::new(cfg.seed ^ 0x5EED_0FC0_FFEE),
        net: Net {
            queue: Vec::new(),
            order: 0,
            faulty: true,
            drop: cfg.drop,
            duplicate: cfg.duplicate,
            reorder: cfg.reorder,
            messages: 0,
            bytes: 0,
            dropped: 0,
            duplicated: 0,
        },
        client_sessions: clients
            .iter()
            .map(|c| Session::new(c.clone(), sync_cfg.clone()))
            .collect(),
        server_sessions: clients
            .iter()
            .map(|_| Session::new(server.clone(), sync_cfg.clone()))
            .collect(),
        server,
        clients,
        refused: 0,
        gc: cfg.gc,
        collected: 0,
    };
    let n = cfg.replicas.max(1);
    let mut committed = 0;
    if cfg.replicas > 0 {
        for op in 0..cfg.ops {
            let ms = 1 + w.rng.below(20);
            w.tick(ms);
            let i = w.rng.below(n as u64) as usize;
            let roll = w.rng.below(100);
            if roll < 65 {
                committed += usize::from(w.random_op(i, cfg.keys.max(1), cfg.migrations, op));
            } else if roll < 80 {
                w.handshake(i);
            } else {
                w.push(i);
            }
            w.deliver();
        }
    }
    // Heal: deliver what is in flight, then sync every client until all agree.
    w.net.faulty = false;
    w.drain();
    let mut heal_rounds = 0;
    let converged = loop {
        if all_equal(&w) {
            break true;
        }
        if heal_rounds == 8 {
            break false;
        }
        heal_rounds += 1;
        for i in 0..cfg.replicas {
            w.handshake(i);
            w.drain();
        }
    };
    let server_dump = w.server.read().dump();
    let all_changes = w.server.changes_since(&VersionVector::new());
    let reference = reference_model(&w.server.schema(), &all_changes);
    let mut lost = 0u64;
    for (i, s) in w.client_sessions.iter().enumerate() {
        let me = w.clients[i].replica();
        let acked = s.acked().get(me);
        for db in w.clients.iter().chain(std::iter::once(&w.server)) {
            lost += acked.saturating_sub(db.version_vector().get(me));
        }
    }
    Ok(SimReport {
        converged,
        matches_reference: server_dump == reference,
        lost_acked_writes: lost,
        replicas: cfg.replicas,
        ops: cfg.ops,
        committed,
        changes: all_changes.len(),
        messages: w.net.messages,
        bytes: w.net.bytes,
        dropped: w.net.dropped,
        duplicated: w.net.duplicated,
        refused: w.refused,
        heal_rounds,
        rows: server_dump.values().map(BTreeMap::len).sum(),
        schema_version: w.server.schema_version(),
        collected: w.collected,
    })
}

fn all_equal(w: &World) -> bool {
    let vv = w.server.version_vector();
    let dump = w.server.read().dump();
    let version = w.server.schema_version();
    w.clients.iter().all(|c| {
        c.version_vector() == vv && c.schema_version() == version && c.read().dump() == dump
    })
}

/// The state a set of changes defines, computed directly from the rules
/// (independently of the database's incremental merge): per row, the largest
/// causal length decides whether it is alive; per column, among the changes
/// of that life, `lww` keeps the greatest `(timestamp, origin)`, `max` and
/// `min` the greatest and least value, `counter` sums each origin's largest
/// increments minus its largest decrements; other resolvers fold their merge
/// over the changes. Columns without changes in the life show their default.
/// Duplicate changes (same origin and seq) count once.
pub fn reference_model(schema: &Schema, changes: &[Change]) -> Dump {
    let mut seen = BTreeSet::new();
    let mut rows: BTreeMap<(TableId, Value), Vec<&Change>> = BTreeMap::new();
    for c in changes {
        if seen.insert((c.origin, c.seq)) {
            rows.entry((c.table, c.key.clone())).or_default().push(c);
        }
    }
    let mut out: Dump = schema
        .tables()
        .iter()
        .map(|t| (t.name.clone(), BTreeMap::new()))
        .collect();
    for ((table_id, key), cs) in rows {
        let Ok(table) = schema.table_by_id(table_id) else {
            continue;
        };
        let life = cs.iter().map(|c| c.cl).max().unwrap_or(0);
        if life % 2 == 0 {
            continue;
        }
        let mut row = Row::new();
        for col in table.columns() {
            if col.id == 0 {
                row.insert(col.def.name.clone(), key.clone());
                continue;
            }
            let writes: Vec<&Change> = cs
                .iter()
                .copied()
                .filter(|c| c.cl == life)
                .filter(|c| match &c.op {
                    ChangeOp::Set { column, .. } | ChangeOp::Count { column, .. } => {
                        *column == col.id
                    }
                    ChangeOp::Row => false,
                })
                .collect();
            let set_value = |c: &Change| match &c.op {
                ChangeOp::Set { value, .. } => value.clone(),
                _ => Value::Null,
            };
            let value = if writes.is_empty() {
                col.def.fallback()
            } else {
                match col.def.resolver.as_str() {
                    "lww" => writes
                        .iter()
                        .max_by(|a, b| {
                            (a.ts, a.origin, set_value(a)).cmp(&(b.ts, b.origin, set_value(b)))
                        })
                        .map(|c| set_value(c))
                        .unwrap_or(Value::Null),
                    "max" => writes
                        .iter()
                        .map(|c| set_value(c))
                        .max()
                        .unwrap_or(Value::Null),
                    "min" => writes
                        .iter()
                        .map(|c| set_value(c))
                        .min()
                        .unwrap_or(Value::Null),
                    "counter" => {
                        let mut per: BTreeMap<ReplicaId, (u64, u64)> = BTreeMap::new();
                        for c in &writes {
                            if let ChangeOp::Count { inc, dec, .. } = c.op {
                                let e = per.entry(c.origin).or_default();
                                e.0 = e.0.max(inc);
                                e.1 = e.1.max(dec);
                            }
                        }
                        let total = per.values().fold(0i64, |t, (p, n)| {
                            t.wrapping_add(*p as i64).wrapping_sub(*n as i64)
                        });
                        Value::I64(total)
                    }
                    _ => {
                        let cells: Vec<Cell> = writes
                            .iter()
                            .map(|c| {
                                Cell::Register(crate::resolver::Register {
                                    value: set_value(c),
                                    ts: c.ts,
                                    replica: c.origin,
                                })
                            })
                            .collect();
                        let mut acc = cells[0].clone();
                        for c in &cells[1..] {
                            col.resolver().merge_into(&mut acc, c);
                        }
                        acc.value()
                    }
                }
            };
            row.insert(col.def.name.clone(), value);
        }
        out.entry(table.name.clone()).or_default().insert(key, row);
    }
    out
}

/// Figures of [`row_workload`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub struct WorkloadReport {
    /// Rows inserted.
    pub rows: usize,
    /// Random single-column updates made.
    pub updates: usize,
    /// Rows inserted per second (transactions of `batch` rows).
    pub insert_ops_s: f64,
    /// Column updates per second (transactions of `batch` updates).
    pub update_ops_s: f64,
    /// Bytes of the encoded change batches (the replica's full sync
    /// snapshot, column by column) divided by the number of column writes.
    pub bytes_per_op: f64,
    /// The same changes in the per-change form of wire version 1, per
    /// column write (the figure before the columnar encoding).
    pub per_change_bytes_per_op: f64,
    /// Bytes of the replica's stored snapshot
    /// ([`Database::save_snapshot`]) per column write.
    pub snapshot_bytes_per_op: f64,
    /// Seconds to merge two replicas that each made `updates / 2`
    /// concurrent edits (both directions).
    pub merge_s: f64,
    /// Changes applied per second during that merge.
    pub merge_changes_s: f64,
    /// Whether the two merged replicas hold identical tables.
    pub converged: bool,
    /// Mean microseconds to encode one sync batch of [`ENCODE_BATCH`]
    /// changes of the workload with a session's [`BatchEncoder`] (after a
    /// warm-up pass over the same batches; see [`batch_encode`]).
    pub encode_us_per_batch: f64,
    /// The median of the same timings.
    pub encode_us_per_batch_median: f64,
    /// Mean microseconds per batch for the same batches encoded inside a
    /// [`with_codecs`](unidb_codec::with_codecs) scope of the built-in
    /// codecs, as a session encodes for a peer that declared its codecs
    /// (timed interleaved with the unscoped encodings).
    pub encode_us_per_batch_scoped: f64,
    /// The median of the same timings.
    pub encode_us_per_batch_scoped_median: f64,
    /// Batches timed.
    pub encode_batches: usize,
    /// Bytes of those encoded batches per change.
    pub encode_bytes_per_change: f64,
    /// Their size over the size of the same batches with every column
    /// searched ([`encode_changes`](crate::columnar::encode_changes)), on up
    /// to [`ENCODE_COMPARED`] of them (1.0: no bytes lost to the cache).
    pub encode_bytes_vs_search: f64,
}

/// Changes per batch in [`batch_encode`]: a typical sync batch.
pub const ENCODE_BATCH: usize = 50;

/// Most batches [`batch_encode`] times.
pub const ENCODE_TIMED: usize = 2000;

/// Most batches [`batch_encode`] also encodes with a full search.
pub const ENCODE_COMPARED: usize = 100;

/// Figures of [`batch_encode`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub struct BatchEncodeReport {
    /// Mean microseconds per batch.
    pub mean_us: f64,
    /// Median microseconds per batch.
    pub median_us: f64,
    /// Mean microseconds per batch encoded by a second encoder inside a
    /// [`with_codecs`](unidb_codec::with_codecs) scope of the built-in
    /// codecs (what a session negotiating with its peer does), each
    /// batch timed next to its unscoped encoding (which goes first
    /// alternates).
    pub scoped_mean_us: f64,
    /// Median microseconds per batch of those.
    pub scoped_median_us: f64,
    /// Batches timed.
    pub batches: usize,
    /// Encoded bytes per change.
    pub bytes_per_change: f64,
    /// Encoded size over the size with every column searched (on up to
    /// [`ENCODE_COMPARED`] batches spread over the timed ones).
    pub bytes_vs_search: f64,
}

/// Times encoding `changes` in sync batches of [`ENCODE_BATCH`] as one
/// session does: one [`BatchEncoder`] for all of them, [`DEFAULT_EFFORT`](crate::columnar::DEFAULT_EFFORT).
/// Up to [`ENCODE_TIMED`] batches spread evenly over the changes are
/// encoded once to warm up, then again, each timed on its own. Only the
/// timings depend on the machine.
pub fn batch_encode(changes: &[Change]) -> BatchEncodeReport {
    use crate::columnar::{encode_changes, DEFAULT_EFFORT};
    use std::time::Instant;
    use unidb_codec::{with_codecs, CodecSet};
    let chunks: Vec<&[Change]> = changes.chunks(ENCODE_BATCH).collect();
    let step = chunks.len().div_ceil(ENCODE_TIMED).max(1);
    let picked: Vec<&[Change]> = chunks.iter().step_by(step).copied().collect();
    let builtin = CodecSet::builtin();
    let (mut enc, mut scoped) = (BatchEncoder::new(), BatchEncoder::new());
    for c in &picked {
        std::hint::black_box(enc.encode(c, DEFAULT_EFFORT));
        std::hint::black_box(with_codecs(&builtin, || scoped.encode(c, DEFAULT_EFFORT)));
    }
    let mut times = Vec::with_capacity(picked.len());
    let mut scoped_times = Vec::with_capacity(picked.len());
    let mut sizes = Vec::with_capacity(picked.len());
    for (i, c) in picked.iter().enumerate() {
        // Which of the two goes first alternates (the second finds the
        // batch in cache).
        for second in [false, true] {
            let start = Instant::now();
            if second == (i % 2 == 0) {
                std::hint::black_box(with_codecs(&builtin, || scoped.encode(c, DEFAULT_EFFORT)));
                scoped_times.push(start.elapsed().as_secs_f64() * 1e6);
            } else {
                let bytes = std::hint::black_box(enc.encode(c, DEFAULT_EFFORT));
                times.push(start.elapsed().as_secs_f64() * 1e6);
                sizes.push(bytes.len());
            }
        }
    }
    let n = picked.len();
    let (mean_us, median_us) = mean_median(&mut times);
    let (scoped_mean_us, scoped_median_us) = mean_median(&mut scoped_times);
    let total: usize = sizes.iter().sum();
    let every = n.div_ceil(ENCODE_COMPARED).max(1);
    let (mut ours, mut searched) = (0usize, 0usize);
    for (c, size) in picked.iter().zip(&sizes).step_by(every) {
        ours += size;
        searched += encode_changes(c, DEFAULT_EFFORT).len();
    }
    let changes_timed: usize = picked.iter().map(|c| c.len()).sum();
    BatchEncodeReport {
        mean_us,
        median_us,
        scoped_mean_us,
        scoped_median_us,
        batches: n,
        bytes_per_change: if changes_timed > 0 {
            total as f64 / changes_timed as f64
        } else {
            0.0
        },
        bytes_vs_search: if searched > 0 {
            ours as f64 / searched as f64
        } else {
            1.0
        },
    }
}

/// The mean and the median of `times` (sorted in place; zeros when empty).
fn mean_median(times: &mut [f64]) -> (f64, f64) {
    let n = times.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = times.iter().sum::<f64>() / n as f64;
    times.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    };
    (mean, median)
}

/// The row workload of the sync benchmarks: `rows` rows of
/// `{name: text, qty: i64, price: f64, done: bool}` inserted in
/// transactions of `batch` rows, then `updates` random single-column
/// updates; then two replicas holding the same rows make `updates / 2`
/// concurrent edits each and are merged. Deterministic for a seed (the
/// timings are not).
///
/// # Errors
/// Only on an internal inconsistency (the workload's writes are valid).
pub fn row_workload(
    rows: usize,
    updates: usize,
    batch: usize,
    seed: u64,
) -> Result<WorkloadReport> {
    use std::time::Instant;
    let schema = row_workload_schema();
    let clock = ManualClock::new(1_700_000_000_000);
    let open = |id: u64| -> Result<Database> {
        Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema)
    };
    let batch = batch.max(1);
    let mut rng = Rng::new(seed);
    let a = open(1)?;
    let start = Instant::now();
    workload_insert(&a, rows, batch)?;
    let insert_s = start.elapsed().as_secs_f64();
    let update = |db: &Database, rng: &mut Rng, n: usize| workload_update(db, rng, rows, n, batch);
    let start = Instant::now();
    if rows > 0 {
        update(&a, &mut rng, updates)?;
    }
    let update_s = start.elapsed().as_secs_f64();
    let all = a.changes_since(&VersionVector::new());
    let all_for_encode = all.clone();
    let per_change: usize = all.iter().map(crate::wire::encoded_change_len).sum();
    let snapshot = a.save_snapshot().len();
    let bytes: usize = crate::wire::batches(a.replica(), a.schema_version(), all, 1 << 20)
        .iter()
        .map(|m| m.encode().len())
        .sum();
    let writes = rows * 4 + updates;
    let encode = batch_encode(&all_for_encode);
    // Merge: b starts from a's state, both edit concurrently, then exchange.
    let b = open(2)?;
    b.apply_changes(1, &a.changes_since(&VersionVector::new()))?;
    let base = a.version_vector();
    if rows > 0 {
        update(&a, &mut rng, updates / 2)?;
        update(&b, &mut rng, updates / 2)?;
    }
    let from_a = a.changes_since(&base);
    let from_b = b.changes_since(&base);
    let merged = from_a.len() + from_b.len();
    let start = Instant::now();
    a.apply_changes(1, &from_b)?;
    b.apply_changes(1, &from_a)?;
    let merge_s = start.elapsed().as_secs_f64();
    let converged = a.read().dump() == b.read().dump();
    let per_s = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let per_write = |b: usize| {
        if writes > 0 {
            b as f64 / writes as f64
        } else {
            0.0
        }
    };
    Ok(WorkloadReport {
        rows,
        updates,
        insert_ops_s: per_s(rows, insert_s),
        update_ops_s: per_s(updates, update_s),
        bytes_per_op: per_write(bytes),
        per_change_bytes_per_op: per_write(per_change),
        snapshot_bytes_per_op: per_write(snapshot),
        merge_s,
        merge_changes_s: per_s(merged, merge_s),
        converged,
        encode_us_per_batch: encode.mean_us,
        encode_us_per_batch_median: encode.median_us,
        encode_us_per_batch_scoped: encode.scoped_mean_us,
        encode_us_per_batch_scoped_median: encode.scoped_median_us,
        encode_batches: encode.batches,
        encode_bytes_per_change: encode.bytes_per_change,
        encode_bytes_vs_search: encode.bytes_vs_search,
    })
}

//! The load generator behind `unidb sync load`: concurrent clients
//! writing over the real network path, then checking that they converged
//! and that the server holds every acknowledged write.
//!
//! Each client is an async task with its own replica (table `load`:
//! `id`, `client`, `n`, `note`) connected to partition `load-{i % P}`.
//! Once every client is connected and past its handshake (the time that
//! takes is reported apart, as `connect_s`), the write phase starts for
//! all at once: each writes `ops` rows, one transaction each, sends them and waits for
//! the server's `Ack` covering them (the round trip measured), while
//! applying what the server pushes from the partition's other clients.
//! When every client is done, each waits until it holds every write
//! acknowledged to any client of its partition; then it reconnects and
//! reads the server's version vector from its `Hello`. A write is lost
//! when it was acknowledged but the server or a peer of its partition
//! lacks it; clients converged when the replicas of each partition are
//! equal.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use unidb_common::id::ReplicaId;
use unidb_common::metrics::Histogram;
use unidb_common::time::SystemClock;
use unidb_syncdb::{
    ColumnDef, ColumnType, Database, Message, Migration, Session, SyncConfig, TableDef, Value,
    VersionVector,
};

use crate::auth::{now_s, AuthFile};
use crate::client::{partition_url, Connection};
use crate::error::{Result, ServerError};

/// How clients authenticate.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Credentials {
    /// No token (a server started with `--insecure`).
    #[default]
    None,
    /// Mint a token per client from the auth file, for a user with
    /// read-write rights on the client's partition.
    Auth(AuthFile),
    /// Every client presents this token.
    Token(String),
}

/// What [`run`] does.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// The server, `ws://host:port`.
    pub server: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Writes (one-row transactions) per client.
    pub ops: usize,
    /// Partitions `load-0` .. `load-{P-1}`; `None`: one per 10 clients.
    pub partitions: Option<usize>,
    /// How clients authenticate.
    pub credentials: Credentials,
    /// Aggregate writes per second to pace the clients at; 0: each client
    /// writes as soon as its previous write is acknowledged.
    pub rate: f64,
    /// Seconds a client waits for any one answer before giving up.
    pub timeout_s: f64,
    /// Replica ids are `seed * 2^32 + client` (different runs against one
    /// server need different seeds).
    pub seed: u64,
    /// Seconds every client keeps its connection open, idle, after the
    /// write phase (to measure what idle connections cost the server).
    pub hold_s: f64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            server: "ws://127.0.0.1:7700".into(),
            clients: 10,
            ops: 100,
            partitions: None,
            credentials: Credentials::None,
            rate: 0.0,
            timeout_s: 30.0,
            seed: 0,
            hold_s: 0.0,
        }
    }
}

impl LoadOptions {
    /// The number of partitions used.
    pub fn partition_count(&self) -> usize {
        self.partitions
            .unwrap_or(self.clients.div_ceil(10))
            .clamp(1, self.clients.max(1))
    }
}

/// What [`run`] measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Clients started.
    pub clients: usize,
    /// Writes attempted in all.
    pub ops: usize,
    /// Writes acknowledged by the server.
    pub acked: usize,
    /// Acknowledged writes per second over the write phase.
    pub ops_s: f64,
    /// Median round trip of a write (send to `Ack`), milliseconds.
    pub p50_ms: f64,
    /// 99th percentile round trip, milliseconds.
    pub p99_ms: f64,
    /// Whether every partition's clients ended equal, holding every
    /// acknowledged write of their partition.
    pub converged: bool,
    /// Acknowledged writes the server or a peer of the partition lacks at
    /// the end.
    pub lost_acked_writes: usize,
    /// Clients the server refused (token, rights or connection limits).
    pub refused: usize,
    /// Partitions used.
    pub partitions: usize,
    /// Changes (column writes and row events) acknowledged per second.
    pub changes_s: f64,
    /// Seconds of the write phase: from the moment every client is
    /// connected and past its handshake to the last acknowledgement.
    pub elapsed_s: f64,
    /// Seconds it took every client to connect and finish its handshake
    /// (before the write phase; not counted in the rates).
    pub connect_s: f64,
    /// The first error a client met, if any.
    pub first_error: Option<String>,
}

/// The schema every load client uses.
pub fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("load", "id", ColumnType::I64)
            .column(ColumnDef::new("client", ColumnType::I64))
            .column(ColumnDef::new("n", ColumnType::I64))
            .column(ColumnDef::new("note", ColumnType::Text).default_value("")),
    )]
}

/// What one client did.
#[derive(Debug, Default)]
struct Outcome {
    refused: bool,
    acked: usize,
    changes_acked: u64,
    /// Own sequence number of the last change of each acknowledged write.
    acked_seqs: Vec<u64>,
    /// After the settle phase: the replica's version vector and a digest
    /// of its rows.
    final_vv: VersionVector,
    digest: u64,
    /// The server's version vector when the client reconnected.
    server_vv: Option<VersionVector>,
    error: Option<String>,
}

struct Shared {
    options: LoadOptions,
    latency: Histogram,
    acked_total: Arc<AtomicU64>,
    /// Per partition, the highest acknowledged own sequence of each client.
    acked_vv: Mutex<HashMap<usize, VersionVector>>,
    /// Every client connected (or refused).
    connected: tokio::sync::Barrier,
    /// The write phase's start, set between `connected` and `go`.
    start: std::sync::OnceLock<tokio::time::Instant>,
    go: tokio::sync::Barrier,
    after_writes: tokio::sync::Barrier,
    after_settle: tokio::sync::Barrier,
}

/// Runs the load; `acked` counts acknowledged writes as they happen (for
/// a progress bar).
///
/// # Errors
/// [`ServerError::Invalid`] for no clients, or a partition no user of
/// the auth file may write. Clients that fail are counted, not errors.
pub async fn run(options: &LoadOptions, acked: Arc<AtomicU64>) -> Result<LoadReport> {
    if options.clients == 0 {
        return Err(ServerError::invalid("clients", "at least 1"));
    }
    let partitions = options.partition_count();
    let mut tokens: Vec<Option<String>> = Vec::with_capacity(options.clients);
    for i in 0..options.clients {
        tokens.push(match &options.credentials {
            Credentials::None => None,
            Credentials::Token(t) => Some(t.clone()),
            Credentials::Auth(auth) => {
                let partition = format!("load-{}", i % partitions);
                let user = auth
                    .users
                    .iter()
                    .find(|(_, u)| u.partitions.get(&partition).is_some_and(|r| r.can_write()))
                    .map(|(name, _)| name.clone())
                    .ok_or_else(|| {
                        ServerError::invalid(
                            "auth file",
                            format!("no user may write partition {partition}: grant one with `unidb sync auth add`"),
                        )
                    })?;
                Some(auth.mint(&user, 24 * 3600, now_s())?)
            }
        });
    }
    let shared = Arc::new(Shared {
        options: options.clone(),
        latency: Histogram::new(),
        acked_total: acked,
        acked_vv: Mutex::new(HashMap::new()),
        connected: tokio::sync::Barrier::new(options.clients + 1),
        start: std::sync::OnceLock::new(),
        go: tokio::sync::Barrier::new(options.clients + 1),
        after_writes: tokio::sync::Barrier::new(options.clients + 1),
        after_settle: tokio::sync::Barrier::new(options.clients + 1),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let shared = shared.clone();
        tasks.spawn(async move {
            let mut outcome = Outcome::default();
            let partition = i % shared.options.partition_count();
            let r = client(&shared, i, partition, token, &mut outcome).await;
            if let Err(e) = r {
                outcome.error.get_or_insert(e.to_string());
            }
            (i, partition, outcome)
        });
    }
    let connecting = Instant::now();
    shared.connected.wait().await;
    let connect_s = connecting.elapsed().as_secs_f64();
    let _ = shared.start.set(tokio::time::Instant::now());
    let started = Instant::now();
    shared.go.wait().await;
    shared.after_writes.wait().await;
    let elapsed = started.elapsed().as_secs_f64() - options.hold_s;
    shared.after_settle.wait().await;
    let mut outcomes: Vec<(usize, usize, Outcome)> = Vec::new();
    while let Some(r) = tasks.join_next().await {
        outcomes.push(r.map_err(|e| ServerError::invalid("load client", e.to_string()))?);
    }
    outcomes.sort_by_key(|o| o.0);
    let mut report = summarise(options, partitions, &shared, &outcomes, elapsed);
    report.connect_s = connect_s;
    Ok(report)
}

fn summarise(
    options: &LoadOptions,
    partitions: usize,
    shared: &Shared,
    outcomes: &[(usize, usize, Outcome)],
    elapsed: f64,
) -> LoadReport {
    let refused = outcomes.iter().filter(|o| o.2.refused).count();
    let acked: usize = outcomes.iter().map(|o| o.2.acked).sum();
    let changes: u64 = outcomes.iter().map(|o| o.2.changes_acked).sum();
    let mut converged = true;
    let mut lost = 0;
    let mut by_partition: BTreeMap<usize, Vec<&Outcome>> = BTreeMap::new();
    for (_, p, o) in outcomes.iter().filter(|o| !o.2.refused) {
        by_partition.entry(*p).or_default().push(o);
        converged &= o.error.is_none();
    }
    for (i, p, o) in outcomes.iter().filter(|o| !o.2.refused) {
        let me = replica(options, *i);
        let peers = &by_partition[p];
        for &seq in &o.acked_seqs {
            let on_server = o.server_vv.as_ref().is_some_and(|vv| vv.get(me) >= seq);
            let on_peers = peers.iter().all(|peer| peer.final_vv.get(me) >= seq);
            if !(on_server && on_peers) {
                lost += 1;
            }
        }
    }
    for peers in by_partition.values() {
        let first = peers[0];
        converged &= peers
            .iter()
            .all(|o| o.final_vv == first.final_vv && o.digest == first.digest);
    }
    let ms = |q: f64| shared.latency.percentile(q) as f64 / 1e6;
    LoadReport {
        clients: options.clients,
        ops: options.clients * options.ops,
        acked,
        ops_s: acked as f64 / elapsed.max(1e-9),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        converged: converged && lost == 0,
        lost_acked_writes: lost,
        refused,
        partitions,
        changes_s: changes as f64 / elapsed.max(1e-9),
        elapsed_s: elapsed,
        connect_s: 0.0,
        first_error: outcomes.iter().find_map(|o| o.2.error.clone()),
    }
}

fn replica(options: &LoadOptions, i: usize) -> ReplicaId {
    ReplicaId::from_u64(((options.seed & 0xffff_ffff) << 32 | i as u64) + 1)
}

/// A digest of every row of `db`.
fn digest(db: &Database) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", db.read().dump()).hash(&mut h);
    h.finish()
}

/// Receives, applies and answers one message; `Ok(false)` when the
/// connection ended.
async fn pump(conn: &mut Connection, session: &mut Session, timeout: Duration) -> Result<bool> {
    let Ok(msg) = tokio::time::timeout(timeout, conn.recv()).await else {
        return Err(ServerError::Timeout("waiting for the server"));
    };
    let Some(bytes) = msg? else { return Ok(false) };
    for reply in session.handle_bytes(&bytes)? {
        conn.send(reply).await?;
    }
    Ok(true)
}

async fn client(
    shared: &Shared,
    i: usize,
    partition: usize,
    token: Option<String>,
    out: &mut Outcome,
) -> Result<()> {
    // Every client reaches every barrier, whatever happens to it.
    let connected = connect(shared, i, partition, token.as_deref(), out).await;
    shared.connected.wait().await;
    shared.go.wait().await;
    let start = shared
        .start
        .get()
        .copied()
        .unwrap_or_else(tokio::time::Instant::now);
    let result = match connected {
        Ok(Some(live)) => write_phase(shared, i, live, start, out).await,
        other => other,
    };
    shared.after_writes.wait().await;
    let (db, conn, session) = match result {
        Ok(Some(state)) => state,
        Ok(None) => {
            shared.after_settle.wait().await;
            return Ok(());
        }
        Err(e) => {
            shared.after_settle.wait().await;
            return Err(e);
        }
    };
    let settled = settle(shared, partition, &db, conn, session, token.as_deref(), out).await;
    shared.after_settle.wait().await;
    settled
}

type Live = (Arc<Database>, Connection, Session);

/// Connects client `i` and completes its handshake; `None` when the
/// server refused it.
async fn connect(
    shared: &Shared,
    i: usize,
    partition: usize,
    token: Option<&str>,
    out: &mut Outcome,
) -> Result<Option<Live>> {
    let o = &shared.options;
    let timeout = Duration::from_secs_f64(o.timeout_s);
    let me = replica(o, i);
    let db = Arc::new(Database::open(me, Arc::new(SystemClock), &schema())?);
    let url = partition_url(&o.server, &format!("load-{partition}"));
    let mut conn = match Connection::connect(&url, token).await {
        Ok(c) => c,
        Err(ServerError::Refused { .. }) => {
            out.refused = true;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let mut session = Session::new(db.clone(), SyncConfig::default());
    conn.send(session.hello_encoded()).await?;
    // The server's Hello, and the migrations it may need first.
    while session.peer().is_none() || session.acked().get(me) < db.version_vector().get(me) {
        if !pump(&mut conn, &mut session, timeout).await? {
            return Err(ServerError::Timeout(
                "the server closed during the handshake",
            ));
        }
        for m in session.poll_encoded() {
            conn.send(m).await?;
        }
    }
    Ok(Some((db, conn, session)))
}

/// Client `i` writes its rows from `start` on, paced.
async fn write_phase(
    shared: &Shared,
    i: usize,
    (db, mut conn, mut session): Live,
    start: tokio::time::Instant,
    out: &mut Outcome,
) -> Result<Option<Live>> {
    let o = &shared.options;
    let timeout = Duration::from_secs_f64(o.timeout_s);
    let me = db.replica();
    let partition = i % o.partition_count();
    let interval = (o.rate > 0.0).then(|| Duration::from_secs_f64(o.clients as f64 / o.rate));
    for k in 0..o.ops {
        if let Some(iv) = interval {
            // Spread the clients over the first interval, then keep pace.
            let offset = iv.mul_f64(i as f64 / o.clients as f64);
            tokio::time::sleep_until(start + offset + iv * k as u32).await;
        }
        // Distinct per seed, so runs against one server do not collide.
        let id = ((o.seed & 0xffff) << 40) as i64 + (i * o.ops + k) as i64;
        db.insert(
            "load",
            [
                ("id", Value::I64(id)),
                ("client", Value::I64(i as i64)),
                ("n", Value::I64(k as i64)),
                ("note", Value::from(format!("write {k} of client {i}"))),
            ],
        )?;
        let seq = db.version_vector().get(me);
        let sent = Instant::now();
        for m in session.poll_encoded() {
            conn.send(m).await?;
        }
        while session.acked().get(me) < seq {
            if !pump(&mut conn, &mut session, timeout).await? {
                return Err(ServerError::Timeout("the server closed the connection"));
            }
        }
        shared.latency.record_duration(sent.elapsed());
        out.changes_acked = seq;
        out.acked += 1;
        out.acked_seqs.push(seq);
        shared.acked_total.fetch_add(1, Ordering::Relaxed);
    }
    if o.hold_s > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(o.hold_s)).await;
    }
    let acked_seq = out.acked_seqs.last().copied().unwrap_or(0);
    shared
        .acked_vv
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(partition)
        .or_default()
        .set(me, acked_seq);
    Ok(Some((db, conn, session)))
}

async fn settle(
    shared: &Shared,
    partition: usize,
    db: &Arc<Database>,
    mut conn: Connection,
    mut session: Session,
    token: Option<&str>,
    out: &mut Outcome,
) -> Result<()> {
    let o = &shared.options;
    let timeout = Duration::from_secs_f64(o.timeout_s);
    let target = shared
        .acked_vv
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&partition)
        .cloned()
        .unwrap_or_default();
    let deadline = Instant::now() + timeout;
    while !db.version_vector().dominates(&target) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !pump(&mut conn, &mut session, left).await? {
            break;
        }
    }
    out.final_vv = db.version_vector();
    out.digest = digest(db);
    conn.close().await;
    // A fresh connection: the server's Hello carries what it holds.
    let url = partition_url(&o.server, &format!("load-{partition}"));
    let mut fresh = Connection::connect(&url, token).await?;
    let first = tokio::time::timeout(timeout, fresh.recv())
        .await
        .map_err(|_| ServerError::Timeout("waiting for the server's Hello"))??;
    if let Some(bytes) = first {
        if let Message::Hello { known, .. } = Message::decode(&bytes)? {
            out.server_vv = Some(known);
        }
    }
    fresh.close().await;
    Ok(())
}

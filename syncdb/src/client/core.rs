//! [`Client`]: one database handle for an application, with
//! subscriptions and a background sync worker driven by power profiles.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::metrics::{Counter, Gauge, Metrics};
use unidb_common::time::{Clock, SystemClock};

use crate::change::Change;
use crate::db::{CommitEvent, Database, ReadView, Transaction};
use crate::error::{Result, SyncError};
use crate::power::{Inputs, PowerProfile, PowerProfiles, Priority, Rules, Scheduler, Switcher};
use crate::schema::{Migration, TableId};
use crate::sync::{Session, SyncConfig};

use super::observe::{ChangeSet, Filter, Hub, Subscription};
use super::round::{sync_round, RoundStats};
use super::transport::{Connection, Transport, TransportError};

/// How to open a [`Client`]. `ClientOptions::new(replica, transport)`
/// gives the defaults; set the fields that differ.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// This replica's id (a snapshot opened must be of the same replica).
    pub replica: ReplicaId,
    /// How the worker reaches the server.
    pub transport: Arc<dyn Transport>,
    /// The physical clock (the system clock by default).
    pub clock: Arc<dyn Clock>,
    /// The schema, as migrations: a new database starts from them; an
    /// opened snapshot gets those it lacks (its history must be a prefix).
    pub schema: Vec<Migration>,
    /// The snapshot file: opened if it exists, written (atomically) by
    /// [`Client::save`] and [`Client::shutdown`].
    pub snapshot: Option<PathBuf>,
    /// Session settings; the active profile overrides
    /// [`SyncConfig::max_batch_bytes`] and the codecs.
    pub sync: SyncConfig,
    /// Priority of each table's changes (others: [`Priority::Normal`]).
    pub priorities: BTreeMap<String, Priority>,
    /// The power profiles.
    pub profiles: PowerProfiles,
    /// The switching rules, used unless `profile` is set.
    pub rules: Rules,
    /// A fixed profile (no automatic switching).
    pub profile: Option<String>,
    /// Bound on each wait for the server within a round.
    pub round_timeout: Duration,
    /// Whether to start the background worker (otherwise sync only on
    /// [`Client::sync_now`]).
    pub background: bool,
    /// Seed of the backoff jitter.
    pub seed: u64,
    /// Where the client's metrics go (see [`Client::metrics`]).
    pub metrics: Arc<Metrics>,
}

impl ClientOptions {
    /// Defaults: system clock, empty schema, no snapshot file, default
    /// sync settings, every table normal priority, the built-in profiles
    /// and rules, 30 s round timeout, background worker on.
    pub fn new(replica: ReplicaId, transport: Arc<dyn Transport>) -> Self {
        ClientOptions {
            replica,
            transport,
            clock: Arc::new(SystemClock),
            schema: Vec::new(),
            snapshot: None,
            sync: SyncConfig::default(),
            priorities: BTreeMap::new(),
            profiles: PowerProfiles::builtin(),
            rules: Rules::default(),
            profile: None,
            round_timeout: Duration::from_secs(30),
            background: true,
            seed: 0x5eed,
            metrics: Arc::new(Metrics::new()),
        }
    }
}

/// The client's metrics (names in [`Client::metrics`]).
#[derive(Debug)]
struct ClientMetrics {
    writes: Arc<Counter>,
    rounds: Arc<Counter>,
    failures: Arc<Counter>,
    bytes_up: Arc<Counter>,
    bytes_down: Arc<Counter>,
    wakes: Arc<Counter>,
    last_sync_ms: Arc<Gauge>,
}

/// The power state: inputs, the profile in force and the scheduler.
#[derive(Debug)]
struct Power {
    inputs: Inputs,
    switcher: Switcher,
    fixed: Option<String>,
    profile: PowerProfile,
    scheduler: Scheduler,
}

impl Power {
    /// Re-evaluates the rules; returns the profile in force.
    fn refresh(&mut self, profiles: &PowerProfiles, now_ms: u64) -> &PowerProfile {
        if self.fixed.is_none() && self.switcher.update(&self.inputs, now_ms).is_some() {
            if let Ok(p) = profiles.resolve(self.switcher.active()) {
                self.profile = p;
            }
        }
        &self.profile
    }

    fn name(&self) -> &str {
        self.fixed.as_deref().unwrap_or(self.switcher.active())
    }
}

/// The connection state: the session (kept across connections, so that
/// it resumes) and the connection of a live profile.
#[derive(Debug)]
struct Link {
    session: Session,
    conn: Option<Box<dyn Connection>>,
    /// The profile settings the session was made for.
    made_for: (usize, crate::power::CodecEffort),
}

#[derive(Debug, Default)]
struct Signal {
    stop: bool,
    nudged: bool,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Database>,
    hub: Arc<Hub>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    sync: SyncConfig,
    priorities: BTreeMap<String, Priority>,
    profiles: PowerProfiles,
    round_timeout: Duration,
    snapshot: Option<PathBuf>,
    power: Arc<Mutex<Power>>,
    link: Mutex<Link>,
    signal: Arc<(Mutex<Signal>, Condvar)>,
    worker: Mutex<Option<JoinHandle<()>>>,
    shut: AtomicBool,
    /// When maintenance last ran.
    maintained_ms: Mutex<Option<u64>>,
    metrics: Arc<Metrics>,
    m: ClientMetrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An application's handle on its replica: writes and transactions from
/// any thread, consistent reads, subscriptions to changes, and sync with
/// the server in the background following the active power profile.
///
/// `Client` is `Send + Sync` and cheap to clone (an `Arc` inside); every
/// clone is the same client. [`Client::shutdown`] stops the worker, makes
/// a last round when a network is available and saves the snapshot.
///
/// ```
/// use std::sync::Arc;
/// use unidb_common::{id::ReplicaId, time::ManualClock};
/// use unidb_syncdb::client::{Client, ClientOptions, Filter, InProcess};
/// use unidb_syncdb::{ColumnDef, ColumnType, Database, Migration, SyncConfig, TableDef, Value};
///
/// # fn main() -> Result<(), unidb_syncdb::SyncError> {
/// let schema = vec![Migration::AddTable(
///     TableDef::new("todo", "id", ColumnType::I64).column(ColumnDef::new("title", ColumnType::Text)),
/// )];
/// let clock = Arc::new(ManualClock::new(1_700_000_000_000));
/// let server = Arc::new(Database::open(ReplicaId::from_u64(100), clock.clone(), &schema)?);
/// let transport = Arc::new(InProcess::new(server.clone(), SyncConfig::default()));
/// let mut options = ClientOptions::new(ReplicaId::from_u64(1), transport);
/// options.schema = schema;
/// options.clock = clock;
/// options.background = false; // sync only when asked, for this example
/// let client = Client::open(options)?;
///
/// let (sub, changes) = client.subscribe_channel("todo", Filter::All)?;
/// client.transaction(|tx| {
///     tx.insert("todo", [("id", Value::I64(1)), ("title", "milk".into())]);
/// })?;
/// let set = changes.recv().expect("delivered");
/// assert_eq!(set.inserted[0].row["title"], Value::from("milk"));
///
/// client.sync_now()?;
/// assert_eq!(server.read().count("todo")?, 1);
/// drop(sub);
/// client.shutdown()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Client>();
    send_sync::<Subscription>();
};

impl Client {
    /// Opens the database (from the snapshot file if it exists, else
    /// empty with the schema) and starts the worker.
    ///
    /// # Errors
    /// The snapshot's errors ([`Database::open_snapshot`]), a schema that
    /// does not extend the snapshot's ([`SyncError::SchemaConflict`]), a
    /// snapshot of another replica or an unknown profile in the options
    /// ([`SyncError::Protocol`] / [`SyncError::Config`]).
    pub fn open(options: ClientOptions) -> Result<Client> {
        let ClientOptions {
            replica,
            transport,
            clock,
            schema,
            snapshot,
            sync,
            priorities,
            profiles,
            rules,
            profile,
            round_timeout,
            background,
            seed,
            metrics,
        } = options;
        let config_error = SyncError::Config;
        rules.check_profiles(&profiles).map_err(config_error)?;
        let fixed_profile = match &profile {
            Some(name) => Some(profiles.resolve(name).map_err(config_error)?),
            None => None,
        };
        let db = match &snapshot {
            Some(path) if path.exists() => {
                let db = Database::open_snapshot(path, clock.clone())?;
                if db.replica() != replica {
                    return Err(SyncError::Protocol {
                        reason: format!(
                            "snapshot {} is of replica {}, not {replica}",
                            path.display(),
                            db.replica()
                        ),
                    });
                }
                db.apply_migrations(0, &schema)?;
                db
            }
            _ => Database::open(replica, clock.clone(), &schema)?,
        };
        for table in priorities.keys() {
            db.schema().table(table)?;
        }
        let db = Arc::new(db);
        let now = clock.now_ms();
        let switcher = Switcher::new(rules);
        let start_profile = match fixed_profile {
            Some(p) => p,
            None => profiles.resolve(switcher.active()).map_err(config_error)?,
        };
        let power = Arc::new(Mutex::new(Power {
            inputs: Inputs::default(),
            switcher,
            fixed: profile,
            profile: start_profile.clone(),
            scheduler: Scheduler::new(now, seed),
        }));
        let m = ClientMetrics {
            writes: metrics.counter("client.writes"),
            rounds: metrics.counter("client.syncs"),
            failures: metrics.counter("client.sync_failures"),
            bytes_up: metrics.counter("client.bytes_up"),
            bytes_down: metrics.counter("client.bytes_down"),
            wakes: metrics.counter("client.wakes"),
            last_sync_ms: metrics.gauge("client.last_sync_ms"),
        };
        let made_for = (start_profile.max_batch_bytes, start_profile.codec_effort);
        let session = new_session(&db, &sync, &start_profile, &metrics);
        let hub = Arc::new(Hub::default());
        let signal: Arc<(Mutex<Signal>, Condvar)> = Arc::default();
        {
            // Local commits: count, tell the scheduler, wake the worker.
            let (power, signal, writes) = (power.clone(), signal.clone(), m.writes.clone());
            let clock = clock.clone();
            let by_table = priorities.clone();
            hub.set_on_commit(Box::new(move |event: &CommitEvent| {
                if !event.local {
                    return;
                }
                writes.inc();
                let now = clock.now_ms();
                {
                    let mut p = lock(&power);
                    for t in &event.tables {
                        let prio = by_table.get(t).copied().unwrap_or_default();
                        p.scheduler.on_write(prio, now);
                    }
                }
                lock(&signal.0).nudged = true;
                signal.1.notify_all();
            }));
        }
        db.set_commit_observer(Some(hub.clone()));
        let inner = Arc::new(Inner {
            db,
            hub,
            transport,
            clock,
            sync,
            priorities,
            profiles,
            round_timeout,
            snapshot,
            power,
            link: Mutex::new(Link {
                session,
                conn: None,
                made_for,
            }),
            signal,
            worker: Mutex::new(None),
            shut: AtomicBool::new(false),
            maintained_ms: Mutex::new(None),
            metrics,
            m,
        });
        if background {
            let weak = Arc::downgrade(&inner);
            let signal = inner.signal.clone();
            let handle = std::thread::Builder::new()
                .name("unidb-sync-worker".into())
                .spawn(move || worker(weak, signal))
                .map_err(|e| SyncError::Io {
                    op: "start the sync worker thread for",
                    path: PathBuf::from("client"),
                    source: e,
                })?;
            *lock(&inner.worker) = Some(handle);
        }
        Ok(Client { inner })
    }

    /// The database (reads, writes, transactions; the client sees every
    /// commit made through it).
    pub fn database(&self) -> &Arc<Database> {
        &self.inner.db
    }

    /// A consistent read view (holds the read lock: drop it promptly).
    pub fn read(&self) -> ReadView<'_> {
        self.inner.db.read()
    }

    /// Runs `build` on a new transaction and commits it; returns the
    /// number of changes recorded.
    ///
    /// # Errors
    /// As [`Transaction::commit`]; nothing is applied then.
    pub fn transaction(&self, build: impl FnOnce(&mut Transaction<'_>)) -> Result<usize> {
        let mut tx = self.inner.db.transaction();
        build(&mut tx);
        tx.commit()
    }

    /// Subscribes to the changes of `table` that `filter` selects; each
    /// change set is passed to `callback` on the subscription's own
    /// thread, in commit order, with no lock held. Drop the
    /// [`Subscription`] to unsubscribe (its docs say what a panicking or
    /// slow callback does).
    ///
    /// # Errors
    /// [`SyncError::UnknownTable`], or [`SyncError::UnknownColumn`] for a
    /// predicate naming a column the table lacks.
    pub fn subscribe(
        &self,
        table: &str,
        filter: Filter,
        mut callback: impl FnMut(ChangeSet) + Send + 'static,
    ) -> Result<Subscription> {
        self.check_filter(table, &filter)?;
        Ok(self
            .inner
            .hub
            .subscribe(table.to_owned(), filter, move |set| {
                callback(set);
                true
            }))
    }

    /// [`Client::subscribe`] delivering into a channel; the subscription
    /// also ends when the receiver is dropped.
    ///
    /// # Errors
    /// As [`Client::subscribe`].
    pub fn subscribe_channel(
        &self,
        table: &str,
        filter: Filter,
    ) -> Result<(Subscription, Receiver<ChangeSet>)> {
        self.check_filter(table, &filter)?;
        let (tx, rx) = channel();
        let sub = self
            .inner
            .hub
            .subscribe(table.to_owned(), filter, move |set| tx.send(set).is_ok());
        Ok((sub, rx))
    }

    fn check_filter(&self, table: &str, filter: &Filter) -> Result<()> {
        let schema = self.inner.db.schema();
        let t = schema.table(table)?;
        fn columns(p: &crate::db::Predicate, out: &mut Vec<String>) {
            use crate::db::Predicate as P;
            match p {
                P::All => {}
                P::Eq(c, _)
                | P::Ne(c, _)
                | P::Lt(c, _)
                | P::Le(c, _)
                | P::Gt(c, _)
                | P::Ge(c, _)
                | P::IsNull(c) => out.push(c.clone()),
                P::And(ps) | P::Or(ps) => ps.iter().for_each(|p| columns(p, out)),
            }
        }
        if let Filter::Where(p) = filter {
            let mut names = Vec::new();
            columns(p, &mut names);
            for n in names {
                t.column(&n)?;
            }
        }
        Ok(())
    }

    /// Sets the device's state (from the operating system's callbacks);
    /// the rules may switch the profile, and the worker re-plans.
    pub fn set_inputs(&self, inputs: Inputs) {
        let now = self.inner.clock.now_ms();
        {
            let mut p = lock(&self.inner.power);
            p.inputs = inputs;
            p.refresh(&self.inner.profiles, now);
        }
        self.nudge();
    }

    /// The device's state as last set.
    pub fn inputs(&self) -> Inputs {
        lock(&self.inner.power).inputs
    }

    /// The name of the profile in force.
    pub fn profile(&self) -> String {
        lock(&self.inner.power).name().to_owned()
    }

    fn nudge(&self) {
        lock(&self.inner.signal.0).nudged = true;
        self.inner.signal.1.notify_all();
    }

    /// Runs a round of sync now, on this thread, whatever the profile
    /// (the profile's network rules still choose which changes go).
    ///
    /// # Errors
    /// [`SyncError::Transport`] when offline, unreachable or cut off; a
    /// message from the server this side refuses. Nothing is lost: the
    /// next round resumes.
    pub fn sync_now(&self) -> Result<RoundStats> {
        self.inner.round()
    }

    /// The client's metrics: counters `client.writes` (local commits),
    /// `client.syncs` (successful rounds that carried messages), `client.sync_failures`,
    /// `client.bytes_up`, `client.bytes_down`, `client.wakes` (rounds
    /// that opened a connection: radio wakes), the gauge
    /// `client.last_sync_ms` (clock time of the last successful round),
    /// and the session's (`sync.encode_ns`, `sync.pending_changes`, ...,
    /// see [`Session`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Milliseconds since the last successful round (`None` before the
    /// first).
    pub fn last_sync_age_ms(&self) -> Option<u64> {
        let last = self.inner.m.last_sync_ms.get();
        (last > 0).then(|| self.inner.clock.now_ms().saturating_sub(last as u64))
    }

    /// Local changes the server has not acknowledged.
    pub fn pending_changes(&self) -> u64 {
        let link = lock(&self.inner.link);
        let me = self.inner.db.replica();
        let acked = link.session.acked().get(me);
        self.inner.db.version_vector().get(me).saturating_sub(acked)
    }

    /// Saves the snapshot file (atomically), if the options named one.
    ///
    /// # Errors
    /// [`SyncError::Io`] naming the file.
    pub fn save(&self) -> Result<()> {
        match &self.inner.snapshot {
            Some(path) => self.inner.db.save_snapshot_to(path),
            None => Ok(()),
        }
    }

    /// Stops the worker (waiting for a round in progress), makes a last
    /// round when a network is available so that pending writes go up,
    /// and saves the snapshot. Later calls do nothing. Other clones stay
    /// usable for reads and writes, without background sync.
    ///
    /// # Errors
    /// Saving the snapshot's error. A failed last round is not an error
    /// (the writes are in the snapshot and go up next time).
    pub fn shutdown(&self) -> Result<()> {
        if self.inner.shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        lock(&self.inner.signal.0).stop = true;
        self.inner.signal.1.notify_all();
        let handle = lock(&self.inner.worker).take();
        if let Some(h) = handle {
            // A worker that panicked has nothing left to flush.
            let _ = h.join();
        }
        if self.inputs().network.online() {
            let _ = self.inner.round();
        }
        self.save()
    }
}

fn new_session(
    db: &Arc<Database>,
    sync: &SyncConfig,
    profile: &PowerProfile,
    metrics: &Arc<Metrics>,
) -> Session {
    let mut config = sync.clone();
    config.max_batch_bytes = profile.max_batch_bytes;
    if let Some(codecs) = profile.codec_effort.codecs() {
        config.codecs = Some(codecs);
    }
    let mut s = Session::with_metrics(db.clone(), config, metrics.clone());
    s.set_max_batch_changes(profile.max_batch_changes);
    s
}

impl Inner {
    /// One round under the profile in force.
    fn round(&self) -> Result<RoundStats> {
        let now = self.clock.now_ms();
        let (profile, inputs) = {
            let mut p = lock(&self.power);
            let profile = p.refresh(&self.profiles, now).clone();
            (profile, p.inputs)
        };
        let result = self.round_with(&profile, &inputs);
        let end = self.clock.now_ms();
        let ok = result.is_ok();
        lock(&self.power)
            .scheduler
            .on_round(ok, now, end.max(now), &profile, &inputs);
        if let Ok(stats) = &result {
            // A quiet check of a live connection is not a sync.
            if stats.messages_up + stats.messages_down > 0 {
                self.m.rounds.inc();
            }
            self.m.last_sync_ms.set(end.max(1) as i64);
            self.maintain(&profile, &inputs, end);
        } else {
            self.m.failures.inc();
        }
        result
    }

    /// Tombstone garbage collection and snapshot compaction (rewriting
    /// the snapshot file from the collected log), at most once an hour
    /// and only when the profile allows it with these inputs.
    fn maintain(&self, profile: &PowerProfile, inputs: &Inputs, now: u64) {
        if !profile.maintenance.allowed(inputs) {
            return;
        }
        {
            let mut last = lock(&self.maintained_ms);
            if last.is_some_and(|l| now.saturating_sub(l) < 3_600_000) {
                return;
            }
            *last = Some(now);
        }
        self.db.collect_garbage();
        if let Some(path) = &self.snapshot {
            // A failed compaction leaves the previous snapshot (the file
            // is replaced atomically); shutdown saves again.
            let _ = self.db.save_snapshot_to(path);
        }
    }

    fn round_with(&self, profile: &PowerProfile, inputs: &Inputs) -> Result<RoundStats> {
        if !inputs.network.online() {
            return Err(SyncError::Transport(TransportError::Unreachable {
                reason: "offline".into(),
            }));
        }
        let mut link = lock(&self.link);
        let link = &mut *link;
        let want = (profile.max_batch_bytes, profile.codec_effort);
        if link.made_for != want {
            link.session = new_session(&self.db, &self.sync, profile, &self.metrics);
            link.conn = None;
            link.made_for = want;
        }
        link.session
            .set_max_batch_changes(profile.max_batch_changes);
        link.session
            .set_send_filter(Some(self.send_filter(profile, inputs)));
        let first = link.conn.is_none();
        if first {
            self.m.wakes.inc();
            link.conn = Some(self.transport.connect()?);
        }
        let conn = link.conn.as_mut().expect("connected above");
        let result = sync_round(&mut link.session, conn.as_mut(), first, self.round_timeout);
        if result.is_err() || !profile.live {
            link.conn = None;
        }
        if let Ok(stats) = &result {
            self.m.bytes_up.add(stats.bytes_up);
            self.m.bytes_down.add(stats.bytes_down);
        }
        result
    }

    /// The changes the profile lets go on this network: by their table's
    /// priority.
    fn send_filter(&self, profile: &PowerProfile, inputs: &Inputs) -> crate::sync::SendFilter {
        let schema = self.db.schema();
        let mut allowed: BTreeMap<TableId, bool> = BTreeMap::new();
        for t in schema.tables() {
            let prio = self.priorities.get(&t.name).copied().unwrap_or_default();
            allowed.insert(t.id, profile.may_send(prio, inputs));
        }
        let default = profile.may_send(Priority::Normal, inputs);
        Arc::new(move |c: &Change| allowed.get(&c.table).copied().unwrap_or(default))
    }

    /// How long the worker may sleep: until the next round is due, or
    /// `None` to wait for a write or new inputs.
    fn next_due(&self) -> Option<u64> {
        let now = self.clock.now_ms();
        let mut p = lock(&self.power);
        let profile = p.refresh(&self.profiles, now).clone();
        let due = p
            .scheduler
            .next_round(&profile, &p.inputs)
            .map(|(at, _)| at);
        // A live connection is checked for pushed changes every second.
        let live = profile.live && p.inputs.network.online();
        match (due, live) {
            (Some(at), true) => Some(at.min(now + 1_000)),
            (None, true) => Some(now + 1_000),
            (due, false) => due,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.signal.0).stop = true;
        self.signal.1.notify_all();
    }
}

/// The background worker: sleeps until the scheduler's next round (or a
/// write, or new inputs), runs it, repeats; stops when asked or when the
/// client is gone.
fn worker(weak: std::sync::Weak<Inner>, signal: Arc<(Mutex<Signal>, Condvar)>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let due = inner.next_due();
        let now = inner.clock.now_ms();
        if due.is_some_and(|at| at <= now) {
            let _ = inner.round();
            continue;
        }
        drop(inner);
        let wait = due.map_or(Duration::from_secs(3600), |at| {
            Duration::from_millis(at.saturating_sub(now))
        });
        let mut s = lock(&signal.0);
        if !s.stop && !s.nudged {
            s = signal
                .1
                .wait_timeout(s, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if s.stop {
            return;
        }
        s.nudged = false;
    }
}

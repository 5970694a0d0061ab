//! Subscriptions to a table's changes.
//!
//! The database hands every commit to the client's [`Hub`] under its
//! write lock; the hub only stamps it with the next commit number and
//! queues it (unbounded) for each subscription, so writers never wait
//! for subscribers. Each subscription has a thread of its own that takes
//! its queue in order, keeps the rows its filter selects, and calls the
//! callback (or sends on the channel) with no lock held.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, Weak};

use unidb_common::id::ReplicaId;
use unidb_common::value::Value;

use crate::db::{CommitEvent, CommitObserver, Predicate, Row};

/// Which rows of a table a subscription sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every row.
    All,
    /// Rows whose primary key lies in the range.
    Keys(Bound<Value>, Bound<Value>),
    /// Rows matching the predicate. A row that starts matching is
    /// reported inserted, one that stops matching deleted.
    Where(Predicate),
}

impl Filter {
    /// Rows whose key lies in `range` (e.g. `Value::I64(10)..Value::I64(20)`).
    pub fn keys(range: impl std::ops::RangeBounds<Value>) -> Self {
        Filter::Keys(range.start_bound().cloned(), range.end_bound().cloned())
    }

    fn matches(&self, key: &Value, row: Option<&Row>) -> bool {
        let Some(row) = row else { return false };
        match self {
            Filter::All => true,
            Filter::Keys(lo, hi) => (lo.as_ref(), hi.as_ref()).contains(key),
            Filter::Where(p) => eval(p, row),
        }
    }
}

use std::ops::RangeBounds as _;

/// Evaluates a predicate on a row as read (an unknown column reads as
/// null).
fn eval(p: &Predicate, row: &Row) -> bool {
    let get = |c: &str| row.get::<&Value>(c).ok().cloned().unwrap_or(Value::Null);
    match p {
        Predicate::All => true,
        Predicate::Eq(c, v) => get(c) == *v,
        Predicate::Ne(c, v) => get(c) != *v,
        Predicate::Lt(c, v) => get(c) < *v,
        Predicate::Le(c, v) => get(c) <= *v,
        Predicate::Gt(c, v) => get(c) > *v,
        Predicate::Ge(c, v) => get(c) >= *v,
        Predicate::IsNull(c) => get(c).is_null(),
        Predicate::And(ps) => ps.iter().all(|p| eval(p, row)),
        Predicate::Or(ps) => ps.iter().any(|p| eval(p, row)),
    }
}

/// Where a change set came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Source {
    /// A local transaction.
    Local,
    /// A batch received from the server.
    Remote,
}

/// A row that appeared (inserted, or started matching the filter).
#[derive(Debug, Clone, PartialEq)]
pub struct Inserted {
    /// Its primary key.
    pub key: Value,
    /// The whole row.
    pub row: Row,
    /// The replica whose change made it.
    pub origin: ReplicaId,
}

/// A row some of whose columns changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// Its primary key.
    pub key: Value,
    /// The changed columns, with their new values.
    pub columns: Row,
    /// The replica whose change made it.
    pub origin: ReplicaId,
}

/// A row that went away (deleted, or stopped matching the filter).
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    /// Its primary key.
    pub key: Value,
    /// The replica whose change made it.
    pub origin: ReplicaId,
}

/// What one commit changed in the rows a subscription sees. Each row
/// appears at most once per change set.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSet {
    /// The commit's number in this client (1, 2, ... in commit order,
    /// counting every commit, so a subscription that sees only some
    /// commits sees increasing, not consecutive, numbers).
    pub commit: u64,
    /// A local transaction or a batch from the server.
    pub source: Source,
    /// The table.
    pub table: String,
    /// Rows that appeared.
    pub inserted: Vec<Inserted>,
    /// Rows that changed.
    pub updated: Vec<Updated>,
    /// Rows that went away.
    pub deleted: Vec<Deleted>,
}

impl ChangeSet {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.inserted.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }

    /// Applies the change set to a view of the table (key → row), as a
    /// subscriber keeping a live query result does.
    pub fn apply_to(&self, view: &mut BTreeMap<Value, Row>) {
        for i in &self.inserted {
            view.insert(i.key.clone(), i.row.clone());
        }
        for u in &self.updated {
            if let Some(row) = view.get_mut(&u.key) {
                for (c, v) in u.columns.iter() {
                    row.insert(c.clone(), v.clone());
                }
            }
        }
        for d in &self.deleted {
            view.remove(&d.key);
        }
    }

    /// The part of commit `event` a subscription to `table` with `filter`
    /// sees.
    fn of(commit: u64, event: &CommitEvent, table: &str, filter: &Filter) -> ChangeSet {
        let mut out = ChangeSet {
            commit,
            source: if event.local {
                Source::Local
            } else {
                Source::Remote
            },
            table: table.to_owned(),
            inserted: Vec::new(),
            updated: Vec::new(),
            deleted: Vec::new(),
        };
        for r in event.rows.iter().filter(|r| r.table == table) {
            let was = filter.matches(&r.key, r.before.as_ref());
            let is = filter.matches(&r.key, r.after.as_ref());
            match (was, is, &r.before, &r.after) {
                (false, true, _, Some(after)) => out.inserted.push(Inserted {
                    key: r.key.clone(),
                    row: after.clone(),
                    origin: r.origin,
                }),
                (true, false, _, _) => out.deleted.push(Deleted {
                    key: r.key.clone(),
                    origin: r.origin,
                }),
                (true, true, Some(before), Some(after)) => {
                    let columns: Row = after
                        .iter()
                        .filter(|(c, v)| before.get::<&Value>(c).ok() != Some(*v))
                        .map(|(c, v)| (c.clone(), v.clone()))
                        .collect();
                    if !columns.is_empty() {
                        out.updated.push(Updated {
                            key: r.key.clone(),
                            columns,
                            origin: r.origin,
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// A queued commit: its number and what it changed.
type Queued = Arc<(u64, CommitEvent)>;

/// The state shared by a subscription's handle and its thread.
#[derive(Debug, Default)]
struct SubState {
    delivered: AtomicU64,
    failed: AtomicBool,
    cancelled: AtomicBool,
}

/// What the client runs on every commit, under the database's lock.
pub(crate) type OnCommit = Box<dyn Fn(&CommitEvent) + Send + Sync>;

/// The client's commit observer: numbers commits and fans them out.
#[derive(Default)]
pub(crate) struct Hub {
    commits: AtomicU64,
    subs: Mutex<Vec<(u64, Sender<Queued>)>>,
    next_id: AtomicU64,
    /// Called on every commit (the client's worker wake-up), under the
    /// database's write lock: must be quick.
    on_commit: Mutex<Option<OnCommit>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("commits", &self.commits)
            .finish_non_exhaustive()
    }
}

impl Hub {
    fn subs(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Sender<Queued>)>> {
        self.subs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_on_commit(&self, f: OnCommit) {
        *self.on_commit.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Starts a subscription whose thread calls `deliver` for each
    /// non-empty change set.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        table: String,
        filter: Filter,
        mut deliver: impl FnMut(ChangeSet) -> bool + Send + 'static,
    ) -> Subscription {
        let (tx, rx): (Sender<Queued>, Receiver<Queued>) = channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(SubState::default());
        let thread_state = state.clone();
        let hub = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name(format!("unidb-subscription-{id}"))
            .spawn(move || {
                for queued in rx {
                    let (commit, event) = &*queued;
                    let set = ChangeSet::of(*commit, event, &table, &filter);
                    if thread_state.cancelled.load(Ordering::Acquire) {
                        break;
                    }
                    if set.is_empty() {
                        continue;
                    }
                    let n = set.inserted.len() + set.updated.len() + set.deleted.len();
                    match catch_unwind(AssertUnwindSafe(|| deliver(set))) {
                        Ok(true) => {
                            thread_state
                                .delivered
                                .fetch_add(n as u64, Ordering::Release);
                        }
                        Ok(false) => break,
                        Err(_) => {
                            thread_state.failed.store(true, Ordering::Release);
                            break;
                        }
                    }
                }
                // Stop queueing for a subscription that ended.
                if let Some(hub) = hub.upgrade() {
                    hub.subs().retain(|(i, _)| *i != id);
                }
            });
        if spawned.is_ok() {
            self.subs().push((id, tx));
        } else {
            state.failed.store(true, Ordering::Release);
        }
        Subscription {
            id,
            hub: Arc::downgrade(self),
            state,
        }
    }
}

impl CommitObserver for Hub {
    fn wants_rows(&self) -> bool {
        !self.subs().is_empty()
    }

    fn committed(&self, event: CommitEvent) {
        let commit = self.commits.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(f) = &*self.on_commit.lock().unwrap_or_else(|e| e.into_inner()) {
            f(&event);
        }
        let subs = self.subs();
        if subs.is_empty() {
            return;
        }
        let queued: Queued = Arc::new((commit, event));
        for (_, tx) in subs.iter() {
            // A subscription whose thread ended is removed by that thread.
            let _ = tx.send(queued.clone());
        }
    }
}

/// A subscription to a table's changes
/// ([`Client::subscribe`](super::Client::subscribe)). Dropping it
/// unsubscribes: no change set is delivered after the drop returns,
/// except one already being delivered.
///
/// Delivery runs on the subscription's own thread. A callback that
/// panics ends its subscription ([`Subscription::failed`] turns true);
/// other subscriptions and writers are unaffected. A slow callback only
/// delays its own subscription: commits queue for it (memory grows with
/// the backlog) while writers and other subscriptions go on.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    hub: Weak<Hub>,
    state: Arc<SubState>,
}

impl Subscription {
    /// Whether the callback panicked (the subscription then ended).
    pub fn failed(&self) -> bool {
        self.state.failed.load(Ordering::Acquire)
    }

    /// Row changes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.state.delivered.load(Ordering::Acquire)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.state.cancelled.store(true, Ordering::Release);
        if let Some(hub) = self.hub.upgrade() {
            // Dropping the sender ends the thread once its queue is empty.
            hub.subs().retain(|(i, _)| *i != self.id);
        }
    }
}

//! The sync protocol: a transport-agnostic session per connection, and an
//! in-process transport.
//!
//! # Protocol
//!
//! Both ends of a connection run a [`Session`] and start by sending
//! [`Message::Hello`] with their schema version and version vector. On a
//! `Hello`, a session answers with the [`Message::Migrations`] the peer
//! lacks (if its schema is older) and every change the peer lacks, in
//! [`Message::Changes`] batches of at most [`SyncConfig::max_batch_bytes`].
//! On `Changes` it applies the batch and answers [`Message::Ack`] with its
//! new version vector, the checkpoint the peer resumes from. After applying
//! migrations it sends a fresh `Hello`, so the peer resends what was refused.
//! [`Session::poll`] pushes local changes made since.
//!
//! Codecs: every `Hello` lists the codecs its sender decodes (its
//! [`SyncConfig::codecs`]), and a session encodes what it sends with the
//! codecs both sides listed, so a codec one side registered never reaches
//! a peer without it (a peer speaking wire version 2 sends no list and
//! decodes the codecs built into that version, see [`crate::wire`]). A
//! session refuses a batch that uses a codec outside its own list with
//! [`SyncError::MissingCodec`], as a process without it would.
//!
//! Resumption: a dropped connection loses nothing. The next `Hello` carries
//! the receiver's checkpoint (its version vector), and the sender resends
//! exactly the changes after it. Duplicates are harmless (applying a change
//! twice is a no-op) and batches may arrive in any order.
//!
//! A *server* is a replica that makes no writes of its own and that every
//! client connects to: it holds the union of all changes and serves each
//! client only what its version vector lacks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use unidb_codec::{with_codecs, CodecSet};
use unidb_common::config::{check_range, Validate};
use unidb_common::id::ReplicaId;
use unidb_common::metrics::{Counter, Gauge, Histogram, Metrics};

use crate::change::VersionVector;
use crate::columnar::BatchEncoder;
use crate::db::Database;
use crate::error::{Result, SyncError};
use crate::wire::{self, batches_with, Message, MIN_WIRE_VERSION, WIRE_VERSION};

/// A reply: a message, with its encoding when the batching already made it.
type Reply = (Message, Option<Vec<u8>>);

/// Settings of a [`Session`].
///
/// Loadable from JSON with `unidb_common::config` (unknown fields are an
/// error naming them, and [`Validate`] checks the ranges):
///
/// ```
/// use unidb_syncdb::SyncConfig;
///
/// let c: SyncConfig = unidb_common::config::from_json_str(r#"{"max_batch_bytes": 16384}"#, "sync.json")?;
/// assert_eq!(c.max_batch_bytes, 16384);
/// let err = unidb_common::config::from_json_str::<SyncConfig>(r#"{"max_batch_bytes": 0}"#, "sync.json")
///     .unwrap_err();
/// assert_eq!(err.location(), Some("max_batch_bytes"));
/// # Ok::<(), unidb_common::Error>(())
/// ```
///
/// A client that registered its own codec but talks to servers that may
/// not have it needs no setting (the handshake settles it); one that wants
/// to decode only the built-in codecs, or to pin what it declares, lists
/// them:
///
/// ```
/// use unidb_syncdb::SyncConfig;
///
/// let pinned = SyncConfig {
///     codecs: Some(unidb_codec::BUILTIN_CODECS.iter().map(|&c| c.to_owned()).collect()),
///     ..SyncConfig::default()
/// };
/// assert!(!pinned.codec_set().contains("my-codec"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Largest encoded size of one change batch (a single larger change is
    /// sent alone). Default 64 KiB.
    pub max_batch_bytes: usize,
    /// The codecs this side decodes and declares in its `Hello` (names;
    /// `plain` is always included). The peer encodes what it sends with
    /// these only, this side encodes with those both sides declared, and a
    /// batch using another codec is refused with
    /// [`SyncError::MissingCodec`]. `None` (the default): every codec
    /// registered in this process.
    pub codecs: Option<Vec<String>>,
    /// The wire format version of this side's `Hello` and the most it
    /// writes ([`WIRE_VERSION`] by default; replies follow the peer's
    /// version when it is older). 2 opens connections to builds that read
    /// only version 2.
    pub wire_version: u8,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_batch_bytes: 64 * 1024,
            codecs: None,
            wire_version: WIRE_VERSION,
        }
    }
}

impl SyncConfig {
    /// The smallest accepted [`max_batch_bytes`](Self::max_batch_bytes).
    pub const MIN_BATCH_BYTES: usize = 1024;
    /// The largest accepted [`max_batch_bytes`](Self::max_batch_bytes).
    pub const MAX_BATCH_BYTES: usize = 64 << 20;

    /// The codecs this side declares: [`codecs`](Self::codecs) as a set.
    pub fn codec_set(&self) -> CodecSet {
        match &self.codecs {
            None => CodecSet::all(),
            Some(names) => CodecSet::of(names),
        }
    }
}

impl Validate for SyncConfig {
    fn validate(&self) -> unidb_common::Result<()> {
        check_range(
            "max_batch_bytes",
            self.max_batch_bytes,
            Self::MIN_BATCH_BYTES..=Self::MAX_BATCH_BYTES,
        )?;
        check_range(
            "wire_version",
            self.wire_version,
            MIN_WIRE_VERSION..=WIRE_VERSION,
        )
    }
}

/// The metrics a [`Session`] records, by name in its [`Metrics`]
/// (several sessions may share one `Metrics`, e.g. every connection of a
/// server, and then add up).
#[derive(Debug, Clone)]
struct SessionMetrics {
    /// `sync.messages_out`: messages encoded for the peer.
    messages_out: Arc<Counter>,
    /// `sync.bytes_out`: their encoded bytes.
    bytes_out: Arc<Counter>,
    /// `sync.messages_in`: messages received (decoded or not).
    messages_in: Arc<Counter>,
    /// `sync.bytes_in`: their bytes.
    bytes_in: Arc<Counter>,
    /// `sync.changes_out`: changes sent.
    changes_out: Arc<Counter>,
    /// `sync.changes_in`: changes received in accepted batches.
    changes_in: Arc<Counter>,
    /// `sync.rejected`: received messages refused (decode or apply error).
    rejected: Arc<Counter>,
    /// `sync.encode_ns`: time to cut and encode the batches of one poll.
    encode_ns: Arc<Histogram>,
    /// `sync.decode_ns`: time to decode one received message.
    decode_ns: Arc<Histogram>,
    /// `sync.pending_changes`: changes of this replica's log the peer has
    /// not acknowledged (per origin, local sequence minus acknowledged).
    pending: Arc<Gauge>,
}

impl SessionMetrics {
    fn new(m: &Metrics) -> Self {
        SessionMetrics {
            messages_out: m.counter("sync.messages_out"),
            bytes_out: m.counter("sync.bytes_out"),
            messages_in: m.counter("sync.messages_in"),
            bytes_in: m.counter("sync.bytes_in"),
            changes_out: m.counter("sync.changes_out"),
            changes_in: m.counter("sync.changes_in"),
            rejected: m.counter("sync.rejected"),
            encode_ns: m.histogram("sync.encode_ns"),
            decode_ns: m.histogram("sync.decode_ns"),
            pending: m.gauge("sync.pending_changes"),
        }
    }
}

/// One end of a sync connection.
///
/// It records what it sends and receives in a [`Metrics`]
/// ([`Session::metrics`]): counters `sync.messages_out`, `sync.bytes_out`,
/// `sync.messages_in`, `sync.bytes_in`, `sync.changes_out`,
/// `sync.changes_in` and `sync.rejected`, histograms `sync.encode_ns` and
/// `sync.decode_ns`, and the gauge `sync.pending_changes`.
pub struct Session {
    db: Arc<Database>,
    config: SyncConfig,
    peer: Option<ReplicaId>,
    /// What the peer is believed to hold (acknowledged, plus sent since).
    peer_known: Option<VersionVector>,
    /// What the peer has acknowledged holding.
    acked: VersionVector,
    /// Encodes the change batches sent to the peer, remembering the codecs
    /// chosen for each column stream.
    encoder: BatchEncoder,
    /// The codecs this side decodes (declared in its `Hello`).
    local_codecs: CodecSet,
    /// The codecs both sides declared: what batches to the peer use.
    send_codecs: CodecSet,
    /// The wire version messages to the peer are written in.
    out_version: u8,
    metrics: Arc<Metrics>,
    recorded: SessionMetrics,
    /// Which changes may be sent now ([`Session::set_send_filter`]).
    filter: Option<SendFilter>,
    /// Changes sent above a held-back one of their origin (so above
    /// `peer_known`), not to be sent again on this connection.
    sent_ahead: std::collections::BTreeSet<(ReplicaId, u64)>,
    /// Most changes per batch ([`Session::set_max_batch_changes`]).
    max_batch_changes: usize,
    /// Change batches sent since the peer's last `Hello` and not yet
    /// acknowledged.
    awaiting: usize,
}

/// A predicate on changes: those for which it is false are held back
/// ([`Session::set_send_filter`]).
pub type SendFilter = Arc<dyn Fn(&crate::change::Change) -> bool + Send + Sync>;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("replica", &self.db.replica())
            .field("config", &self.config)
            .field("peer", &self.peer)
            .field("peer_known", &self.peer_known)
            .field("acked", &self.acked)
            .field("filtered", &self.filter.is_some())
            .field("awaiting", &self.awaiting)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session of `db` (the peer is learned from its `Hello`), recording
    /// into metrics of its own.
    pub fn new(db: Arc<Database>, config: SyncConfig) -> Self {
        Self::with_metrics(db, config, Arc::new(Metrics::new()))
    }

    /// A session of `db` recording into `metrics`, which other sessions
    /// (every client of a server, say) may share.
    pub fn with_metrics(db: Arc<Database>, config: SyncConfig, metrics: Arc<Metrics>) -> Self {
        let recorded = SessionMetrics::new(&metrics);
        let local_codecs = config.codec_set();
        let out_version = config.wire_version.clamp(MIN_WIRE_VERSION, WIRE_VERSION);
        Session {
            db,
            send_codecs: local_codecs.clone(),
            local_codecs,
            out_version,
            config,
            peer: None,
            peer_known: None,
            acked: VersionVector::new(),
            encoder: BatchEncoder::new(),
            metrics,
            recorded,
            filter: None,
            sent_ahead: Default::default(),
            max_batch_changes: usize::MAX,
            awaiting: 0,
        }
    }

    /// Holds back the changes for which `filter` is false (e.g. low
    /// priority changes on a metered network): they are sent by a later
    /// poll once the filter lets them through. Changes after a held-back
    /// one of the same origin are still sent (the peer merges changes in
    /// any order); the peer's checkpoint stays below the held-back one,
    /// so a dropped connection resends from there. `None` sends everything.
    pub fn set_send_filter(&mut self, filter: Option<SendFilter>) {
        self.filter = filter;
    }

    /// At most `n` changes per batch (and at most
    /// [`SyncConfig::max_batch_bytes`]); at least 1.
    pub fn set_max_batch_changes(&mut self, n: usize) {
        self.max_batch_changes = n.max(1);
    }

    /// Change batches sent since the peer's `Hello` that the peer has not
    /// acknowledged yet (on an in-order connection, 0 means every batch
    /// sent arrived).
    pub fn awaiting_acks(&self) -> usize {
        self.awaiting
    }

    /// The metrics this session records into.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use unidb_common::{id::ReplicaId, time::ManualClock};
    /// use unidb_syncdb::{sync_pair, ColumnDef, ColumnType, Database, Migration, Session, SyncConfig, TableDef, Value};
    ///
    /// let schema = [Migration::AddTable(
    ///     TableDef::new("t", "id", ColumnType::I64).column(ColumnDef::new("v", ColumnType::I64)),
    /// )];
    /// let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    /// let a = Arc::new(Database::open(ReplicaId::from_u64(1), clock.clone(), &schema)?);
    /// let b = Arc::new(Database::open(ReplicaId::from_u64(2), clock, &schema)?);
    /// a.insert("t", [("id", Value::I64(1)), ("v", Value::I64(7))])?;
    /// let mut sa = Session::new(a, SyncConfig::default());
    /// let mut sb = Session::new(b, SyncConfig::default());
    /// sync_pair(&mut sa, &mut sb)?;
    /// let m = sa.metrics().snapshot();
    /// assert_eq!(m.counters["sync.changes_out"], 2); // one per column
    /// assert_eq!(m.gauges["sync.pending_changes"], 0); // acknowledged
    /// # Ok::<(), unidb_syncdb::SyncError>(())
    /// ```
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Sets `sync.pending_changes` from the database's log and the peer's
    /// acknowledgements.
    fn update_pending(&self) {
        let acked = &self.acked;
        let pending: u64 = self
            .db
            .version_vector()
            .iter()
            .map(|(origin, seq)| seq.saturating_sub(acked.get(origin)))
            .sum();
        self.recorded
            .pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// The encoder of the change batches this session sends (its cache
    /// counters show how often a batch needed a codec search).
    pub fn encoder(&self) -> &BatchEncoder {
        &self.encoder
    }

    /// Encodes a message for the peer: in the peer's wire version, change
    /// batches with this session's batch encoder (see
    /// [`Message::encode_as`]) and only the codecs both sides declared.
    pub fn encode(&mut self, message: &Message) -> Vec<u8> {
        let (version, encoder) = (self.out_version, &mut self.encoder);
        with_codecs(&self.send_codecs, || message.encode_as(version, encoder))
    }

    /// The codecs batches to the peer may use: those both sides declared
    /// (this side's alone before the peer's `Hello`).
    pub fn codecs(&self) -> &CodecSet {
        &self.send_codecs
    }

    /// The wire format version messages to the peer are written in.
    pub fn wire_version(&self) -> u8 {
        self.out_version
    }

    /// The local database.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// The peer's replica id, once its `Hello` arrived.
    pub fn peer(&self) -> Option<ReplicaId> {
        self.peer
    }

    /// The peer's last acknowledged checkpoint.
    pub fn acked(&self) -> &VersionVector {
        &self.acked
    }

    /// The opening (or resuming) message.
    pub fn hello(&self) -> Message {
        Message::Hello {
            replica: self.db.replica(),
            schema_version: self.db.schema_version(),
            known: self.db.version_vector(),
            gc: self.db.gc_frontier(),
            schema_digest: self.db.schema().digest(self.db.schema_version()),
            codecs: self.local_codecs.wire_names(),
        }
    }

    /// [`hello`](Self::hello), encoded in this session's wire version.
    pub fn hello_encoded(&mut self) -> Vec<u8> {
        let hello = self.hello();
        self.encode(&hello)
    }

    /// Changes made since the peer's checkpoint that were not sent yet
    /// (empty before the peer's `Hello`).
    pub fn poll(&mut self) -> Vec<Message> {
        self.poll_inner().into_iter().map(|(m, _)| m).collect()
    }

    /// [`poll`](Self::poll), encoded (each batch encoded once, by the
    /// search for its size).
    pub fn poll_encoded(&mut self) -> Vec<Vec<u8>> {
        let replies = self.poll_inner();
        self.encode_replies(replies)
    }

    fn encode_replies(&mut self, replies: Vec<Reply>) -> Vec<Vec<u8>> {
        let out: Vec<Vec<u8>> = replies
            .into_iter()
            .map(|(m, bytes)| bytes.unwrap_or_else(|| self.encode(&m)))
            .collect();
        self.recorded.messages_out.add(out.len() as u64);
        self.recorded
            .bytes_out
            .add(out.iter().map(|b| b.len() as u64).sum());
        out
    }

    fn poll_inner(&mut self) -> Vec<Reply> {
        let Some(known) = &self.peer_known else {
            return Vec::new();
        };
        let mut changes = self.db.changes_since(known);
        let collected = self.db.collected_since(known);
        // Per origin, the first change held back by the filter.
        let mut held: std::collections::BTreeMap<ReplicaId, u64> = Default::default();
        if let Some(filter) = &self.filter {
            let ahead = &self.sent_ahead;
            changes.retain(|c| {
                if ahead.contains(&(c.origin, c.seq)) {
                    return false;
                }
                let send = filter(c);
                if !send {
                    held.entry(c.origin).or_insert(c.seq);
                }
                send
            });
        }
        if changes.is_empty() && collected.is_empty() {
            return Vec::new();
        }
        let known = self.peer_known.get_or_insert_with(VersionVector::new);
        for c in &changes {
            if held.get(&c.origin).is_some_and(|h| c.seq > *h) {
                self.sent_ahead.insert((c.origin, c.seq));
            } else if c.seq > known.get(c.origin) {
                known.set(c.origin, c.seq);
            }
        }
        for c in &collected {
            if c.last > known.get(c.origin) {
                known.set(c.origin, c.last);
            }
        }
        let sender = self.db.replica();
        let version = self.db.schema_version();
        self.recorded.changes_out.add(changes.len() as u64);
        let started = Instant::now();
        let (encoder, max_bytes, out_version) = (
            &mut self.encoder,
            self.config.max_batch_bytes,
            self.out_version,
        );
        let per_batch = self.max_batch_changes;
        let batches = with_codecs(&self.send_codecs, || {
            let mut out = Vec::new();
            let mut rest = changes;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(per_batch));
                out.extend(batches_with(encoder, sender, version, rest, max_bytes));
                rest = tail;
            }
            out
        });
        let mut out: Vec<Reply> = batches
            .into_iter()
            .map(|(m, mut bytes)| {
                wire::set_version(&mut bytes, out_version);
                (m, Some(bytes))
            })
            .collect();
        self.recorded.encode_ns.record_duration(started.elapsed());
        self.update_pending();
        if !collected.is_empty() {
            let m = Message::Changes {
                sender,
                schema_version: version,
                changes: Vec::new(),
                collected,
            };
            out.push((m, None));
        }
        self.awaiting += out.len();
        out
    }

    /// Handles one message from the peer and returns the replies.
    ///
    /// # Errors
    /// The error of applying migrations or changes
    /// ([`SyncError::SchemaTooNew`], [`SyncError::SchemaConflict`],
    /// [`SyncError::ClockSkew`], validation errors); nothing is applied then.
    pub fn handle(&mut self, message: Message) -> Result<Vec<Message>> {
        Ok(self
            .handle_inner(message)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    fn handle_inner(&mut self, message: Message) -> Result<Vec<Reply>> {
        let only = |m: Message| vec![(m, None)];
        match message {
            Message::Hello {
                replica,
                schema_version,
                known,
                gc,
                schema_digest,
                codecs,
            } => {
                self.check_peer(replica)?;
                // One version number, two histories: refuse rather than
                // diverge (the replica at the higher version can tell).
                let ours = self.db.schema().digest(schema_version);
                if let (Some(theirs), Some(ours)) = (schema_digest, ours) {
                    if theirs != ours {
                        return Err(SyncError::InvalidSchema {
                            reason: format!(
                                "peer {replica}'s schema history differs from ours at version {schema_version}"
                            ),
                        });
                    }
                }
                self.db.record_ack(replica, &known);
                self.db.learn_gc_frontier(&gc);
                // Send only what both sides decode.
                self.send_codecs = self
                    .local_codecs
                    .intersection(&CodecSet::from_wire(&codecs));
                let mut out = Vec::new();
                let schema = self.db.schema();
                if schema_version < schema.version() {
                    let m = Message::Migrations {
                        from_version: schema_version,
                        migrations: schema.history()[schema_version as usize..].to_vec(),
                    };
                    out.push((m, None));
                }
                self.acked.merge(&known);
                // Resume from the peer's checkpoint (what was sent on an
                // earlier connection and not acknowledged goes again).
                self.peer_known = Some(known);
                self.sent_ahead.clear();
                self.awaiting = 0;
                out.extend(self.poll_inner());
                Ok(out)
            }
            Message::Migrations {
                from_version,
                migrations,
            } => {
                let applied = self.db.apply_migrations(from_version, &migrations)?;
                Ok(if applied > 0 {
                    only(self.hello())
                } else {
                    Vec::new()
                })
            }
            Message::Changes {
                sender,
                schema_version,
                changes,
                collected,
            } => {
                self.check_peer(sender)?;
                let n = changes.len() as u64;
                // What the peer sent, it holds: extend its believed
                // frontier over the contiguous run, so `poll` does not
                // echo the batch back.
                let held: Vec<(ReplicaId, u64)> =
                    changes.iter().map(|c| (c.origin, c.seq)).collect();
                self.db.apply_batch(schema_version, changes, &collected)?;
                if let Some(known) = &mut self.peer_known {
                    for (origin, seq) in held {
                        if seq == known.get(origin).saturating_add(1) {
                            known.set(origin, seq);
                        }
                    }
                }
                self.recorded.changes_in.add(n);
                Ok(only(Message::Ack {
                    replica: self.db.replica(),
                    known: self.db.version_vector(),
                    gc: self.db.gc_frontier(),
                }))
            }
            Message::Ack { replica, known, gc } => {
                self.check_peer(replica)?;
                self.db.record_ack(replica, &known);
                self.db.learn_gc_frontier(&gc);
                self.acked.merge(&known);
                if let Some(k) = &mut self.peer_known {
                    k.merge(&known);
                }
                self.awaiting = self.awaiting.saturating_sub(1);
                let acked = &self.acked;
                self.sent_ahead.retain(|(o, q)| *q > acked.get(*o));
                self.update_pending();
                Ok(Vec::new())
            }
        }
    }

    /// Decodes and handles an encoded message; replies are encoded (with
    /// this session's batch encoder).
    ///
    /// # Errors
    /// [`SyncError::Decode`], [`SyncError::MissingCodec`] for a batch
    /// using a codec outside this side's [`SyncConfig::codecs`] (or one
    /// this process lacks), or the errors of [`Session::handle`]; nothing
    /// is applied then.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.recorded.messages_in.inc();
        self.recorded.bytes_in.add(bytes.len() as u64);
        let started = Instant::now();
        // Decoded as a process holding only the declared codecs would.
        let decoded = with_codecs(&self.local_codecs, || Message::decode(bytes));
        self.recorded.decode_ns.record_duration(started.elapsed());
        // Answer a peer in its own version when it is older.
        if let (Ok(Message::Hello { .. }), Some(v)) = (&decoded, Message::version_of(bytes)) {
            self.out_version = self.out_version.min(v).max(MIN_WIRE_VERSION);
        }
        let replies = decoded.and_then(|msg| self.handle_inner(msg));
        match replies {
            Ok(replies) => Ok(self.encode_replies(replies)),
            Err(e) => {
                self.recorded.rejected.inc();
                Err(e)
            }
        }
    }

    fn check_peer(&mut self, replica: ReplicaId) -> Result<()> {
        if replica == self.db.replica() {
            return Err(SyncError::Protocol {
                reason: format!("peer claims this replica's own id {replica}"),
            });
        }
        match self.peer {
            Some(p) if p != replica => Err(SyncError::Protocol {
                reason: format!("message from replica {replica} on a session with {p}"),
            }),
            _ => {
                self.peer = Some(replica);
                Ok(())
            }
        }
    }
}

/// One end of an in-process, in-order, reliable connection carrying
/// encoded messages. Make a connected pair with [`channel`].
#[derive(Debug, Clone)]
pub struct Endpoint {
    inbox: Arc<Mutex<VecDeque<Vec<u8>>>>,
    outbox: Arc<Mutex<VecDeque<Vec<u8>>>>,
}

/// A connected pair of in-process endpoints.
pub fn channel() -> (Endpoint, Endpoint) {
    let a = Arc::new(Mutex::new(VecDeque::new()));
    let b = Arc::new(Mutex::new(VecDeque::new()));
    (
        Endpoint {
            inbox: a.clone(),
            outbox: b.clone(),
        },
        Endpoint {
            inbox: b,
            outbox: a,
        },
    )
}

impl Endpoint {
    /// Sends encoded bytes to the other end.
    pub fn send(&self, bytes: Vec<u8>) {
        self.outbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(bytes);
    }

    /// The next received message, if any.
    pub fn recv(&self) -> Option<Vec<u8>> {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

/// Syncs two sessions over an in-process channel until neither has
/// anything to say. Returns the number of messages exchanged.
///
/// # Errors
/// The first error either session reports.
pub fn sync_pair(a: &mut Session, b: &mut Session) -> Result<usize> {
    let (ea, eb) = channel();
    ea.send(a.hello_encoded());
    eb.send(b.hello_encoded());
    let mut messages = 2;
    loop {
        let mut progressed = false;
        while let Some(bytes) = eb.recv() {
            progressed = true;
            for reply in b.handle_bytes(&bytes)? {
                messages += 1;
                eb.send(reply);
            }
        }
        while let Some(bytes) = ea.recv() {
            progressed = true;
            for reply in a.handle_bytes(&bytes)? {
                messages += 1;
                ea.send(reply);
            }
        }
        if !progressed {
            return Ok(messages);
        }
    }
}

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

use unidb_common::id::ReplicaId;

use crate::change::VersionVector;
use crate::columnar::BatchEncoder;
use crate::db::Database;
use crate::error::{Result, SyncError};
use crate::wire::{batches_with, Message};

/// A reply: a message, with its encoding when the batching already made it.
type Reply = (Message, Option<Vec<u8>>);

/// Settings of a [`Session`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Largest encoded size of one change batch (a single larger change is
    /// sent alone). Default 64 KiB.
    pub max_batch_bytes: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_batch_bytes: 64 * 1024,
        }
    }
}

/// One end of a sync connection.
#[derive(Debug)]
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
}

impl Session {
    /// A session of `db` (the peer is learned from its `Hello`).
    pub fn new(db: Arc<Database>, config: SyncConfig) -> Self {
        Session {
            db,
            config,
            peer: None,
            peer_known: None,
            acked: VersionVector::new(),
            encoder: BatchEncoder::new(),
        }
    }

    /// The encoder of the change batches this session sends (its cache
    /// counters show how often a batch needed a codec search).
    pub fn encoder(&self) -> &BatchEncoder {
        &self.encoder
    }

    /// Encodes a message with this session's batch encoder (see
    /// [`Message::encode_with`]); any peer decodes it with
    /// [`Message::decode`].
    pub fn encode(&mut self, message: &Message) -> Vec<u8> {
        message.encode_with(&mut self.encoder)
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
        }
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
        replies
            .into_iter()
            .map(|(m, bytes)| bytes.unwrap_or_else(|| self.encode(&m)))
            .collect()
    }

    fn poll_inner(&mut self) -> Vec<Reply> {
        let Some(known) = &self.peer_known else {
            return Vec::new();
        };
        let changes = self.db.changes_since(known);
        let collected = self.db.collected_since(known);
        if changes.is_empty() && collected.is_empty() {
            return Vec::new();
        }
        let known = self.peer_known.get_or_insert_with(VersionVector::new);
        for c in &changes {
            if c.seq > known.get(c.origin) {
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
        let mut out: Vec<Reply> = batches_with(
            &mut self.encoder,
            sender,
            version,
            changes,
            self.config.max_batch_bytes,
        )
        .into_iter()
        .map(|(m, bytes)| (m, Some(bytes)))
        .collect();
        if !collected.is_empty() {
            let m = Message::Changes {
                sender,
                schema_version: version,
                changes: Vec::new(),
                collected,
            };
            out.push((m, None));
        }
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
                // Resume from the peer's checkpoint.
                self.peer_known = Some(known);
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
                self.db.apply_batch(schema_version, changes, &collected)?;
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
                Ok(Vec::new())
            }
        }
    }

    /// Decodes and handles an encoded message; replies are encoded (with
    /// this session's batch encoder).
    ///
    /// # Errors
    /// [`SyncError::Decode`] or the errors of [`Session::handle`].
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        let msg = Message::decode(bytes)?;
        let replies = self.handle_inner(msg)?;
        Ok(self.encode_replies(replies))
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
    ea.send(a.hello().encode());
    eb.send(b.hello().encode());
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

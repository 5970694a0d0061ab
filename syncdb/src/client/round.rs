//! One round of sync over a [`Connection`]: the loop a client runs each
//! time it wakes up to talk to its server.

use std::time::Duration;

use crate::error::{Result, SyncError};
use crate::sync::Session;

use super::transport::Connection;

/// What one [`sync_round`] carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RoundStats {
    /// Messages sent to the server.
    pub messages_up: u64,
    /// Their encoded bytes.
    pub bytes_up: u64,
    /// Messages received from the server.
    pub messages_down: u64,
    /// Their encoded bytes.
    pub bytes_down: u64,
    /// Whether the round ended with every batch sent acknowledged by the
    /// server and everything the server acknowledged holding present here.
    pub complete: bool,
}

/// Runs one round of sync on an open connection: sends this side's
/// `Hello` (on a connection's `first` round) and the local changes not
/// sent yet, then handles what the server sends (its `Hello`, change
/// batches, acknowledgements) and sends the replies, until the round is
/// complete and the server is quiet.
///
/// On a connection's first round the server's `Hello` must arrive before
/// the round can complete. A later round on a kept connection (a live
/// profile) sends only new local changes and waits for their
/// acknowledgement; the server pushes its new changes on such a
/// connection by itself, and the round takes what already arrived.
///
/// The round is complete when the server acknowledged every change batch
/// sent to it (so every local change made before the round, except those
/// the session's send filter holds back) and this replica holds every
/// change the server acknowledged holding. Resumption is the session's:
/// a round cut short loses nothing, the next one (on a new connection)
/// starts from the server's checkpoint.
///
/// `timeout` bounds each wait for the server.
///
/// # Errors
/// [`SyncError::Transport`] when the connection fails or the server does
/// not answer within `timeout` while the round is incomplete; the errors
/// of [`Session::handle_bytes`] for a message from the server this side
/// refuses (then nothing of it was applied).
pub fn sync_round(
    session: &mut Session,
    conn: &mut dyn Connection,
    first: bool,
    timeout: Duration,
) -> Result<RoundStats> {
    let db = session.database().clone();
    let mut stats = RoundStats::default();
    // On a new connection the local changes go up as the answer to the
    // server's `Hello`, from its checkpoint.
    let mut out = if first {
        vec![session.hello_encoded()]
    } else {
        session.poll_encoded()
    };
    let mut heard = !first;
    loop {
        for m in out.drain(..) {
            stats.messages_up += 1;
            stats.bytes_up += m.len() as u64;
            conn.send(m)?;
        }
        let done = heard && session.awaiting_acks() == 0 && {
            let acked = session.acked().clone();
            db.version_vector().dominates(&acked)
        };
        // Once complete, only take what is already there.
        let wait = if done { Duration::ZERO } else { timeout };
        match conn.recv(wait)? {
            Some(bytes) => {
                heard = true;
                stats.messages_down += 1;
                stats.bytes_down += bytes.len() as u64;
                out = session.handle_bytes(&bytes)?;
            }
            None if done => {
                stats.complete = true;
                return Ok(stats);
            }
            None => {
                return Err(SyncError::Transport(
                    super::transport::TransportError::Timeout(timeout),
                ))
            }
        }
    }
}

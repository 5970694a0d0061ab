//! The snapshot decoder on arbitrary bytes: loading never panics, and a
//! loaded database saves a snapshot that loads again to the same rows and
//! saves the same bytes. Inputs opening with the snapshot magic also get
//! their checksum patched so that the fuzzer reaches the content behind it.
//! Other inputs are read as a small workload (two replicas writing, syncing
//! and collecting garbage) whose snapshot must round-trip, and that snapshot
//! with one byte changed (checksum patched) is loaded too. Saving runs the
//! codecs' selection, the costly part, so each input saves only a few times.
//! A loaded database must also converge with a fresh peer of its schema
//! after one sync.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::sim::sim_schema;
use unidb_syncdb::{sync_pair, Database, Session, SyncConfig, Value};

/// Syncs `db` with a fresh replica opened on its schema history; both must
/// then hold the same rows (when no change was garbage-collected).
fn converges_with_a_fresh_peer(db: Database) {
    // Collected changes are not sent again: only a full log converges.
    if !db.gc_frontier().is_empty() {
        return;
    }
    let db = Arc::new(db);
    let history = db.schema().history().to_vec();
    let Ok(peer) = Database::open(
        ReplicaId::from_u64(u64::MAX - 1),
        Arc::new(ManualClock::new(NOW_MS)),
        &history,
    ) else {
        return;
    };
    if peer.replica() == db.replica() {
        return;
    }
    let peer = Arc::new(peer);
    let (mut sa, mut sb) = (
        Session::new(db.clone(), SyncConfig::default()),
        Session::new(peer.clone(), SyncConfig::default()),
    );
    match sync_pair(&mut sa, &mut sb) {
        Ok(_) => {}
        // The fresh peer's clock is at NOW_MS; a log stamped further ahead
        // than the drift bound is refused by design, not a failure.
        Err(unidb_syncdb::SyncError::ClockSkew { .. }) => return,
        Err(e) => panic!("a loaded snapshot syncs: {e}"),
    }
    assert_eq!(peer.read().dump(), db.read().dump(), "fresh peer converged");
}

const NOW_MS: u64 = 1_700_000_000_000;

/// Loads `bytes`; an accepted snapshot must survive save → load → save.
fn load_and_resave(bytes: &[u8]) {
    let Ok(db) = Database::load_snapshot(bytes, Arc::new(ManualClock::new(NOW_MS))) else {
        return;
    };
    let once = db.save_snapshot();
    let again = Database::load_snapshot(&once, Arc::new(ManualClock::new(NOW_MS)))
        .expect("a saved snapshot loads");
    assert_eq!(again.read().dump(), db.read().dump(), "rows after reload");
    assert_eq!(again.version_vector(), db.version_vector());
    assert_eq!(again.save_snapshot(), once, "re-saved bytes");
    converges_with_a_fresh_peer(db);
}

/// Runs the bytes as operations (3 bytes each, at most 48) on two replicas
/// and checks that one replica's snapshot loads to the same state.
fn workload(data: &[u8]) {
    let clock = ManualClock::new(NOW_MS);
    let open = |id| {
        Arc::new(
            Database::open(
                ReplicaId::from_u64(id),
                Arc::new(clock.clone()),
                &sim_schema(),
            )
            .expect("built-in schema"),
        )
    };
    let (a, b) = (open(1), open(2));
    let (mut sa, mut sb) = (
        Session::new(a.clone(), SyncConfig::default()),
        Session::new(b.clone(), SyncConfig::default()),
    );
    for op in data.chunks_exact(3).take(48) {
        let (kind, key, arg) = (op[0], i64::from(op[1] % 16), op[2]);
        let db = if kind & 0x80 == 0 { &a } else { &b };
        clock.advance(u64::from(kind >> 5 & 3));
        let _ = match kind & 7 {
            0 | 1 => db.insert(
                "items",
                [
                    ("id", Value::I64(key)),
                    ("name", Value::from(format!("n{arg}"))),
                    ("price", Value::F64(f64::from(arg) / 4.0)),
                ],
            ),
            2 => db.update("items", key, [("done", Value::Bool(arg & 1 == 1))]),
            3 => db.update(
                "items",
                key,
                [(
                    "note",
                    if arg & 1 == 0 {
                        Value::Null
                    } else {
                        Value::from("x".repeat(usize::from(arg % 40)))
                    },
                )],
            ),
            4 => db.delete("items", key),
            5 => db.increment("items", key, "qty", i64::from(arg) - 128),
            6 => db.update("items", key, [("best", Value::I64(i64::from(arg)))]),
            _ => {
                sync_pair(&mut sa, &mut sb).expect("in-process sync");
                if arg & 1 == 1 {
                    a.collect_garbage();
                    b.collect_garbage();
                }
                Ok(())
            }
        };
    }
    let db = if data.len().is_multiple_of(2) { &a } else { &b };
    let bytes = db.save_snapshot();
    let back =
        Database::load_snapshot(&bytes, Arc::new(clock.clone())).expect("a saved snapshot loads");
    assert_eq!(back.read().dump(), db.read().dump(), "workload rows");
    assert_eq!(back.version_vector(), db.version_vector());
    assert_eq!(back.save_snapshot(), bytes, "workload re-save");
    // The snapshot with one byte changed (chosen by the input) and its
    // checksum patched reaches the decoder's content checks.
    if let (Some(&at), Some(&flip)) = (data.first(), data.last()) {
        let mut bad = bytes;
        let end = bad.len() - 4;
        let i = (usize::from(at) * 257 + data.len()) % end;
        bad[i] ^= flip | 1;
        let crc = crc32fast::hash(&bad[..end]);
        bad[end..].copy_from_slice(&crc.to_le_bytes());
        load_and_resave(&bad);
    }
}

fuzz_target!(|data: &[u8]| {
    load_and_resave(data);
    if data.starts_with(b"USNP") {
        if data.len() >= 9 {
            let mut patched = data.to_vec();
            let end = patched.len() - 4;
            let crc = crc32fast::hash(&patched[..end]);
            patched[end..].copy_from_slice(&crc.to_le_bytes());
            load_and_resave(&patched);
        }
    } else {
        workload(data);
    }
});

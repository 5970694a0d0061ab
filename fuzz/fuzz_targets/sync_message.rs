//! The sync message decoder on arbitrary bytes: never panics, accepts only
//! canonical encodings (an accepted message re-encodes to exactly its input),
//! and a decoded batch applied to a database either applies or is refused
//! whole, leaving the database unchanged.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::sim::sim_schema;
use unidb_syncdb::{Database, Message, Session, SyncConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    assert_eq!(msg.encode(), data, "accepted input is not canonical");
    let clock = ManualClock::new(1_700_000_000_000);
    let db = Arc::new(
        Database::open(ReplicaId::from_u64(u64::MAX), Arc::new(clock), &sim_schema())
            .expect("built-in schema"),
    );
    let before = db.read().dump();
    let mut session = Session::new(db.clone(), SyncConfig::default());
    if session.handle(msg).is_err() {
        assert_eq!(db.read().dump(), before, "a refused message changed the database");
        assert_eq!(db.log_len(), 0);
    }
});

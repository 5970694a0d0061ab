//! The sync message decoder on arbitrary bytes: never panics, an accepted
//! message survives re-encoding (decodes to itself again), and a decoded
//! batch applied to a database either applies or is refused whole, leaving
//! the database unchanged. The columnar change-batch decoder is also run on
//! the raw input, and change-batch messages get their checksum patched so
//! that the fuzzer reaches the columns behind it. Two fresh replicas that
//! accept the same message hold the same rows afterwards.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_codec::Effort;
use unidb_syncdb::columnar::{decode_changes, encode_changes};
use unidb_syncdb::sim::sim_schema;
use unidb_syncdb::{Database, Message, Session, SyncConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(changes) = decode_changes(data) {
        let again = encode_changes(&changes, Effort::Fast);
        assert_eq!(decode_changes(&again).unwrap(), changes, "batch round trip");
    }
    let mut patched = data.to_vec();
    if patched.len() >= 8 && patched.starts_with(b"US\x02\x03") {
        let end = patched.len() - 4;
        let crc = crc32fast::hash(&patched[..end]);
        patched[end..].copy_from_slice(&crc.to_le_bytes());
    }
    for input in [data, &patched[..]] {
        let Ok(msg) = Message::decode(input) else {
            continue;
        };
        assert_eq!(
            Message::decode(&msg.encode()).unwrap(),
            msg,
            "message round trip"
        );
        let clock = ManualClock::new(1_700_000_000_000);
        let db = Arc::new(
            Database::open(
                ReplicaId::from_u64(u64::MAX),
                Arc::new(clock),
                &sim_schema(),
            )
            .expect("built-in schema"),
        );
        let before = db.read().dump();
        let mut session = Session::new(db.clone(), SyncConfig::default());
        let twin = Arc::new(
            Database::open(
                ReplicaId::from_u64(u64::MAX - 1),
                Arc::new(ManualClock::new(1_700_000_000_000)),
                &sim_schema(),
            )
            .expect("built-in schema"),
        );
        let twin_ok = Session::new(twin.clone(), SyncConfig::default())
            .handle(msg.clone())
            .is_ok();
        if session.handle(msg).is_ok() {
            assert!(twin_ok, "one replica accepted what the other refused");
            assert_eq!(twin.read().dump(), db.read().dump(), "replicas diverged");
        } else {
            assert_eq!(
                db.read().dump(),
                before,
                "a refused message changed the database"
            );
            assert_eq!(db.log_len(), 0);
        }
    }
});

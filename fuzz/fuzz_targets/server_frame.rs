//! What a client can send the server: the HTTP request head, the token,
//! and sync frames handled by a connection's session (before and after
//! its Hello) on an in-memory partition whose rows are placed by a
//! partition column (so hostile batches also meet the rule check). Never
//! panics; a refused frame changes nothing.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use unidb_common::id::ReplicaId;
use unidb_server::auth::{AuthFile, Rights};
use unidb_server::partition::{Partition, PartitionRules, TableRule};
use unidb_server::storage::{MemoryStorage, Storage};
use unidb_syncdb::{Session, SyncConfig};

fn auth() -> &'static AuthFile {
    static A: OnceLock<AuthFile> = OnceLock::new();
    A.get_or_init(|| {
        let mut a = AuthFile::generate().unwrap();
        a.grant("u", "p", Rights::ReadWrite).unwrap();
        a
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = unidb_server::http::parse_head(data);
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(auth().verify(token, 0).is_err(), "no forged token verifies");
    }
    let storage = MemoryStorage::new();
    let opened = storage.open("p").unwrap();
    let mut rules = PartitionRules::default();
    rules.tables.insert("load".into(), TableRule::Column("note".into()));
    let partition = Partition::recover("p", opened, ReplicaId::from_u64(1), &unidb_server::load::schema())
        .unwrap()
        .with_rules(Arc::new(rules))
        .unwrap();
    let before = partition.database().read().dump();
    for greeted in [false, true] {
        let mut session = Session::new(Arc::clone(partition.database()), SyncConfig::default());
        let r = unidb_server::handle_frame(&partition, &mut session, Rights::ReadWrite, data, greeted);
        if r.is_err() {
            assert_eq!(partition.database().read().dump(), before);
        }
    }
});

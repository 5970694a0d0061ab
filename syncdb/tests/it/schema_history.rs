//! A snapshot whose stored schema history was changed (a flipped byte with
//! the checksum recomputed) either fails to load with a typed error, or
//! loads a valid schema that a sync with a replica of the original schema
//! refuses with a typed error: it never silently diverges.

use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::sim::sim_schema;
use unidb_syncdb::*;

fn original(clock: &ManualClock) -> Arc<Database> {
    let a = Database::open(
        ReplicaId::from_u64(1),
        Arc::new(clock.clone()),
        &sim_schema(),
    )
    .unwrap();
    for i in 0..5i64 {
        a.insert(
            "items",
            [
                ("id", Value::I64(i)),
                ("name", Value::from(format!("n{i}"))),
                ("price", Value::F64(1.5)),
            ],
        )
        .unwrap();
    }
    Arc::new(a)
}

/// The snapshot with byte `i` xor `flip` and its CRC-32 recomputed.
fn mutated(bytes: &[u8], i: usize, flip: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[i] ^= flip;
    let end = b.len() - 4;
    let crc = crc32fast::hash(&b[..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Where the schema history ends in a snapshot of `db`: the first byte
/// whose mutation can no longer change the history.
fn history_end(db: &Database, bytes: &[u8]) -> usize {
    let mut probe = Vec::new();
    for m in db.schema().history() {
        probe.extend_from_slice(
            &Message::Migrations {
                from_version: 0,
                migrations: vec![m.clone()],
            }
            .encode()[6..],
        );
    }
    let at = bytes
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the history is stored as in a Migrations message");
    at + probe.len()
}

#[test]
fn a_changed_schema_history_is_refused_or_detected_by_the_peer() {
    let clock = ManualClock::new(1_000);
    let a = original(&clock);
    let bytes = a.save_snapshot();
    let end = history_end(&a, &bytes);
    let (mut refused, mut same, mut detected) = (0, 0, 0);
    for i in 5..end {
        for flip in [1u8, 2, 4, 8, 16, 32, 64, 128] {
            let b =
                match Database::load_snapshot(&mutated(&bytes, i, flip), Arc::new(clock.clone())) {
                    Err(_) => {
                        refused += 1;
                        continue;
                    }
                    Ok(b) => Arc::new(b),
                };
            if b.schema().history() == a.schema().history() {
                same += 1;
                continue;
            }
            detected += 1;
            assert_eq!(b.schema_version(), a.schema_version());
            // A replica of the original schema, at the same version.
            let peer = Arc::new(
                Database::open(
                    ReplicaId::from_u64(9),
                    Arc::new(clock.clone()),
                    &sim_schema(),
                )
                .unwrap(),
            );
            let (before_b, before_peer) = (b.read().dump(), peer.read().dump());
            let (mut sb, mut sp) = (
                Session::new(b.clone(), SyncConfig::default()),
                Session::new(peer.clone(), SyncConfig::default()),
            );
            let err = sync_pair(&mut sb, &mut sp).expect_err("byte {i} ^ {flip}: synced");
            assert!(
                matches!(err, SyncError::InvalidSchema { .. }),
                "byte {i} ^ {flip}: {err}"
            );
            assert_eq!(b.read().dump(), before_b);
            assert_eq!(peer.read().dump(), before_peer);
        }
    }
    println!("{refused} refused, {same} same history, {detected} refused by the peer");
    assert!(detected > 0 && refused > 0);
}

#[test]
fn a_peer_at_a_higher_version_refuses_a_changed_history() {
    let clock = ManualClock::new(1_000);
    let a = original(&clock);
    // The table name "items" with its first letter changed, checksum fixed.
    let bytes = a.save_snapshot();
    let at = bytes.windows(5).position(|w| w == b"items").unwrap();
    let b = Database::load_snapshot(&mutated(&bytes, at, 1), Arc::new(clock.clone())).unwrap();
    assert!(b.schema().table("htems").is_ok());
    let b = Arc::new(b);
    // A replica of the original schema, one migration further.
    let d = Arc::new(
        Database::open(
            ReplicaId::from_u64(4),
            Arc::new(clock.clone()),
            &sim_schema(),
        )
        .unwrap(),
    );
    d.migrate(Migration::AddColumn {
        table: "items".into(),
        column: ColumnDef::new("extra", ColumnType::I64).nullable(),
    })
    .unwrap();
    assert_eq!(d.schema_version(), b.schema_version() + 1);
    let (mut sd, mut sb) = (
        Session::new(d.clone(), SyncConfig::default()),
        Session::new(b.clone(), SyncConfig::default()),
    );
    let before = b.read().dump();
    let err = sync_pair(&mut sb, &mut sd).unwrap_err();
    assert!(matches!(err, SyncError::InvalidSchema { .. }), "{err}");
    assert_eq!(b.read().dump(), before);
    assert_eq!(b.schema_version() + 1, d.schema_version());
    // Histories that agree still sync, across versions.
    let c = Arc::new(
        Database::open(
            ReplicaId::from_u64(3),
            Arc::new(clock.clone()),
            &sim_schema(),
        )
        .unwrap(),
    );
    let mut sc = Session::new(c.clone(), SyncConfig::default());
    let mut sd = Session::new(d.clone(), SyncConfig::default());
    sync_pair(&mut sc, &mut sd).unwrap();
    assert_eq!(c.read().dump(), d.read().dump());
    assert_eq!(c.schema_version(), d.schema_version());
}

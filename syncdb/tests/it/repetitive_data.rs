//! Whatever the encoders write decodes: highly repetitive rows (the same
//! long note on every row, one huge value, long runs) survive a snapshot
//! save and open, a change batch, a sync message and a sync to a fresh
//! peer, which converges.

use std::sync::Arc;

use unidb_codec::{Budget, Effort};
use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::columnar::{decode_changes, encode_changes};
use unidb_syncdb::*;

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("note", ColumnType::Text).default_value(""))
            .column(
                ColumnDef::new("blob", ColumnType::Bytes).default_value(Value::Bytes(Vec::new())),
            )
            .column(ColumnDef::new("n", ColumnType::I64).default_value(Value::I64(0))),
    )]
}

fn db(id: u64, clock: &ManualClock) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema()).unwrap())
}

/// `rows` rows whose `note` is the same `len`-byte string (and, with
/// `blob`, the same 4 KiB of bytes), inserted in transactions of 500.
fn repetitive_db(rows: i64, len: usize, blob: bool) -> (ManualClock, Arc<Database>) {
    let clock = ManualClock::new(1_000);
    let a = db(1, &clock);
    let note = "n".repeat(len - 1) + "!";
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        let mut tx = a.transaction();
        for &i in chunk {
            let mut cols: Vec<(&str, Value)> = vec![
                ("id", Value::I64(i)),
                ("note", Value::Text(note.clone())),
                ("n", Value::I64(7)),
            ];
            if blob {
                cols.push(("blob", Value::Bytes(vec![0xAB; 4096])));
            }
            tx.insert("t", cols);
        }
        tx.commit().unwrap();
        clock.advance(1);
    }
    (clock, a)
}

#[test]
fn snapshot_of_identical_long_notes_opens() {
    // 2000 rows whose note is the same 1000-byte string: the snapshot was
    // written in 799 bytes and refused on open.
    for (rows, blob) in [(2000, false), (20_000, false), (3000, true)] {
        let (clock, a) = repetitive_db(rows, 1000, blob);
        let bytes = a.save_snapshot();
        let b = Database::load_snapshot(&bytes, Arc::new(clock.clone()))
            .unwrap_or_else(|e| panic!("{rows} rows ({} bytes): {e}", bytes.len()));
        assert_eq!(b.read().dump(), a.read().dump());
        assert_eq!(b.version_vector(), a.version_vector());
        // Through a file, too.
        let path = std::env::temp_dir().join(format!(
            "unidb-repetitive-{}-{rows}.snap",
            std::process::id()
        ));
        a.save_snapshot_to(&path).unwrap();
        let c = Database::open_snapshot(&path, Arc::new(clock.clone())).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(c.read().dump(), a.read().dump());
    }
}

#[test]
fn one_huge_value_round_trips() {
    let clock = ManualClock::new(1_000);
    let a = db(1, &clock);
    let huge = "abc ".repeat(1 << 20);
    a.insert("t", [("id", Value::I64(1)), ("note", Value::Text(huge))])
        .unwrap();
    let b = Database::load_snapshot(&a.save_snapshot(), Arc::new(clock.clone())).unwrap();
    assert_eq!(b.read().dump(), a.read().dump());
}

#[test]
fn repetitive_batches_and_messages_decode() {
    let (_, a) = repetitive_db(5000, 1000, false);
    let changes = a.changes_since(&VersionVector::default());
    for effort in [Effort::Fast, Effort::Max] {
        let bytes = encode_changes(&changes, effort);
        // Padded only as far as the decode budget of its length needs.
        assert!(
            bytes.len() < changes.len() * 1000 / Budget::FACTOR + 4096,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(decode_changes(&bytes).unwrap(), changes);
    }
    let msg = Message::Changes {
        sender: a.replica(),
        schema_version: a.schema_version(),
        changes: changes.clone(),
        collected: Vec::new(),
    };
    assert_eq!(Message::decode(&msg.encode()).unwrap(), msg);
    // Split into batches of at most 64 KiB: each decodes.
    for m in wire::batches(a.replica(), a.schema_version(), changes, 64 << 10) {
        let bytes = m.encode();
        assert!(bytes.len() <= 64 << 10);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }
}

#[test]
fn sync_of_identical_long_notes_to_a_fresh_peer_converges() {
    let (clock, a) = repetitive_db(2000, 1000, true);
    let b = db(2, &clock);
    for max_batch_bytes in [64 << 10, 1 << 20] {
        let cfg = SyncConfig {
            max_batch_bytes,
            ..SyncConfig::default()
        };
        let (mut sa, mut sb) = (
            Session::new(a.clone(), cfg.clone()),
            Session::new(b.clone(), cfg),
        );
        sync_pair(&mut sa, &mut sb).unwrap();
        assert_eq!(b.read().dump(), a.read().dump());
        assert_eq!(b.version_vector(), a.version_vector());
    }
}

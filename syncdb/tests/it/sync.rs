//! Sessions over the in-process transport, and snapshots of the replicas
//! they leave.

use std::sync::Arc;

use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;

use unidb_syncdb::*;

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("v", ColumnType::Text).default_value(""))
            .column(ColumnDef::new("n", ColumnType::I64).resolver("counter")),
    )]
}

fn node(id: u64, clock: &ManualClock) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), &schema()).unwrap())
}

#[test]
fn server_relays_union_and_sends_only_what_is_lacking() {
    let clock = ManualClock::new(5_000);
    let server = node(100, &clock);
    let (a, b) = (node(1, &clock), node(2, &clock));
    for i in 0..50i64 {
        a.insert("t", [("id", Value::I64(i)), ("v", format!("a{i}").into())])
            .unwrap();
    }
    for i in 25..75i64 {
        clock.advance(1);
        let _ = b.insert("t", [("id", Value::I64(i)), ("v", format!("b{i}").into())]);
        b.increment("t", i, "n", 2).unwrap();
    }
    let cfg = SyncConfig {
        max_batch_bytes: 512,
        ..SyncConfig::default()
    };
    let (mut sa, mut s_a) = (
        Session::new(a.clone(), cfg.clone()),
        Session::new(server.clone(), cfg.clone()),
    );
    let (mut sb, mut s_b) = (
        Session::new(b.clone(), cfg.clone()),
        Session::new(server.clone(), cfg),
    );
    sync_pair(&mut sa, &mut s_a).unwrap();
    sync_pair(&mut sb, &mut s_b).unwrap();
    sync_pair(&mut sa, &mut s_a).unwrap();
    assert_eq!(a.read().dump(), server.read().dump());
    assert_eq!(b.read().dump(), server.read().dump());
    assert_eq!(server.read().count("t").unwrap(), 75);
    assert_eq!(s_a.acked(), &server.version_vector());
    // Nothing left to send: a new handshake exchanges only Hellos (and no Acks).
    let n = sync_pair(&mut sb, &mut s_b).unwrap();
    assert_eq!(n, 2);
    // New writes flow with poll() after the handshake.
    a.update("t", 3i64, [("v", Value::from("new"))]).unwrap();
    let msgs = sa.poll();
    assert_eq!(msgs.len(), 1);
    for m in msgs {
        let replies = s_a.handle(m).unwrap();
        assert!(matches!(replies[..], [Message::Ack { .. }]));
    }
    assert!(sa.poll().is_empty());
}

#[test]
fn older_schema_refuses_then_migrates_on_handshake() {
    let clock = ManualClock::new(5_000);
    let (a, b) = (node(1, &clock), node(2, &clock));
    a.migrate(Migration::AddColumn {
        table: "t".into(),
        column: ColumnDef::new("w", ColumnType::Bool).default_value(true),
    })
    .unwrap();
    a.insert("t", [("id", Value::I64(1)), ("w", Value::Bool(false))])
        .unwrap();
    let mut sa = Session::new(a.clone(), SyncConfig::default());
    let mut sb = Session::new(b.clone(), SyncConfig::default());
    // b receives a's changes before the migrations: a clear refusal.
    let batch = Message::Changes {
        sender: a.replica(),
        schema_version: 2,
        changes: a.changes_since(&VersionVector::new()),
        collected: Vec::new(),
    };
    let err = sb.handle(batch).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::SchemaTooNew {
                local: 1,
                remote: 2
            }
        ),
        "{err}"
    );
    assert_eq!(b.log_len(), 0);
    sync_pair(&mut sa, &mut sb).unwrap();
    assert_eq!(b.schema_version(), 2);
    assert_eq!(a.read().dump(), b.read().dump());
    assert_eq!(
        b.read().get("t", &Value::I64(1)).unwrap().unwrap()["w"],
        Value::Bool(false)
    );
}

#[test]
fn hostile_messages_change_nothing() {
    let clock = ManualClock::new(5_000);
    let (a, b) = (node(1, &clock), node(2, &clock));
    a.insert("t", [("id", Value::I64(1))]).unwrap();
    let mut sb = Session::new(b.clone(), SyncConfig::default());
    let good = Message::Changes {
        sender: a.replica(),
        schema_version: 1,
        changes: a.changes_since(&VersionVector::new()),
        collected: Vec::new(),
    }
    .encode();
    // Every single-byte corruption either decodes to something valid or is
    // a typed error; none panics, and errors leave b untouched.
    for i in 0..good.len() {
        for x in [0x00u8, 0x01, 0x7f, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= x.max(1);
            let before = b.log_len();
            if sb.handle_bytes(&bad).is_err() {
                assert_eq!(b.log_len(), before);
            }
        }
    }
    // A message claiming to be from b itself is refused.
    let fake = Message::Ack {
        replica: b.replica(),
        known: VersionVector::new(),
        gc: VersionVector::new(),
    };
    assert!(matches!(sb.handle(fake), Err(SyncError::Protocol { .. })));
}

#[test]
fn tombstones_are_collected_once_every_replica_acknowledged() {
    let clock = ManualClock::new(5_000);
    let server = node(100, &clock);
    let clients: Vec<Arc<Database>> = (1..=3).map(|i| node(i, &clock)).collect();
    let mut pairs: Vec<(Session, Session)> = clients
        .iter()
        .map(|c| {
            (
                Session::new(c.clone(), SyncConfig::default()),
                Session::new(server.clone(), SyncConfig::default()),
            )
        })
        .collect();
    for i in 0..30i64 {
        let c = &clients[(i % 3) as usize];
        c.insert("t", [("id", Value::I64(i)), ("v", format!("v{i}").into())])
            .unwrap();
        c.update("t", i, [("v", Value::from("again"))]).unwrap();
    }
    let sync_all = |pairs: &mut Vec<(Session, Session)>| {
        for (a, b) in pairs.iter_mut() {
            sync_pair(a, b).unwrap();
        }
    };
    sync_all(&mut pairs);
    sync_all(&mut pairs);
    // A stale write made before seeing the delete, held back "in flight".
    clients[1]
        .update("t", 0i64, [("v", Value::from("stale"))])
        .unwrap();
    let stale = clients[1].changes_since(&server.version_vector());
    for i in (0..30i64).step_by(2) {
        clients[0].delete("t", i).unwrap();
    }
    let before = server.log_len();
    // Nothing is collected until every replica acknowledged the deletes.
    {
        let (a, b) = &mut pairs[0];
        sync_pair(a, b).unwrap();
    }
    assert_eq!(server.collect_garbage(), 0);
    assert_eq!(server.collect_garbage(), 0);
    let mut collected = 0;
    for _ in 0..3 {
        sync_all(&mut pairs);
        collected += server.collect_garbage();
        for c in &clients {
            c.collect_garbage();
        }
    }
    sync_all(&mut pairs);
    for c in &clients {
        c.collect_garbage();
    }
    assert!(collected >= 15 * 3, "collected {collected}");
    assert!(
        server.log_len() < before,
        "{} >= {before}",
        server.log_len()
    );
    let dump = server.read().dump();
    assert_eq!(dump["t"].len(), 15);
    for c in &clients {
        assert_eq!(c.read().dump(), dump);
        assert_eq!(c.version_vector(), server.version_vector());
        assert!(c.log_len() < before);
    }
    // The late duplicate of the stale write changes nothing anywhere.
    for db in clients.iter().chain([&server]) {
        assert_eq!(db.apply_changes(1, &stale).unwrap(), 0);
        assert!(db.read().get("t", &Value::I64(0)).unwrap().is_none());
    }
    // A replica joining after collection converges, version vector included.
    let late = node(9, &clock);
    let (mut a, mut b) = (
        Session::new(late.clone(), SyncConfig::default()),
        Session::new(server.clone(), SyncConfig::default()),
    );
    sync_pair(&mut a, &mut b).unwrap();
    assert_eq!(late.read().dump(), dump);
    assert_eq!(late.version_vector(), server.version_vector());
    // Re-inserting a collected key starts a newer life everywhere.
    late.insert("t", [("id", Value::I64(0)), ("v", Value::from("reborn"))])
        .unwrap();
    sync_pair(&mut a, &mut b).unwrap();
    sync_all(&mut pairs);
    for db in clients.iter().chain([&server]) {
        assert_eq!(
            db.read().get("t", &Value::I64(0)).unwrap().unwrap()["v"],
            Value::from("reborn")
        );
    }
}

/// Three clients and a server making random inserts, updates, deletes and
/// increments with syncs and garbage collection in between (so the logs
/// hold collected ranges and tombstones).
fn random_world(
    seed: u64,
    ops: usize,
) -> (ManualClock, Vec<Arc<Database>>, Vec<(Session, Session)>) {
    let mut rng = unidb_common::rng::SplitMix64::new(seed);
    let clock = ManualClock::new(5_000);
    let server = node(100, &clock);
    let clients: Vec<Arc<Database>> = (1..=3).map(|i| node(i, &clock)).collect();
    let mut pairs: Vec<(Session, Session)> = clients
        .iter()
        .map(|c| {
            let cfg = SyncConfig {
                max_batch_bytes: 300,
                ..SyncConfig::default()
            };
            (
                Session::new(c.clone(), cfg.clone()),
                Session::new(server.clone(), cfg),
            )
        })
        .collect();
    for step in 0..ops {
        let c = &clients[rng.below(3) as usize];
        let key = rng.below(12) as i64;
        clock.advance(rng.below(3));
        let _ = match rng.below(5) {
            0 | 1 => c.insert(
                "t",
                [
                    ("id", Value::I64(key)),
                    ("v", format!("v{}", rng.below(50)).into()),
                ],
            ),
            2 => c.update("t", key, [("v", Value::from(format!("u{step}")))]),
            3 => c.delete("t", key),
            _ => c.increment("t", key, "n", rng.below(7) as i64 - 3),
        };
        if rng.chance(0.1) {
            let i = rng.below(3) as usize;
            let (a, b) = &mut pairs[i];
            sync_pair(a, b).unwrap();
            server.collect_garbage();
            clients[i].collect_garbage();
        }
    }
    let mut all = clients;
    all.push(server);
    (clock, all, pairs)
}

#[test]
fn snapshots_restore_state_and_merge_behaviour() {
    for seed in 0..6 {
        let (clock, dbs, _) = random_world(100 + seed, 250);
        for (i, db) in dbs.iter().enumerate() {
            let bytes = db.save_snapshot();
            let back = Arc::new(Database::load_snapshot(&bytes, Arc::new(clock.clone())).unwrap());
            assert_eq!(back.read().dump(), db.read().dump(), "seed {seed} db {i}");
            assert_eq!(back.replica(), db.replica());
            assert_eq!(back.version_vector(), db.version_vector());
            assert_eq!(back.gc_frontier(), db.gc_frontier());
            assert_eq!(back.schema_version(), db.schema_version());
            let all = VersionVector::new();
            assert_eq!(back.changes_since(&all), db.changes_since(&all));
            assert_eq!(back.collected_since(&all), db.collected_since(&all));
            assert!(back.hlc().last() >= db.hlc().last());
            assert_eq!(
                back.save_snapshot(),
                bytes,
                "a reloaded snapshot saves the same bytes"
            );
            // Then the same later edits from elsewhere merge the same way.
            let other = &dbs[(i + 1) % dbs.len()];
            let _ = other.insert("t", [("id", Value::I64(99)), ("v", Value::from("late"))]);
            let _ = other.increment("t", 99i64, "n", 5);
            let _ = other.delete("t", 3i64);
            let later = other.changes_since(&db.version_vector());
            let (x, y) = (db.apply_changes(1, &later), back.apply_changes(1, &later));
            assert_eq!(x.map_err(|e| e.to_string()), y.map_err(|e| e.to_string()));
            assert_eq!(
                back.read().dump(),
                db.read().dump(),
                "seed {seed} db {i} after merge"
            );
            assert_eq!(back.version_vector(), db.version_vector());
            // And a session with a peer converges from the snapshot.
            let peer = node(50 + i as u64, &clock);
            let (mut a, mut b) = (
                Session::new(back.clone(), SyncConfig::default()),
                Session::new(peer.clone(), SyncConfig::default()),
            );
            sync_pair(&mut a, &mut b).unwrap();
            assert_eq!(peer.read().dump(), back.read().dump());
        }
    }
}

#[test]
fn snapshot_truncation_and_corruption_are_errors() {
    let (clock, dbs, _) = random_world(7, 200);
    let bytes = dbs[3].save_snapshot();
    let open = |b: &[u8]| Database::load_snapshot(b, Arc::new(clock.clone()));
    assert!(open(&bytes).is_ok());
    let step = bytes.len().div_ceil(300).max(1);
    for cut in (0..bytes.len()).step_by(step) {
        assert!(
            matches!(open(&bytes[..cut]), Err(SyncError::Decode { .. })),
            "prefix of {cut} bytes"
        );
    }
    let mut rng = unidb_common::rng::SplitMix64::new(1);
    for i in (0..bytes.len()).step_by(step) {
        let mut bad = bytes.clone();
        bad[i] ^= 1 + rng.below(255) as u8;
        assert!(
            matches!(open(&bad), Err(SyncError::Decode { .. })),
            "flip at byte {i}"
        );
    }
    let mut v3 = bytes.clone();
    v3[4] = 3;
    let err = open(&v3).unwrap_err().to_string();
    assert!(err.contains("version 3"), "{err}");
}

/// The session metrics agree with what crossed the wire, counted here
/// independently.
#[test]
fn session_metrics_count_what_crossed_the_wire() {
    let clock = ManualClock::new(5_000);
    let (a, b) = (node(1, &clock), node(2, &clock));
    let shared = Arc::new(unidb_common::metrics::Metrics::new());
    let mut sa = Session::with_metrics(a.clone(), SyncConfig::default(), shared.clone());
    let mut sb = Session::new(b.clone(), SyncConfig::default());
    for i in 0..20i64 {
        a.insert("t", [("id", Value::I64(i)), ("v", format!("a{i}").into())])
            .unwrap();
    }
    // Pump by hand, counting messages and bytes each way.
    let (mut a_to_b, mut b_to_a) = (vec![sa.hello_encoded()], vec![sb.hello_encoded()]);
    let (mut sent, mut sent_bytes, mut received, mut received_bytes) = (0u64, 0u64, 0u64, 0u64);
    while !a_to_b.is_empty() || !b_to_a.is_empty() {
        let mut next_a_to_b = Vec::new();
        for m in b_to_a.drain(..) {
            received += 1;
            received_bytes += m.len() as u64;
            for r in sa.handle_bytes(&m).unwrap() {
                sent += 1;
                sent_bytes += r.len() as u64;
                next_a_to_b.push(r);
            }
        }
        for m in a_to_b.drain(..) {
            b_to_a.extend(sb.handle_bytes(&m).unwrap());
        }
        a_to_b = next_a_to_b;
    }
    assert_eq!(a.read().dump(), b.read().dump());
    let snap = shared.snapshot();
    assert_eq!(snap.counters["sync.messages_in"], received);
    assert_eq!(snap.counters["sync.bytes_in"], received_bytes);
    assert_eq!(snap.counters["sync.messages_out"], sent);
    assert_eq!(snap.counters["sync.bytes_out"], sent_bytes);
    // 20 rows of two columns (id is the key, `n` keeps its default).
    let changes = a.changes_since(&VersionVector::new()).len() as u64;
    assert_eq!(snap.counters["sync.changes_out"], changes);
    assert_eq!(sb.metrics().snapshot().counters["sync.changes_in"], changes);
    assert_eq!(snap.gauges["sync.pending_changes"], 0);
    assert!(snap.histograms["sync.encode_ns"].count >= 1);

    // Written but not yet acknowledged: pending.
    a.update("t", 3i64, [("v", Value::from("x"))]).unwrap();
    let out = sa.poll_encoded();
    assert!(!out.is_empty());
    assert_eq!(shared.snapshot().gauges["sync.pending_changes"], 1);
    // A corrupt message is counted as received and rejected.
    assert!(sa.handle_bytes(&[0xff, 0, 1]).is_err());
    let snap = shared.snapshot();
    assert_eq!(snap.counters["sync.rejected"], 1);
    assert_eq!(snap.counters["sync.messages_in"], received + 1);
}

/// `SyncConfig` loads from JSON through common's config, which names a
/// misspelt or out-of-range field.
#[test]
fn sync_config_loads_and_validates_through_common_config() {
    use unidb_common::config::{from_json_str, Profiles};
    let c: SyncConfig = from_json_str(r#"{"max_batch_bytes": 4096}"#, "sync.json").unwrap();
    assert_eq!(c.max_batch_bytes, 4096);
    let d: SyncConfig = from_json_str("{}", "sync.json").unwrap();
    assert_eq!(d, SyncConfig::default());
    let e = from_json_str::<SyncConfig>(r#"{"max_batch_byte": 4096}"#, "sync.json").unwrap_err();
    assert!(e.to_string().contains("max_batch_byte"), "{e}");
    let e = from_json_str::<SyncConfig>(r#"{"max_batch_bytes": 10}"#, "sync.json").unwrap_err();
    assert_eq!(e.location(), Some("max_batch_bytes"));
    let p = Profiles::new(&SyncConfig::default())
        .unwrap()
        .with_profile("metered", serde_json::json!({"max_batch_bytes": 8192}))
        .unwrap();
    assert_eq!(p.resolve("metered").unwrap().max_batch_bytes, 8192);
}

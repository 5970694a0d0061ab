//! Sync database: convergence under a faulty network, user resolvers, clock skew.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use unidb_common::id::ReplicaId;
use unidb_common::time::{Clock, ManualClock};
use unidb_registry::{plugin_info, submit, Plugin, PluginKind};
use unidb_syncdb::sim::{reference_model, simulate, SimConfig};
use unidb_syncdb::{
    sync_pair, Cell, ColumnDef, ColumnType, Database, Message, Migration, Register, Resolver,
    Session, SyncConfig, SyncError, TableDef, Value, VersionVector,
};

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Thousands of seeded simulations: 3-5 replicas and a server, random
/// writes and migrations offline, a network that drops, duplicates and
/// reorders; after healing all replicas equal the reference model and no
/// acknowledged write is lost.
#[test]
fn replicas_converge_under_faulty_network() {
    let n = cases(256) * 8;
    let (mut messages, mut migrated, mut refused, mut collected) = (0, 0, 0, 0);
    let mut active = 0usize;
    for seed in 0..u64::from(n) {
        let cfg = SimConfig {
            replicas: 3 + (seed % 3) as usize,
            ops: 20 + (seed * 7 % 50) as usize,
            seed,
            drop: [0.0, 0.1, 0.3, 0.5][(seed % 4) as usize],
            duplicate: [0.0, 0.2, 0.5][(seed % 3) as usize],
            reorder: [0.0, 0.3, 0.8][(seed / 3 % 3) as usize],
            max_batch_bytes: [64, 256, 4096][(seed % 5 % 3) as usize],
            migrations: seed % 2 == 0,
            keys: 4 + seed % 8,
            gc: seed % 3 != 1,
        };
        let r = simulate(&cfg).unwrap();
        assert!(r.converged, "seed {seed}: diverged: {r:?}");
        assert!(
            r.matches_reference,
            "seed {seed}: differs from the reference model: {r:?}"
        );
        assert_eq!(r.lost_acked_writes, 0, "seed {seed}: {r:?}");
        // A short run can draw no successful write by chance (20 attempts,
        // 35% inserts: 0.65^20 ≈ 2e-4 per run), so this is counted, not asserted per seed.
        active += usize::from(r.committed > 0 && r.changes > 0);
        messages += r.messages;
        migrated += usize::from(r.schema_version > 1);
        refused += r.refused;
        collected += r.collected;
    }
    assert!(
        active * 10 > n as usize * 9,
        "only {active} of {n} runs wrote anything"
    );
    assert!(messages > u64::from(n) * 10);
    assert!(collected > 0, "garbage collection never ran");
    // Migrations happened offline and batches ahead of a schema were refused, then healed.
    assert!(
        migrated > n as usize / 8 && refused > 0,
        "{migrated} runs migrated, {refused} refusals"
    );
}

#[test]
fn simulation_faults_really_happen() {
    let r = simulate(&SimConfig {
        replicas: 4,
        ops: 200,
        seed: 42,
        drop: 0.3,
        duplicate: 0.3,
        reorder: 0.5,
        ..SimConfig::default()
    })
    .unwrap();
    assert!(r.dropped > 0 && r.duplicated > 0, "{r:?}");
    assert!(r.schema_version > 1, "migrations travelled: {r:?}");
    assert!(
        r.converged && r.matches_reference && r.lost_acked_writes == 0,
        "{r:?}"
    );
    // Same seed, same run.
    let again = simulate(&SimConfig {
        replicas: 4,
        ops: 200,
        seed: 42,
        drop: 0.3,
        duplicate: 0.3,
        reorder: 0.5,
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(r, again);
}

/// A resolver defined in this (user) crate: the longest text wins.
fn longest(a: &Register, b: &Register) -> Ordering {
    let len = |r: &Register| r.value.as_text().map_or(0, str::len);
    len(a).cmp(&len(b))
}
submit!(Resolver::register(
    plugin_info!("it-longest", "longest text wins"),
    longest
));

fn notes_schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("notes", "id", ColumnType::Text)
            .column(
                ColumnDef::new("body", ColumnType::Text)
                    .default_value("")
                    .resolver("it-longest"),
            )
            .column(ColumnDef::new("likes", ColumnType::I64).resolver("counter")),
    )]
}

fn open(id: u64, clock: &ManualClock, schema: &[Migration]) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), Arc::new(clock.clone()), schema).unwrap())
}

#[test]
fn user_defined_resolver_merges_across_replicas() {
    let r = Resolver::registry().get("it-longest").unwrap();
    assert_eq!(r.info().crate_name, "unidb");
    let clock = ManualClock::new(1_000);
    let (a, b, server) = (
        open(1, &clock, &notes_schema()),
        open(2, &clock, &notes_schema()),
        open(9, &clock, &notes_schema()),
    );
    a.insert("notes", [("id", Value::from("n")), ("body", "hi".into())])
        .unwrap();
    let (mut sa, mut s1) = (
        Session::new(a.clone(), SyncConfig::default()),
        Session::new(server.clone(), SyncConfig::default()),
    );
    let (mut sb, mut s2) = (
        Session::new(b.clone(), SyncConfig::default()),
        Session::new(server.clone(), SyncConfig::default()),
    );
    sync_pair(&mut sa, &mut s1).unwrap();
    sync_pair(&mut sb, &mut s2).unwrap();
    a.update("notes", "n", [("body", Value::from("a much longer body"))])
        .unwrap();
    a.increment("notes", "n", "likes", 2).unwrap();
    clock.advance(1_000); // b writes later, but shorter: it must lose.
    b.update("notes", "n", [("body", Value::from("short"))])
        .unwrap();
    b.increment("notes", "n", "likes", 3).unwrap();
    for _ in 0..2 {
        sync_pair(&mut sa, &mut s1).unwrap();
        sync_pair(&mut sb, &mut s2).unwrap();
    }
    for db in [&a, &b, &server] {
        let row = db.read().get("notes", &Value::from("n")).unwrap().unwrap();
        assert_eq!(row["body"], Value::from("a much longer body"));
        assert_eq!(row["likes"], Value::I64(5));
    }
    let all = server.changes_since(&VersionVector::new());
    assert_eq!(
        reference_model(&server.schema(), &all),
        server.read().dump()
    );
}

fn reg() -> impl Strategy<Value = Register> {
    ("[ab]{0,3}", 0u64..3, 0u64..3).prop_map(|(t, ts, r)| Register {
        value: Value::Text(t),
        ts: unidb_common::time::HlcTimestamp::from_u64(ts),
        replica: ReplicaId::from_u64(r),
    })
}

proptest! {
    #[test]
    fn user_resolver_is_commutative_associative_idempotent(a in reg(), b in reg(), c in reg()) {
        let r = Resolver::registry().get("it-longest").unwrap();
        let (a, b, c) = (Cell::Register(a), Cell::Register(b), Cell::Register(c));
        prop_assert_eq!(r.merge(&a, &b), r.merge(&b, &a));
        prop_assert_eq!(r.merge(&r.merge(&a, &b), &c), r.merge(&a, &r.merge(&b, &c)));
        prop_assert_eq!(r.merge(&a, &a), a.clone());
        let len = |x: &Cell| x.value().as_text().map_or(0, str::len);
        prop_assert_eq!(len(&r.merge(&a, &b)), len(&a).max(len(&b)));
    }
}

#[test]
fn clock_skew_is_bounded_by_the_drift_rule() {
    let real = ManualClock::new(1_700_000_000_000);
    let hours_ahead = ManualClock::new(1_700_000_000_000 + 3 * 3_600_000);
    let minutes_ahead = ManualClock::new(1_700_000_000_000 + 120_000);
    let drift = Duration::from_secs(300);
    let mk = |id: u64, c: &ManualClock| {
        Arc::new(
            Database::with_max_drift(
                ReplicaId::from_u64(id),
                Arc::new(c.clone()),
                drift,
                &notes_schema(),
            )
            .unwrap(),
        )
    };
    let server = mk(9, &real);
    let skewed = mk(1, &hours_ahead);
    let honest = mk(2, &real);
    let slightly = mk(3, &minutes_ahead);
    for db in [&skewed, &honest, &slightly] {
        db.insert(
            "notes",
            [("id", Value::from("k")), ("body", Value::from("x"))],
        )
        .ok();
    }
    let mut s_skew = Session::new(skewed.clone(), SyncConfig::default());
    let mut srv_skew = Session::new(server.clone(), SyncConfig::default());
    // The replica three hours ahead: its batch is refused with a clear error.
    let err = sync_pair(&mut s_skew, &mut srv_skew).unwrap_err();
    assert!(
        matches!(err, SyncError::ClockSkew { replica, .. } if replica == ReplicaId::from_u64(1)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("maximum allowed drift is 300000 ms"),
        "{err}"
    );
    assert!(server.changes_since(&VersionVector::new()).is_empty());
    // The server's clock was not dragged ahead.
    assert!(server.hlc().now().physical_ms() <= real.now_ms() + 1);
    // Two minutes ahead is within the bound: accepted, but a write made
    // later in real time (after the skew has passed) wins over it.
    let mut s_sl = Session::new(slightly.clone(), SyncConfig::default());
    let mut srv_sl = Session::new(server.clone(), SyncConfig::default());
    sync_pair(&mut s_sl, &mut srv_sl).unwrap();
    let mut s_h = Session::new(honest.clone(), SyncConfig::default());
    let mut srv_h = Session::new(server.clone(), SyncConfig::default());
    sync_pair(&mut s_h, &mut srv_h).unwrap();
    real.advance(200_000); // 3m20s later
    honest
        .update("notes", "k", [("body", Value::from("y"))])
        .unwrap(); // same length: LWW tie-break
    sync_pair(&mut s_h, &mut srv_h).unwrap();
    sync_pair(&mut s_sl, &mut srv_sl).unwrap();
    let body =
        |db: &Database| db.read().get("notes", &Value::from("k")).unwrap().unwrap()["body"].clone();
    assert_eq!(body(&server), Value::from("y"));
    assert_eq!(body(&slightly), Value::from("y"));
}

#[test]
fn peer_with_foreign_schema_is_refused_whole() {
    let clock = ManualClock::new(1_000);
    let mut other = notes_schema();
    other.insert(
        0,
        Migration::AddTable(TableDef::new("zzz", "id", ColumnType::I64)),
    );
    let alien = open(1, &clock, &other);
    let local = open(2, &clock, &notes_schema());
    alien
        .insert(
            "notes",
            [("id", Value::from("a")), ("likes", Value::I64(1))],
        )
        .unwrap();
    // Table id 1 does not exist locally: a typed error, nothing applied.
    let batch = Message::Changes {
        sender: alien.replica(),
        schema_version: 1,
        changes: alien.changes_since(&VersionVector::new()),
        collected: Vec::new(),
    };
    let mut s = Session::new(local.clone(), SyncConfig::default());
    let err = s.handle(batch).unwrap_err();
    assert!(matches!(err, SyncError::UnknownTable { .. }), "{err}");
    assert_eq!(local.log_len(), 0);
    // Different histories at one version are a schema conflict.
    let m = Message::Migrations {
        from_version: 0,
        migrations: other,
    };
    assert!(matches!(
        s.handle(m),
        Err(SyncError::SchemaConflict { version: 1, .. })
    ));
}

#[test]
fn row_workload_merges_to_one_state() {
    let r = unidb_syncdb::sim::row_workload(300, 400, 50, 3).unwrap();
    assert_eq!((r.rows, r.updates), (300, 400));
    assert!(r.converged, "{r:?}");
    assert!(
        r.insert_ops_s > 0.0 && r.update_ops_s > 0.0 && r.merge_changes_s > 0.0,
        "{r:?}"
    );
    // In the per-change form each column write costs at least its key,
    // value and stamps, and not absurdly more; column by column, far less.
    assert!(
        r.per_change_bytes_per_op > 8.0 && r.per_change_bytes_per_op < 64.0,
        "{r:?}"
    );
    assert!(
        r.bytes_per_op > 0.0 && r.bytes_per_op < r.per_change_bytes_per_op / 2.0,
        "{r:?}"
    );
    assert!(
        r.snapshot_bytes_per_op > 0.0 && r.snapshot_bytes_per_op < r.per_change_bytes_per_op / 2.0,
        "{r:?}"
    );
}

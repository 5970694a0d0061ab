//! The client side of sync: transports, rounds, the client, observers.

use std::sync::Arc;
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::client::{sync_round, InProcess, Transport, TransportError};
use unidb_syncdb::{
    ColumnDef, ColumnType, Database, Migration, Session, SyncConfig, SyncError, TableDef, Value,
};

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("v", ColumnType::I64).default_value(0i64)),
    )]
}

fn db(id: u64, clock: &Arc<ManualClock>) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), clock.clone(), &schema()).unwrap())
}

const T: Duration = Duration::from_secs(5);

#[test]
fn rounds_over_the_in_process_transport_converge_two_phones() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let server = db(100, &clock);
    let transport = InProcess::new(server.clone(), SyncConfig::default());
    let (a, b) = (db(1, &clock), db(2, &clock));
    let mut sa = Session::new(a.clone(), SyncConfig::default());
    let mut sb = Session::new(b.clone(), SyncConfig::default());
    for i in 0..50 {
        a.insert("t", [("id", Value::I64(i)), ("v", Value::I64(i))])
            .unwrap();
        b.insert("t", [("id", Value::I64(1000 + i)), ("v", Value::I64(i))])
            .unwrap();
        clock.advance(1);
    }
    let ra = sync_round(&mut sa, transport.connect().unwrap().as_mut(), true, T).unwrap();
    assert!(ra.complete && ra.bytes_up > 0 && ra.messages_down > 0);
    let rb = sync_round(&mut sb, transport.connect().unwrap().as_mut(), true, T).unwrap();
    assert!(rb.complete);
    // b got a's rows in its round; a gets b's in the next.
    sync_round(&mut sa, transport.connect().unwrap().as_mut(), true, T).unwrap();
    let (da, db_, ds) = (a.read().dump(), b.read().dump(), server.read().dump());
    assert_eq!(da, ds);
    assert_eq!(db_, ds);
    assert_eq!(ds["t"].len(), 100);
    // Every local change acknowledged.
    assert_eq!(
        sa.acked().get(a.replica()),
        a.version_vector().get(a.replica())
    );
}

#[test]
fn a_failed_round_loses_nothing_and_the_next_resumes() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let server = db(100, &clock);
    let transport = InProcess::new(server.clone(), SyncConfig::default());
    let a = db(1, &clock);
    let mut sa = Session::new(a.clone(), SyncConfig::default());
    for i in 0..20 {
        a.insert("t", [("id", Value::I64(i))]).unwrap();
    }
    transport.set_offline(true);
    let err = transport.connect().unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    transport.set_offline(false);
    // The connection opens, then the first send fails.
    let mut conn = transport.connect().unwrap();
    transport.fail_next(1);
    let err = sync_round(&mut sa, conn.as_mut(), true, T).unwrap_err();
    assert!(
        matches!(err, SyncError::Transport(TransportError::Closed { .. })),
        "{err}"
    );
    assert_eq!(server.read().count("t").unwrap(), 0);
    // A new connection resumes from the server's checkpoint.
    let r = sync_round(&mut sa, transport.connect().unwrap().as_mut(), true, T).unwrap();
    assert!(r.complete);
    assert_eq!(server.read().dump(), a.read().dump());
    // A second round on the same connection has nothing to carry up.
    let mut conn = transport.connect().unwrap();
    sync_round(&mut sa, conn.as_mut(), true, T).unwrap();
    let again = sync_round(&mut sa, conn.as_mut(), false, T).unwrap();
    assert!(again.complete);
    assert_eq!(again.messages_up, 0, "nothing new to send");
    // New writes go up on the kept connection.
    a.insert("t", [("id", Value::I64(99))]).unwrap();
    let more = sync_round(&mut sa, conn.as_mut(), false, T).unwrap();
    assert!(more.complete && more.messages_up >= 1, "{more:?}");
    assert_eq!(more.messages_down, more.messages_up, "an ack per batch");
    assert_eq!(server.read().dump(), a.read().dump());
}

#[test]
fn a_server_that_refuses_closes_the_connection() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let server = db(100, &clock);
    let transport = InProcess::new(server, SyncConfig::default());
    let mut conn = transport.connect().unwrap();
    conn.send(vec![0xff, 1, 2, 3]).unwrap_err();
    assert!(matches!(
        conn.send(vec![1]),
        Err(TransportError::Closed { .. })
    ));
    let e = unidb_common::Error::from(SyncError::Transport(TransportError::Timeout(T)));
    assert_eq!(e.kind(), unidb_common::ErrorKind::Io);
}

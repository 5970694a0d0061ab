//! syncdb's client rounds over the network transport: sync, refusals,
//! reconnection with backoff and resumption.

use std::sync::Arc;
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::time::SystemClock;
use unidb_server::auth::{now_s, AuthFile, Rights};
use unidb_server::transport::{Backoff, WsTransport};
use unidb_server::ServerOptions;
use unidb_syncdb::client::{sync_round, Transport, TransportError};
use unidb_syncdb::{Database, Session, SyncConfig, SyncError, Value};

use crate::peer::{start, temp_dir};

fn replica(id: u64) -> Arc<Database> {
    Arc::new(
        Database::open(
            ReplicaId::from_u64(id),
            Arc::new(SystemClock),
            &unidb_server::load::schema(),
        )
        .unwrap(),
    )
}

fn write(db: &Database, id: i64) {
    db.insert(
        "load",
        [
            ("id", Value::I64(id)),
            ("client", 0i64.into()),
            ("n", id.into()),
        ],
    )
    .unwrap();
}

/// One blocking round on a new connection.
fn round(
    t: &WsTransport,
    db: &Arc<Database>,
) -> Result<unidb_syncdb::client::RoundStats, SyncError> {
    let mut session = Session::new(db.clone(), SyncConfig::default());
    let mut conn = t.connect()?;
    sync_round(&mut session, conn.as_mut(), true, Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rounds_sync_through_the_network_transport() {
    let dir = temp_dir("transport");
    let server = start(&dir, ServerOptions::default()).await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        let t = WsTransport::new(&base, "p");
        let (a, b) = (replica(1), replica(2));
        for id in 0..5 {
            write(&a, id);
        }
        let stats = round(&t, &a).unwrap();
        assert!(stats.complete && stats.bytes_up > 0);
        let stats = round(&t, &b).unwrap();
        assert!(stats.complete && stats.bytes_down > 0);
        assert_eq!(a.read().dump(), b.read().dump());
        // A kept connection: later rounds send only what is new.
        let mut session = Session::new(a.clone(), SyncConfig::default());
        let mut conn = t.connect().unwrap();
        sync_round(&mut session, conn.as_mut(), true, Duration::from_secs(10)).unwrap();
        write(&a, 5);
        let later =
            sync_round(&mut session, conn.as_mut(), false, Duration::from_secs(10)).unwrap();
        assert!(later.complete && later.messages_up >= 1);
        round(&t, &b).unwrap();
        assert_eq!(crate::peer::ids(&b), (0..6).collect::<Vec<_>>());
    })
    .await
    .unwrap();
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transport_retries_until_the_server_is_back_and_resumes() {
    let dir = temp_dir("reconnect");
    let server = start(&dir, ServerOptions::default()).await;
    let base = server.base.clone();
    let addr = base.trim_start_matches("ws://").to_owned();
    let a = replica(1);
    write(&a, 1);
    let t = WsTransport::new(&base, "p");
    {
        let (t, a) = (t.clone(), a.clone());
        tokio::task::spawn_blocking(move || round(&t, &a).unwrap())
            .await
            .unwrap();
    }
    server.stop().await;
    // Down: a transport with few attempts gives up, unreachable.
    let quick = t.clone().with_backoff(Backoff {
        attempts: 2,
        base: Duration::from_millis(10),
        ..Backoff::default()
    });
    let e = tokio::task::spawn_blocking(move || quick.connect().err().unwrap())
        .await
        .unwrap();
    assert!(matches!(e, TransportError::Unreachable { .. }), "{e}");
    // Back on the same address while the transport is backing off.
    write(&a, 2);
    let patient = t.with_backoff(Backoff {
        attempts: 50,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
        jitter: 0.5,
    });
    let client = {
        let a = a.clone();
        tokio::task::spawn_blocking(move || round(&patient, &a))
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let server = unidb_server::Server::bind(&addr, &dir, ServerOptions::default())
        .await
        .unwrap();
    let running = tokio::spawn(server.run());
    let stats = client.await.unwrap().unwrap();
    assert!(stats.complete);
    // Resumed: the server holds both writes, and only the new one was sent.
    let b = replica(2);
    let t2 = WsTransport::new(&base, "p");
    let b2 = b.clone();
    tokio::task::spawn_blocking(move || round(&t2, &b2).unwrap())
        .await
        .unwrap();
    assert_eq!(crate::peer::ids(&b), [1, 2]);
    running.abort();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_surface_as_transport_errors_naming_the_code() {
    let dir = temp_dir("transport-auth");
    let mut auth = AuthFile::generate().unwrap();
    auth.grant("reader", "p", Rights::Read).unwrap();
    let token = auth.mint("reader", 600, now_s()).unwrap();
    let server = start(
        &dir,
        ServerOptions {
            auth: Some(auth),
            ..ServerOptions::default()
        },
    )
    .await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        // A bad token is not retried: one attempt, at once.
        let bad = WsTransport::new(&base, "p").with_token("v1.00.00");
        let started = std::time::Instant::now();
        let e = bad.connect().err().unwrap();
        assert!(
            e.to_string().contains("server refused: unauthorized"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        let e = WsTransport::new(&base, "q")
            .with_token(token.clone())
            .connect()
            .err()
            .unwrap();
        assert!(e.to_string().contains("server refused: forbidden"), "{e}");
        // A read-only client's write: the round fails with the server's
        // typed refusal.
        let a = replica(1);
        write(&a, 1);
        let e = round(&WsTransport::new(&base, "p").with_token(token), &a).unwrap_err();
        assert!(e.to_string().contains("server refused: forbidden"), "{e}");
    })
    .await
    .unwrap();
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

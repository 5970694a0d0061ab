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

/// The code of a typed refusal, or a panic naming what came instead.
fn refused(e: &TransportError) -> &str {
    match e {
        TransportError::Refused { code, .. } => code,
        other => panic!("expected a typed refusal, got {other}"),
    }
}

fn refused_round(e: SyncError) -> (String, String) {
    match e {
        SyncError::Transport(TransportError::Refused { code, message }) => (code, message),
        other => panic!("expected a typed refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_surface_as_typed_transport_errors() {
    let dir = temp_dir("transport-auth");
    let mut auth = AuthFile::generate().unwrap();
    auth.grant("reader", "p", Rights::Read).unwrap();
    auth.grant("writer", "p", Rights::ReadWrite).unwrap();
    auth.grant("writer", "fixed", Rights::ReadWrite).unwrap();
    let now = now_s();
    let token = auth.mint("reader", 600, now).unwrap();
    let writer = auth.mint("writer", 600, now).unwrap();
    let expired = auth.mint("reader", 10, now - 100).unwrap();
    let mut rules = unidb_server::partition::PartitionRules::default();
    rules.tables.insert(
        "load".into(),
        unidb_server::partition::TableRule::Fixed("fixed".into()),
    );
    let server = start(
        &dir,
        ServerOptions {
            auth: Some(auth),
            schema: unidb_server::load::schema(),
            rules,
            config: unidb_server::ServerConfig {
                max_frame_bytes: 4096,
                ..unidb_server::ServerConfig::default()
            },
        },
    )
    .await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        // A bad or expired token is not retried: one attempt, at once.
        for bad in ["v1.00.00", expired.as_str()] {
            let t = WsTransport::new(&base, "p").with_token(bad);
            let started = std::time::Instant::now();
            let e = t.connect().err().unwrap();
            assert_eq!(refused(&e), "unauthorized", "{e}");
            assert!(started.elapsed() < Duration::from_secs(5));
        }
        // A partition not granted.
        let e = WsTransport::new(&base, "q")
            .with_token(token.clone())
            .connect()
            .err()
            .unwrap();
        assert_eq!(refused(&e), "forbidden", "{e}");
        // A read-only client's write: the round fails with the server's
        // typed refusal.
        let a = replica(1);
        write(&a, 1);
        let e = round(&WsTransport::new(&base, "p").with_token(token), &a).unwrap_err();
        let (code, message) = refused_round(e);
        assert_eq!(code, "forbidden");
        assert!(message.contains("only read partition p"), "{message}");
        // A write outside the partition its rows belong to.
        let e = round(&WsTransport::new(&base, "p").with_token(writer.clone()), &a).unwrap_err();
        let (code, message) = refused_round(e);
        assert_eq!(code, "forbidden");
        assert!(
            message.contains("belong to partition fixed, not p"),
            "{message}"
        );
        // The same write where it belongs is accepted.
        round(
            &WsTransport::new(&base, "fixed").with_token(writer.clone()),
            &a,
        )
        .unwrap();
        // A frame over the limit.
        let mut conn = WsTransport::new(&base, "fixed")
            .with_token(writer)
            .connect()
            .unwrap();
        conn.send(vec![0u8; 8192]).unwrap();
        let e = loop {
            match conn.recv(Duration::from_secs(10)) {
                Ok(Some(_)) => {} // the server's Hello
                Ok(None) => panic!("no answer to an oversized frame"),
                Err(e) => break e,
            }
        };
        assert_eq!(refused(&e), "too_large", "{e}");
    })
    .await
    .unwrap();
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_the_rate_limit_is_slowed_then_refused_and_others_are_not() {
    let dir = temp_dir("transport-rate");
    let server = start(
        &dir,
        ServerOptions {
            config: unidb_server::ServerConfig {
                rate_messages_per_s: 20,
                rate_limit_close_after: 5,
                ..unidb_server::ServerConfig::default()
            },
            ..ServerOptions::default()
        },
    )
    .await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || {
        let t = WsTransport::new(&base, "p");
        let flooder = replica(1);
        let mut session = Session::new(flooder.clone(), SyncConfig::default());
        let mut conn = t.connect().unwrap();
        // 20 messages fit the bucket of one second; 40 more cannot, and
        // after 5 held back in a row the server refuses.
        let started = std::time::Instant::now();
        for _ in 0..60 {
            if conn.send(session.hello_encoded()).is_err() {
                break;
            }
        }
        // Meanwhile another client on the same partition syncs a whole
        // round, unaffected.
        let other = {
            let t = t.clone();
            std::thread::spawn(move || {
                let other = replica(2);
                write(&other, 1);
                let started = std::time::Instant::now();
                let stats = round(&t, &other).unwrap();
                (stats.complete, started.elapsed())
            })
        };
        let mut answers = 0;
        let e = loop {
            match conn.recv(Duration::from_secs(10)) {
                Ok(Some(_)) => answers += 1,
                Ok(None) => panic!("no refusal after {answers} answers"),
                Err(e) => break e,
            }
            assert!(answers < 200);
        };
        assert_eq!(refused(&e), "rate_limited", "{e}");
        // It was slowed down first: at least 5 messages of 50 ms each.
        assert!(started.elapsed() >= Duration::from_millis(250));
        let (complete, took) = other.join().unwrap();
        assert!(complete);
        assert!(took < Duration::from_secs(5), "{took:?}");
    })
    .await
    .unwrap();
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

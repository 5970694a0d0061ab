//! Malformed and hostile frames close their own connection only.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use unidb_server::client::Connection;
use unidb_server::{ServerConfig, ServerOptions};
use unidb_syncdb::Message;

use crate::peer::{start, temp_dir, Peer, WAIT};

/// Reads until the server ends the connection; true if it did within [`WAIT`].
async fn closed(conn: &mut Connection) -> bool {
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match conn.recv().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    ended.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_close_only_their_connection() {
    let dir = temp_dir("hostile");
    let config = ServerConfig {
        max_frame_bytes: 64 * 1024,
        handshake_timeout_ms: 300,
        ..ServerConfig::default()
    };
    let server = start(
        &dir,
        ServerOptions {
            config,
            ..ServerOptions::default()
        },
    )
    .await;
    let url = server.url("p");
    let mut good = Peer::connect(&url, None, 1).await.unwrap();
    good.write(1).await.unwrap();

    // A valid Hello of another replica, to cut and corrupt.
    let hello = {
        let db = std::sync::Arc::new(
            unidb_syncdb::Database::open(
                unidb_common::id::ReplicaId::from_u64(77),
                std::sync::Arc::new(unidb_common::time::SystemClock),
                &unidb_server::load::schema(),
            )
            .unwrap(),
        );
        unidb_syncdb::Session::new(db, unidb_syncdb::SyncConfig::default()).hello_encoded()
    };
    let mut wrong_version = hello.clone();
    wrong_version[2] = 99;
    let ack_first = Message::Ack {
        replica: unidb_common::id::ReplicaId::from_u64(78),
        known: Default::default(),
        gc: Default::default(),
    }
    .encode();
    let cases: Vec<(&str, WsMessage)> = vec![
        (
            "garbage",
            WsMessage::Binary(b"\xde\xad\xbe\xef garbage".to_vec().into()),
        ),
        (
            "truncated",
            WsMessage::Binary(hello[..hello.len() / 2].to_vec().into()),
        ),
        ("wrong version", WsMessage::Binary(wrong_version.into())),
        ("oversized", WsMessage::Binary(vec![0u8; 65 * 1024].into())),
        ("text", WsMessage::text("{\"hello\": 1}")),
        ("not hello first", WsMessage::Binary(ack_first.into())),
        ("empty", WsMessage::Binary(Vec::new().into())),
    ];
    for (i, (name, frame)) in cases.into_iter().enumerate() {
        let mut bad = Connection::connect(&url, None).await.unwrap();
        let _ = bad.send_raw(frame).await;
        assert!(closed(&mut bad).await, "{name}: connection not closed");
        // The good client is still served.
        good.write(10 + i as i64).await.unwrap();
    }
    // A connection that never says Hello is closed at the handshake timeout.
    let mut silent = Connection::connect(&url, None).await.unwrap();
    assert!(closed(&mut silent).await);
    // Raw TCP: not HTTP at all, and a head that never ends.
    let addr = server.base.trim_start_matches("ws://").to_owned();
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    raw.write_all(b"\x16\x03\x01 not http\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, raw.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /sync/p HTTP/1.1\r\n").await.unwrap();
    let mut out = Vec::new();
    let ended = tokio::time::timeout(WAIT, slow.read_to_end(&mut out)).await;
    assert!(
        ended.is_ok(),
        "a head that never ends is cut at the handshake timeout"
    );
    good.write(1000).await.unwrap();
    // Health and metrics still answer, and count what was closed.
    let metrics = http_get(&addr, "/metrics").await;
    let v: serde_json::Value =
        serde_json::from_str(metrics.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(
        v["counters"]["server.closed_hostile"].as_u64().unwrap() >= 6,
        "{v}"
    );
    assert!(
        v["histograms"]["server.handle_ns"]["p99"]
            .as_u64()
            .is_some(),
        "{v}"
    );
    assert!(
        v["partitions"]["p"]["log_records"].as_u64().unwrap() >= 9,
        "{v}"
    );
    let health = http_get(&addr, "/health").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"status\":\"ok\""),
        "{health}"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

async fn http_get(addr: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

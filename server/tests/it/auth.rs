//! Tokens: refused clients learn nothing; rights are enforced.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use unidb_server::auth::{now_s, AuthFile, Rights};
use unidb_server::{ServerConfig, ServerError, ServerOptions};

use crate::peer::{start, temp_dir, Peer, WAIT};

/// The whole HTTP response to an upgrade request for `path` with `token`.
async fn raw_response(base: &str, path: &str, token: Option<&str>) -> String {
    let addr = base.trim_start_matches("ws://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn auth() -> AuthFile {
    let mut a = AuthFile::generate().unwrap();
    a.grant("alice", "shop", Rights::ReadWrite).unwrap();
    a.grant("bob", "shop", Rights::Read).unwrap();
    a.grant("carol", "other", Rights::ReadWrite).unwrap();
    a
}

fn refused_code(e: ServerError) -> String {
    match e {
        ServerError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_expired_and_foreign_tokens_get_the_same_answer_and_nothing_else() {
    let dir = temp_dir("auth");
    let a = auth();
    let now = now_s();
    let good = a.mint("alice", 600, now).unwrap();
    let expired = a.mint("alice", 10, now - 100).unwrap();
    let foreign = auth().mint("alice", 600, now).unwrap(); // another secret
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('0') { '1' } else { '0' });
    let options = ServerOptions {
        auth: Some(a.clone()),
        ..ServerOptions::default()
    };
    let server = start(&dir, options).await;
    // Some data in the shop, to be sure none of it leaks.
    let mut alice = Peer::connect(&server.url("shop"), Some(&good), 1)
        .await
        .unwrap();
    alice.write(7).await.unwrap();

    let unauthorized = raw_response(&server.base, "/sync/shop", None).await;
    assert!(unauthorized.starts_with("HTTP/1.1 401 "), "{unauthorized}");
    assert!(
        unauthorized.ends_with("\r\n\r\n{\"error\":\"unauthorized\"}"),
        "{unauthorized}"
    );
    for bad in [
        &expired,
        &foreign,
        &tampered,
        &"v1.00.00".to_owned(),
        &"x".repeat(10_000),
    ] {
        let r = raw_response(&server.base, "/sync/shop", Some(bad)).await;
        assert_eq!(r, unauthorized, "token {bad:.30}");
    }
    // A partition not granted: the same answer whether it exists or not.
    let carol = a.mint("carol", 600, now).unwrap();
    let forbidden = raw_response(&server.base, "/sync/shop", Some(&carol)).await;
    assert!(forbidden.starts_with("HTTP/1.1 403 "), "{forbidden}");
    assert!(
        forbidden.ends_with("\r\n\r\n{\"error\":\"forbidden\"}"),
        "{forbidden}"
    );
    assert_eq!(
        raw_response(&server.base, "/sync/nowhere", Some(&carol)).await,
        forbidden
    );
    // Through the client: typed refusals.
    let url = server.url("shop");
    let e = Peer::connect(&url, Some(&expired), 9).await.err().unwrap();
    assert_eq!(refused_code(e), "unauthorized");
    let e = Peer::connect(&url, Some(&carol), 9).await.err().unwrap();
    assert_eq!(refused_code(e), "forbidden");
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_reads_but_its_writes_are_refused_and_not_applied() {
    let dir = temp_dir("rights");
    let a = auth();
    let now = now_s();
    let server = start(
        &dir,
        ServerOptions {
            auth: Some(a.clone()),
            ..ServerOptions::default()
        },
    )
    .await;
    let url = server.url("shop");
    let mut alice = Peer::connect(&url, Some(&a.mint("alice", 600, now).unwrap()), 1)
        .await
        .unwrap();
    alice.write(1).await.unwrap();
    let bob_token = a.mint("bob", 600, now).unwrap();
    let mut bob = Peer::connect(&url, Some(&bob_token), 2).await.unwrap();
    bob.until(|db| crate::peer::ids(db) == [1]).await.unwrap();
    // Bob writes: the server says forbidden, keeps the connection, and
    // applies nothing.
    bob.db
        .insert(
            "load",
            [
                ("id", unidb_syncdb::Value::I64(99)),
                ("client", 2i64.into()),
                ("n", 0i64.into()),
            ],
        )
        .unwrap();
    bob.flush().await.unwrap();
    let e = bob.pump().await.unwrap_err();
    match e {
        ServerError::Refused { code, message } => {
            assert_eq!(code, "forbidden");
            assert!(message.contains("only read"), "{message}");
        }
        other => panic!("{other}"),
    }
    alice.write(2).await.unwrap();
    bob.until(|db| crate::peer::ids(db).contains(&2))
        .await
        .unwrap();
    let mut check = Peer::connect(&url, Some(&a.mint("alice", 600, now).unwrap()), 3)
        .await
        .unwrap();
    check
        .until(|db| crate::peer::ids(db).len() >= 2)
        .await
        .unwrap();
    assert_eq!(check.ids(), [1, 2], "bob's write never reached the server");
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_token_are_limited() {
    let dir = temp_dir("limit");
    let a = auth();
    let token = a.mint("alice", 600, now_s()).unwrap();
    let options = ServerOptions {
        auth: Some(a),
        config: ServerConfig {
            max_connections_per_token: 2,
            ..ServerConfig::default()
        },
        ..ServerOptions::default()
    };
    let server = start(&dir, options).await;
    let url = server.url("shop");
    let p1 = Peer::connect(&url, Some(&token), 1).await.unwrap();
    let _p2 = Peer::connect(&url, Some(&token), 2).await.unwrap();
    let e = Peer::connect(&url, Some(&token), 3).await.err().unwrap();
    assert_eq!(refused_code(e), "too_many_connections");
    // A closed connection frees its place (the server notices the close).
    p1.conn.close().await;
    let mut admitted = None;
    for _ in 0..100 {
        match Peer::connect(&url, Some(&token), 4).await {
            Ok(p) => {
                admitted = Some(p);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert!(admitted.is_some());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

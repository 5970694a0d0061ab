use super::*;

#[test]
fn parses_an_upgrade_with_its_token() {
    let raw = b"GET /sync/p1?x=1&token=abc HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer tok\r\n\r\n";
    assert_eq!(head_end(raw), Some(raw.len()));
    let h = parse_head(raw).unwrap();
    assert_eq!(h.method, "GET");
    assert_eq!(h.path, "/sync/p1");
    assert_eq!(h.query_token.as_deref(), Some("abc"));
    assert_eq!(h.token(), Some("tok"));
    assert!(h.upgrade);
    assert_eq!(h.ws_key.as_deref(), Some("k=="));
    assert_eq!(h.ws_version.as_deref(), Some("13"));
}

#[test]
fn refuses_what_is_not_a_request_head() {
    assert!(parse_head(b"\x00\x01garbage\r\n\r\n").is_err());
    assert!(parse_head(b"GET / HTTP/1.1\r\nHost: h\r\n").is_err());
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert!(parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).is_err());
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
}

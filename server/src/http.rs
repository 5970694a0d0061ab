//! The HTTP request head every connection starts with: a WebSocket
//! upgrade to `/sync/PARTITION`, or `GET /health` or `GET /metrics`.

use crate::error::{Result, ServerError};

/// The longest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header lines accepted.
pub const MAX_HEADERS: usize = 32;

/// What the server needs from a request head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// The method (`GET`).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `token` query parameter, if any.
    pub query_token: Option<String>,
    /// The bearer token of the `Authorization` header, if any.
    pub bearer: Option<String>,
    /// Whether it asks for a WebSocket upgrade (`Upgrade: websocket`).
    pub upgrade: bool,
    /// `Sec-WebSocket-Key`.
    pub ws_key: Option<String>,
    /// `Sec-WebSocket-Version`.
    pub ws_version: Option<String>,
}

impl Head {
    /// The token the client presents: the `Authorization: Bearer` header,
    /// else the `token` query parameter.
    pub fn token(&self) -> Option<&str> {
        self.bearer.as_deref().or(self.query_token.as_deref())
    }
}

/// The end of the head in `buf` (the index after `\r\n\r\n`), if present.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete request head (through its blank line).
///
/// # Errors
/// [`ServerError::Invalid`] naming what is wrong: not HTTP, incomplete,
/// too many headers, a header that is not text.
pub fn parse_head(bytes: &[u8]) -> Result<Head> {
    let bad = |reason: String| ServerError::invalid("request head", reason);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(bad("incomplete".into())),
        Err(e) => return Err(bad(e.to_string())),
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query_token = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_owned);
    let mut head = Head {
        method: req.method.unwrap_or("").to_owned(),
        path: path.to_owned(),
        query_token,
        ..Head::default()
    };
    for h in req.headers.iter() {
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Err(bad(format!("header {} is not text", h.name)));
        };
        let value = value.trim();
        if h.name.eq_ignore_ascii_case("authorization") {
            head.bearer = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .map(|t| t.trim().to_owned());
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            head.upgrade = value.eq_ignore_ascii_case("websocket");
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") {
            head.ws_key = Some(value.to_owned());
        } else if h.name.eq_ignore_ascii_case("sec-websocket-version") {
            head.ws_version = Some(value.to_owned());
        }
    }
    Ok(head)
}

/// A complete HTTP response with a JSON body, closing the connection.
pub fn response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The error body every refusal carries: `{"error": code}` and nothing
/// about why, so that a refused client learns nothing.
pub fn error_body(code: &str) -> String {
    serde_json::json!({ "error": code }).to_string()
}

#[cfg(test)]
mod tests {
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
}

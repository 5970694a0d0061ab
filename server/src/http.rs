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
mod tests;

//! The client side of the network path: an async WebSocket connection
//! to a server's partition carrying encoded sync messages.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Result, ServerError};

/// The URL of partition `partition` on the server at `server`
/// (`ws://host:port`, with or without a trailing slash).
pub fn partition_url(server: &str, partition: &str) -> String {
    format!("{}/sync/{partition}", server.trim_end_matches('/'))
}

/// An open connection to one partition of a server.
#[derive(Debug)]
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// The error a server's refusal (an HTTP status before the upgrade, or a
/// text frame `{"error", "message"}` after it) becomes.
fn refused_from_text(text: &str) -> ServerError {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    ServerError::Refused {
        code: v["error"].as_str().unwrap_or("unknown").to_owned(),
        message: v["message"].as_str().unwrap_or(text).to_owned(),
    }
}

impl Connection {
    /// Connects to `url` (`ws://host:port/sync/PARTITION`, see
    /// [`partition_url`]) presenting `token` as a bearer token.
    ///
    /// # Errors
    /// [`ServerError::Refused`] with the server's code (`unauthorized`,
    /// `forbidden`, `too_many_connections`, ...) when it refuses;
    /// [`ServerError::WebSocket`] when the connection fails.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Connection> {
        let mut request = url.into_client_request()?;
        if let Some(t) = token {
            let value = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|e| ServerError::invalid("token", e.to_string()))?;
            request.headers_mut().insert("authorization", value);
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(8192)
            .write_buffer_size(0)
            .max_message_size(Some(64 << 20))
            .max_frame_size(Some(64 << 20));
        match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
            Ok((ws, _)) => Ok(Connection { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                let mut e = refused_from_text(&body);
                if let ServerError::Refused { message, .. } = &mut e {
                    *message = format!("HTTP {}", response.status());
                }
                Err(e)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends one encoded sync message.
    ///
    /// # Errors
    /// [`ServerError::WebSocket`] when the connection is gone.
    pub async fn send(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws.send(WsMessage::Binary(bytes.into())).await?;
        Ok(())
    }

    /// Sends raw WebSocket messages (for tests of hostile clients).
    ///
    /// # Errors
    /// [`ServerError::WebSocket`] when the connection is gone.
    pub async fn send_raw(&mut self, message: WsMessage) -> Result<()> {
        self.ws.send(message).await?;
        Ok(())
    }

    /// The next encoded sync message; `None` when the server closed the
    /// connection cleanly.
    ///
    /// # Errors
    /// [`ServerError::Refused`] for the server's error frame;
    /// [`ServerError::WebSocket`] for a broken connection.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(WsMessage::Binary(b))) => return Ok(Some(b.to_vec())),
                Some(Ok(WsMessage::Text(t))) => return Err(refused_from_text(t.as_str())),
                Some(Ok(WsMessage::Close(_))) => return Ok(None),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

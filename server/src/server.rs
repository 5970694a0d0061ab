//! The network server: accepting connections, the HTTP endpoints, and a
//! sync [`Session`] per WebSocket connection.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use unidb_common::config::Validate;
use unidb_common::id::ReplicaId;
use unidb_common::metrics::{Counter, Gauge, Histogram, Metrics};
use unidb_syncdb::wire::{Message, MessageKind};
use unidb_syncdb::{Migration, Session, SyncConfig, SyncError};

use crate::auth::{now_s, AuthFile, Rights};
use crate::config::ServerConfig;
use crate::error::{Result, ServerError};
use crate::http::{error_body, head_end, parse_head, response, Head, MAX_HEAD};
use crate::partition::{Partition, PartitionRules};
use crate::storage::{valid_partition, FileStorage, RecoveryReport, Storage};

/// What a [`Server`] is started with.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The auth file; `None` serves every partition read-write to anyone
    /// (what `--insecure` asks for).
    pub auth: Option<AuthFile>,
    /// Migrations every partition starts with (clients with write rights
    /// may add more).
    pub schema: Vec<Migration>,
    /// Limits and settings.
    pub config: ServerConfig,
    /// Which partition each row belongs to; writes breaking them are
    /// refused (`forbidden`). Empty: no rule.
    pub rules: PartitionRules,
}

/// A partition's recovery when the server started.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recovered {
    /// The partition.
    pub partition: String,
    /// What was loaded and repaired.
    pub report: RecoveryReport,
    /// Changes held after recovery.
    pub changes: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// The server's metrics, by name in its [`Metrics`].
#[derive(Debug)]
struct ServerMetrics {
    connections: Arc<Gauge>,
    accepted: Arc<Counter>,
    refused: Arc<Counter>,
    closed_hostile: Arc<Counter>,
    frames_in: Arc<Counter>,
    bytes_in: Arc<Counter>,
    frames_out: Arc<Counter>,
    bytes_out: Arc<Counter>,
    handle_ns: Arc<Histogram>,
    durable_wait_ns: Arc<Histogram>,
    log_records: Arc<Counter>,
}

impl ServerMetrics {
    fn new(m: &Metrics) -> Self {
        ServerMetrics {
            connections: m.gauge("server.connections"),
            accepted: m.counter("server.accepted"),
            refused: m.counter("server.refused"),
            closed_hostile: m.counter("server.closed_hostile"),
            frames_in: m.counter("server.frames_in"),
            bytes_in: m.counter("server.bytes_in"),
            frames_out: m.counter("server.frames_out"),
            bytes_out: m.counter("server.bytes_out"),
            handle_ns: m.histogram("server.handle_ns"),
            durable_wait_ns: m.histogram("server.durable_wait_ns"),
            log_records: m.counter("server.log_records"),
        }
    }
}

struct Shared {
    config: ServerConfig,
    sync: SyncConfig,
    auth: Option<AuthFile>,
    schema: Vec<Migration>,
    rules: Arc<PartitionRules>,
    replica: ReplicaId,
    storage: Arc<dyn Storage>,
    partitions: tokio::sync::Mutex<HashMap<String, Arc<Partition>>>,
    /// A copy of the open partitions readable without awaiting.
    open: Mutex<Vec<Arc<Partition>>>,
    per_token: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    metrics: Arc<Metrics>,
    recorded: ServerMetrics,
}

/// The syncdb network server.
///
/// ```no_run
/// # async fn run() -> Result<(), unidb_server::ServerError> {
/// use unidb_server::{Server, ServerOptions};
///
/// let server = Server::bind("127.0.0.1:7700", "data", ServerOptions::default()).await?;
/// println!("listening on {}", server.local_addr());
/// server.run().await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    recovered: Vec<Recovered>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("recovered", &self.recovered)
            .finish_non_exhaustive()
    }
}

/// The server's replica id, kept in `DIR/server-id` (made on first start).
fn server_replica(data: &std::path::Path) -> Result<ReplicaId> {
    let path = data.join("server-id");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse::<ReplicaId>()
            .map_err(|e| ServerError::Corrupt {
                what: path.display().to_string(),
                offset: 0,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = ReplicaId::random();
            unidb_common::fs::write_atomic(&path, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
        Err(e) => Err(ServerError::io("read server id", &path, e)),
    }
}

impl Server {
    /// Opens the data directory `data` (recovering every partition in
    /// it) and listens on `addr`.
    ///
    /// # Errors
    /// An invalid configuration; a data directory that cannot be opened
    /// or holds damaged files; an address that cannot be bound.
    pub async fn bind(
        addr: &str,
        data: impl Into<PathBuf>,
        options: ServerOptions,
    ) -> Result<Server> {
        let data = data.into();
        let storage = FileStorage::new(&data)?;
        let replica = server_replica(&data)?;
        Self::bind_with_storage(addr, Arc::new(storage), replica, options).await
    }

    /// [`Server::bind`] over any [`Storage`], the server holding replica
    /// id `replica`.
    ///
    /// # Errors
    /// As [`Server::bind`].
    pub async fn bind_with_storage(
        addr: &str,
        storage: Arc<dyn Storage>,
        replica: ReplicaId,
        options: ServerOptions,
    ) -> Result<Server> {
        options
            .config
            .validate()
            .map_err(|e| ServerError::invalid("server config", e.to_string()))?;
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared {
            sync: SyncConfig {
                max_batch_bytes: options.config.max_batch_bytes,
                ..SyncConfig::default()
            },
            config: options.config,
            auth: options.auth,
            schema: options.schema,
            rules: Arc::new(options.rules),
            replica,
            storage,
            partitions: tokio::sync::Mutex::new(HashMap::new()),
            open: Mutex::new(Vec::new()),
            per_token: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            recorded: ServerMetrics::new(&metrics),
            metrics,
        });
        let names = {
            let storage = shared.storage.clone();
            tokio::task::spawn_blocking(move || storage.partitions())
                .await
                .map_err(join_error)??
        };
        // Partitions recover in parallel, each on a blocking thread.
        let mut opening = tokio::task::JoinSet::new();
        for name in names {
            let shared = shared.clone();
            opening.spawn_blocking(move || {
                let started = Instant::now();
                let p = shared.open_partition(&name)?;
                Ok::<_, ServerError>((p, started.elapsed().as_secs_f64()))
            });
        }
        let mut recovered = Vec::new();
        while let Some(opened) = opening.join_next().await {
            let (p, seconds) = opened.map_err(join_error)??;
            recovered.push(Recovered {
                partition: p.name().to_owned(),
                report: p.report().clone(),
                changes: p.database().log_len(),
                seconds,
            });
            let p = Arc::new(p);
            shared
                .partitions
                .lock()
                .await
                .insert(p.name().to_owned(), p.clone());
            shared
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(p);
        }
        recovered.sort_by(|a, b| a.partition.cmp(&b.partition));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| ServerError::Net {
                op: "bind the listening address",
                source: e,
            })?;
        Ok(Server {
            listener,
            shared,
            recovered,
        })
    }

    /// The address listened on (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// What recovery found in each partition at start.
    pub fn recovered(&self) -> &[Recovered] {
        &self.recovered
    }

    /// The server's metrics (connections, frames, bytes, handling and
    /// durability times, and every session's `sync.*` metrics).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Serves until the process ends.
    ///
    /// # Errors
    /// Only if accepting fails in a way that is not per connection.
    pub async fn run(self) -> Result<()> {
        self.run_until(std::future::pending::<()>()).await
    }

    /// Serves until `shutdown` completes; connections still open are
    /// dropped then (every acknowledged write is already durable).
    ///
    /// # Errors
    /// As [`Server::run`].
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    match accepted {
                        Ok((stream, _)) => {
                            let shared = self.shared.clone();
                            tasks.spawn(async move { shared.connection(stream).await });
                        }
                        // Out of descriptors and the like: wait, go on.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tasks.abort_all();
        Ok(())
    }
}

fn join_error(e: tokio::task::JoinError) -> ServerError {
    ServerError::LogFailed {
        partition: String::new(),
        reason: format!("background task failed: {e}"),
    }
}

/// Why a frame was not handled: a typed error sent to the client as a
/// text frame `{"error": code, "message": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `protocol`, `forbidden`, `rejected`, `unavailable`, `rate_limited`,
    /// `too_large`.
    pub code: &'static str,
    /// What was refused, about the client's own message only.
    pub message: String,
    /// Whether the connection is closed after it.
    pub close: bool,
}

impl Refusal {
    fn json(&self) -> String {
        serde_json::json!({ "error": self.code, "message": self.message }).to_string()
    }
}

/// What handling a frame produced.
#[derive(Debug, Default)]
pub struct Handled {
    /// Encoded replies, in order.
    pub replies: Vec<Vec<u8>>,
    /// The log record the replies must wait for (a write's
    /// acknowledgement is sent only once the log is durable up to it).
    pub wait_for: Option<u64>,
    /// Whether the frame changed the partition.
    pub changed: bool,
}

/// Handles one binary frame of a connection to `partition` whose token
/// has `rights`: checks its kind against the rights and the connection's
/// state (`greeted`: a `Hello` came already), applies it through the
/// connection's session, and appends it to the log when it changed the
/// partition.
///
/// # Errors
/// A [`Refusal`]: not a sync message or not `Hello` first (closes), a
/// write without write rights (does not close), or the session's decode
/// or apply error (closes).
pub fn handle_frame(
    partition: &Partition,
    session: &mut Session,
    rights: Rights,
    bytes: &[u8],
    greeted: bool,
) -> std::result::Result<Handled, Refusal> {
    let Some(kind) = Message::kind_of(bytes) else {
        return Err(Refusal {
            code: "protocol",
            message: "not a sync message".into(),
            close: true,
        });
    };
    if !greeted && kind != MessageKind::Hello {
        return Err(Refusal {
            code: "protocol",
            message: "the first message must be a Hello".into(),
            close: true,
        });
    }
    let refused = |e: SyncError| Refusal {
        code: if matches!(e, SyncError::Decode { .. }) {
            "protocol"
        } else {
            "rejected"
        },
        message: e.to_string(),
        close: true,
    };
    if !kind.writes() {
        let replies = session.handle_bytes(bytes).map_err(refused)?;
        return Ok(Handled {
            replies,
            wait_for: None,
            changed: false,
        });
    }
    if !rights.can_write() {
        return Err(Refusal {
            code: "forbidden",
            message: format!(
                "this token may only read partition {}; the write was not applied",
                partition.name()
            ),
            close: false,
        });
    }
    let db = partition.database();
    let _order = partition.write_lock();
    if kind == MessageKind::Changes && !partition.rules().is_empty() {
        let message = Message::decode(bytes).map_err(refused)?;
        if let Message::Changes { changes, .. } = &message {
            partition
                .rules()
                .check(partition.name(), db, changes)
                .map_err(|message| Refusal {
                    code: "forbidden",
                    message,
                    close: false,
                })?;
        }
    }
    let before = (db.version_vector(), db.schema_version());
    let replies = session.handle_bytes(bytes).map_err(refused)?;
    let changed = (db.version_vector(), db.schema_version()) != before;
    if changed {
        partition.log().append(bytes.to_vec());
    }
    // Even an unchanged write waits: what it repeats may not be durable yet.
    Ok(Handled {
        replies,
        wait_for: Some(partition.log().appended()),
        changed,
    })
}

/// Sends a client at most one second's worth of its messages and bytes.
struct Bucket {
    messages: f64,
    bytes: f64,
    rate_messages: f64,
    rate_bytes: f64,
    last: Instant,
}

impl Bucket {
    fn new(c: &ServerConfig) -> Self {
        Bucket {
            messages: f64::from(c.rate_messages_per_s),
            bytes: c.rate_bytes_per_s as f64,
            rate_messages: f64::from(c.rate_messages_per_s),
            rate_bytes: c.rate_bytes_per_s as f64,
            last: Instant::now(),
        }
    }

    /// Waits until a message of `n` bytes fits, then takes it; whether
    /// it had to wait.
    async fn take(&mut self, n: usize) -> bool {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.messages = (self.messages + dt * self.rate_messages).min(self.rate_messages);
        self.bytes = (self.bytes + dt * self.rate_bytes).min(self.rate_bytes);
        self.messages -= 1.0;
        self.bytes -= n as f64;
        let wait = (-self.messages / self.rate_messages)
            .max(-self.bytes / self.rate_bytes)
            .max(0.0);
        if wait > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(wait.min(60.0))).await;
        }
        wait > 0.0
    }
}

/// Counts a connection against its token's limit while it lives.
struct Slot {
    shared: Arc<Shared>,
    token: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.total.fetch_sub(1, Ordering::SeqCst);
        self.shared.recorded.connections.dec();
        if let Some(t) = &self.token {
            let mut map = self
                .shared
                .per_token
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(t) {
                *n -= 1;
                if *n == 0 {
                    map.remove(t);
                }
            }
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

impl Shared {
    /// The open partition `name`, opened (recovered) on first use.
    async fn partition(self: &Arc<Self>, name: &str) -> Result<Arc<Partition>> {
        let mut map = self.partitions.lock().await;
        if let Some(p) = map.get(name) {
            return Ok(p.clone());
        }
        let (shared, owned) = (self.clone(), name.to_owned());
        let p = tokio::task::spawn_blocking(move || shared.open_partition(&owned))
            .await
            .map_err(join_error)??;
        let p = Arc::new(p);
        map.insert(name.to_owned(), p.clone());
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(p.clone());
        Ok(p)
    }

    /// Opens (recovers) partition `name` from storage. Blocking.
    fn open_partition(&self, name: &str) -> Result<Partition> {
        let opened = self.storage.open(name)?;
        Partition::recover(name, opened, self.replica, &self.schema)?.with_rules(self.rules.clone())
    }

    fn ws_config(&self) -> WebSocketConfig {
        let max = self.config.max_frame_bytes;
        WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0)
            .max_write_buffer_size(max.saturating_mul(4).max(1 << 20))
            .max_message_size(Some(max))
            .max_frame_size(Some(max))
    }

    fn health(&self) -> String {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "status": "ok",
            "partitions": open.len(),
            "connections": self.total.load(Ordering::SeqCst),
        })
        .to_string()
    }

    fn metrics_json(&self) -> String {
        let snapshot = self.metrics.snapshot();
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut log_bytes = 0u64;
        let partitions: serde_json::Map<String, serde_json::Value> = open
            .iter()
            .map(|p| {
                let durable = p.log().durable().borrow().clone();
                log_bytes += p.log().bytes_since_snapshot();
                (
                    p.name().to_owned(),
                    serde_json::json!({
                        "changes": p.database().log_len(),
                        "log_bytes": p.log().bytes_since_snapshot(),
                        "log_records": p.log().appended(),
                        "durable_records": durable.lsn,
                        "log_failed": durable.failed,
                    }),
                )
            })
            .collect();
        let mut v = serde_json::to_value(&snapshot).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("partitions".into(), partitions.into());
            obj.insert("log_bytes".into(), log_bytes.into());
            obj.insert(
                "connections".into(),
                self.total.load(Ordering::SeqCst).into(),
            );
        }
        v.to_string()
    }

    async fn connection(self: Arc<Self>, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let read = tokio::time::timeout(self.config.handshake_timeout(), read_head(&mut stream));
        let Ok(Ok((head_len, buf))) = read.await else {
            self.recorded.refused.inc();
            return;
        };
        let head = match parse_head(&buf[..head_len]) {
            Ok(h) => h,
            Err(_) => {
                self.recorded.refused.inc();
                return refuse(&mut stream, 400, "Bad Request", "bad_request").await;
            }
        };
        let leftover = buf[head_len..].to_vec();
        match head.path.as_str() {
            "/health" => {
                let body = self.health();
                let _ = stream.write_all(&response(200, "OK", &body)).await;
            }
            "/metrics" => {
                let body = self.metrics_json();
                let _ = stream.write_all(&response(200, "OK", &body)).await;
            }
            path => match path.strip_prefix("/sync/") {
                Some(name) if valid_partition(name) => {
                    let name = name.to_owned();
                    self.sync(stream, head, &name, leftover).await;
                }
                _ => refuse(&mut stream, 404, "Not Found", "not_found").await,
            },
        }
    }

    /// Authenticates, upgrades and serves one sync connection.
    async fn sync(
        self: Arc<Self>,
        mut stream: TcpStream,
        head: Head,
        name: &str,
        leftover: Vec<u8>,
    ) {
        let refused = &self.recorded.refused;
        // Who: the same answer for every bad token, and for every
        // partition not granted whether it exists or not.
        let (rights, token) = match &self.auth {
            None => (Rights::ReadWrite, None),
            Some(auth) => {
                let Some(grant) = head.token().and_then(|t| auth.verify(t, now_s()).ok()) else {
                    refused.inc();
                    return refuse(&mut stream, 401, "Unauthorized", "unauthorized").await;
                };
                let Some(rights) = grant.rights(name) else {
                    refused.inc();
                    return refuse(&mut stream, 403, "Forbidden", "forbidden").await;
                };
                (rights, head.token().map(str::to_owned))
            }
        };
        if head.method != "GET"
            || !head.upgrade
            || head.ws_key.is_none()
            || head.ws_version.as_deref() != Some("13")
        {
            refused.inc();
            return refuse(&mut stream, 400, "Bad Request", "not_websocket").await;
        }
        // Limits: in all, and per token.
        if self.total.fetch_add(1, Ordering::SeqCst) >= self.config.max_connections {
            self.total.fetch_sub(1, Ordering::SeqCst);
            refused.inc();
            return refuse(
                &mut stream,
                503,
                "Service Unavailable",
                "too_many_connections",
            )
            .await;
        }
        self.recorded.connections.inc();
        let slot = Slot {
            shared: self.clone(),
            token: None,
        };
        let mut slot = slot;
        if let Some(t) = token {
            let admitted = {
                let mut map = self.per_token.lock().unwrap_or_else(|e| e.into_inner());
                let n = map.entry(t.clone()).or_insert(0);
                let ok = *n < self.config.max_connections_per_token;
                if ok {
                    *n += 1;
                }
                ok
            };
            if !admitted {
                drop(slot);
                refused.inc();
                return refuse(
                    &mut stream,
                    429,
                    "Too Many Requests",
                    "too_many_connections",
                )
                .await;
            }
            slot.token = Some(t);
        }
        let partition = match self.partition(name).await {
            Ok(p) => p,
            Err(_) => {
                return refuse(&mut stream, 503, "Service Unavailable", "unavailable").await;
            }
        };
        let key = head.ws_key.as_deref().unwrap_or_default();
        let accept = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        if stream.write_all(accept.as_bytes()).await.is_err() {
            return;
        }
        self.recorded.accepted.inc();
        let ws = WebSocketStream::from_partially_read(
            stream,
            leftover,
            Role::Server,
            Some(self.ws_config()),
        )
        .await;
        self.serve(ws, partition, rights).await;
        drop(slot);
    }

    async fn send(&self, ws: &mut Ws, bytes: Vec<u8>) -> bool {
        self.recorded.frames_out.inc();
        self.recorded.bytes_out.add(bytes.len() as u64);
        ws.send(WsMessage::Binary(bytes.into())).await.is_ok()
    }

    /// The message loop of one connection.
    async fn serve(&self, mut ws: Ws, partition: Arc<Partition>, rights: Rights) {
        let mut session = Session::with_metrics(
            partition.database().clone(),
            self.sync.clone(),
            self.metrics.clone(),
        );
        let mut durable = partition.log().durable();
        let mut bucket = Bucket::new(&self.config);
        // Frames in a row the bucket had to hold back.
        let mut throttled = 0u32;
        let mut greeted = false;
        // The Hello's version vector acknowledges what it covers: only
        // once that is durable.
        let appended = partition.log().appended();
        if durable
            .wait_for(|d| d.lsn >= appended || d.failed.is_some())
            .await
            .is_err()
        {
            return;
        }
        let hello = session.hello_encoded();
        if !self.send(&mut ws, hello).await {
            return;
        }
        let mut deadline = tokio::time::Instant::now() + self.config.handshake_timeout();
        loop {
            tokio::select! {
                frame = tokio::time::timeout_at(deadline, ws.next()) => {
                    let frame = match frame {
                        Err(_) => {
                            let reason = if greeted { "idle timeout" } else { "handshake timeout" };
                            close(&mut ws, CloseCode::Policy, reason).await;
                            return;
                        }
                        Ok(None) => return,
                        Ok(Some(Err(e))) => {
                            use tokio_tungstenite::tungstenite::Error as E;
                            let r = match e {
                                E::Capacity(_) => Refusal {
                                    code: "too_large",
                                    message: format!("a message may hold at most {} bytes", self.config.max_frame_bytes),
                                    close: true,
                                },
                                E::Protocol(_) | E::Utf8(_) => Refusal {
                                    code: "protocol",
                                    message: "malformed WebSocket frame".into(),
                                    close: true,
                                },
                                _ => return,
                            };
                            self.recorded.closed_hostile.inc();
                            let _ = ws.send(WsMessage::text(r.json())).await;
                            close(&mut ws, CloseCode::Policy, r.code).await;
                            return;
                        }
                        Ok(Some(Ok(frame))) => frame,
                    };
                    if greeted {
                        deadline = tokio::time::Instant::now() + self.config.idle_timeout();
                    }
                    let bytes = match frame {
                        WsMessage::Binary(b) => b,
                        WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => continue,
                        WsMessage::Close(_) => return,
                        WsMessage::Text(_) => {
                            self.recorded.closed_hostile.inc();
                            let r = Refusal { code: "protocol", message: "text frames are not sync messages".into(), close: true };
                            let _ = ws.send(WsMessage::text(r.json())).await;
                            close(&mut ws, CloseCode::Unsupported, "binary sync messages only").await;
                            return;
                        }
                    };
                    self.recorded.frames_in.inc();
                    self.recorded.bytes_in.add(bytes.len() as u64);
                    if bucket.take(bytes.len()).await {
                        throttled += 1;
                    } else {
                        throttled = 0;
                    }
                    if throttled > self.config.rate_limit_close_after {
                        self.recorded.closed_hostile.inc();
                        let r = Refusal {
                            code: "rate_limited",
                            message: format!(
                                "more than {} messages or {} bytes per second for too long",
                                self.config.rate_messages_per_s, self.config.rate_bytes_per_s
                            ),
                            close: true,
                        };
                        let _ = ws.send(WsMessage::text(r.json())).await;
                        close(&mut ws, CloseCode::Policy, r.code).await;
                        return;
                    }
                    let started = Instant::now();
                    let handled = handle_frame(&partition, &mut session, rights, &bytes, greeted);
                    self.recorded.handle_ns.record_duration(started.elapsed());
                    let handled = match handled {
                        Ok(h) => h,
                        Err(r) => {
                            if r.close {
                                self.recorded.closed_hostile.inc();
                            }
                            let _ = ws.send(WsMessage::text(r.json())).await;
                            if r.close {
                                close(&mut ws, CloseCode::Policy, r.code).await;
                                return;
                            }
                            continue;
                        }
                    };
                    if !greeted {
                        greeted = true;
                        deadline = tokio::time::Instant::now() + self.config.idle_timeout();
                    }
                    if let Some(lsn) = handled.wait_for {
                        let waited = Instant::now();
                        let ok = durable.wait_for(|d| d.lsn >= lsn || d.failed.is_some()).await;
                        let failed = ok.map(|d| d.failed.is_some()).unwrap_or(true);
                        if failed {
                            let r = Refusal { code: "unavailable", message: "the server cannot make writes durable".into(), close: true };
                            let _ = ws.send(WsMessage::text(r.json())).await;
                            close(&mut ws, CloseCode::Error, "log failed").await;
                            return;
                        }
                        self.recorded.durable_wait_ns.record_duration(waited.elapsed());
                        if handled.changed {
                            self.recorded.log_records.inc();
                            self.maybe_compact(&partition);
                        }
                    }
                    // Waiting marked the durable point seen: send what
                    // other clients wrote meanwhile too.
                    let polled = if handled.wait_for.is_some() { session.poll_encoded() } else { Vec::new() };
                    for reply in handled.replies.into_iter().chain(polled) {
                        if !self.send(&mut ws, reply).await {
                            return;
                        }
                    }
                }
                changed = durable.changed(), if greeted => {
                    if changed.is_err() {
                        return;
                    }
                    for out in session.poll_encoded() {
                        if !self.send(&mut ws, out).await {
                            return;
                        }
                    }
                }
            }
        }
    }

    fn maybe_compact(&self, partition: &Arc<Partition>) {
        let threshold = self.config.compact_log_bytes;
        if partition.log().bytes_since_snapshot() >= threshold {
            let p = partition.clone();
            tokio::task::spawn_blocking(move || {
                // A failed compaction leaves the log as it was; the next
                // append tries again.
                let _ = p.compact_if_over(threshold);
            });
        }
    }
}

async fn close(ws: &mut Ws, code: CloseCode, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

async fn refuse(stream: &mut TcpStream, status: u16, reason: &str, code: &str) {
    let _ = stream
        .write_all(&response(status, reason, &error_body(code)))
        .await;
    let _ = stream.shutdown().await;
}

/// Reads until the end of the request head; returns its length and
/// everything read.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<(usize, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[from..]) {
            return Ok((from + end, buf));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

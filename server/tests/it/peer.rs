//! A test client: a replica, its session and its connection, and a
//! server started in the test's runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::time::SystemClock;
use unidb_server::client::{partition_url, Connection};
use unidb_server::{Result, Server, ServerError, ServerOptions};
use unidb_syncdb::{Database, Session, SyncConfig, Value};

/// How long any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("unidb-server-it-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running server: its base URL and what stops it.
pub struct Running {
    pub base: String,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
    pub recovered: Vec<unidb_server::Recovered>,
}

impl Running {
    pub fn url(&self, partition: &str) -> String {
        partition_url(&self.base, partition)
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(WAIT, &mut self.task).await;
    }
}

pub async fn start(dir: &std::path::Path, options: ServerOptions) -> Running {
    let server = Server::bind("127.0.0.1:0", dir, options).await.unwrap();
    let base = format!("ws://{}", server.local_addr());
    let recovered = server.recovered().to_vec();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    Running {
        base,
        stop: Some(tx),
        task,
        recovered,
    }
}

/// A client replica connected to one partition.
pub struct Peer {
    pub db: Arc<Database>,
    pub session: Session,
    pub conn: Connection,
}

impl Peer {
    /// A new replica `id` with the load schema, connected and past the
    /// handshake.
    pub async fn connect(url: &str, token: Option<&str>, id: u64) -> Result<Peer> {
        let db = Arc::new(Database::open(
            ReplicaId::from_u64(id),
            Arc::new(SystemClock),
            &unidb_server::load::schema(),
        )?);
        Self::connect_db(url, token, db).await
    }

    /// An existing replica, connected (resuming).
    pub async fn connect_db(url: &str, token: Option<&str>, db: Arc<Database>) -> Result<Peer> {
        let conn = Connection::connect(url, token).await?;
        let mut peer = Peer {
            session: Session::new(db.clone(), SyncConfig::default()),
            db,
            conn,
        };
        let hello = peer.session.hello_encoded();
        peer.conn.send(hello).await?;
        while peer.session.peer().is_none() {
            peer.pump().await?;
        }
        Ok(peer)
    }

    /// Receives and handles one message (bounded by [`WAIT`]).
    pub async fn pump(&mut self) -> Result<()> {
        let msg = tokio::time::timeout(WAIT, self.conn.recv())
            .await
            .map_err(|_| ServerError::Timeout("test peer"))??;
        let Some(bytes) = msg else {
            return Err(ServerError::Timeout("connection closed"));
        };
        for reply in self.session.handle_bytes(&bytes)? {
            self.conn.send(reply).await?;
        }
        Ok(())
    }

    /// Sends what the session has to send.
    pub async fn flush(&mut self) -> Result<()> {
        for m in self.session.poll_encoded() {
            self.conn.send(m).await?;
        }
        Ok(())
    }

    /// Inserts row `id` and waits for the server's acknowledgement.
    pub async fn write(&mut self, id: i64) -> Result<()> {
        self.db.insert(
            "load",
            [
                ("id", Value::I64(id)),
                ("client", Value::I64(self.db.replica().as_u64() as i64)),
                ("n", Value::I64(id * 3)),
                ("note", Value::from(format!("row {id}"))),
            ],
        )?;
        let me = self.db.replica();
        let seq = self.db.version_vector().get(me);
        self.flush().await?;
        while self.session.acked().get(me) < seq {
            self.pump().await?;
        }
        Ok(())
    }

    /// Handles messages until `done` holds.
    pub async fn until(&mut self, mut done: impl FnMut(&Database) -> bool) -> Result<()> {
        while !done(&self.db) {
            self.pump().await?;
        }
        Ok(())
    }

    /// The ids of the `load` table's rows.
    pub fn ids(&self) -> Vec<i64> {
        ids(&self.db)
    }
}

/// The ids of the `load` table's rows of `db`.
pub fn ids(db: &Database) -> Vec<i64> {
    db.read()
        .dump()
        .get("load")
        .map(|rows| rows.keys().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

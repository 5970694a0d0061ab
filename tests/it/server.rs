//! The server as a real process killed with SIGKILL at random moments
//! while clients write: no acknowledged write is lost, and the clients
//! resume and converge.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::rng::SplitMix64;
use unidb_common::time::SystemClock;
use unidb_server::client::{partition_url, Connection};
use unidb_syncdb::{Database, Message, Session, SyncConfig, Value, VersionVector};

/// Bound of every single wait.
const WAIT: Duration = Duration::from_secs(20);
const CLIENTS: u64 = 4;
const ROUNDS: usize = 4;

/// Starts `unidb sync serve` on a free port; returns the child and its
/// base URL (read from its first line of JSON output).
fn spawn_server(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unidb"))
        .args([
            "--json",
            "sync",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure",
            "--data",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start unidb sync serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("a JSON start line");
    let addr = v["listening"]
        .as_str()
        .expect("listening address")
        .to_owned();
    (child, format!("ws://{addr}"))
}

struct Writer {
    db: Arc<Database>,
    next: i64,
    /// Sequence numbers the server acknowledged (the frontier).
    acked: u64,
}

/// Connects `w` to the server, then writes rows until the connection
/// breaks (the server was killed) or `limit` rows were acknowledged.
async fn write_until_broken(url: String, w: &mut Writer, limit: usize) {
    let me = w.db.replica();
    let Ok(Ok(mut conn)) = tokio::time::timeout(WAIT, Connection::connect(&url, None)).await else {
        return;
    };
    let mut session = Session::new(w.db.clone(), SyncConfig::default());
    let step = async {
        conn.send(session.hello_encoded()).await?;
        for _ in 0..limit {
            // Rows written locally but unacknowledged before a crash are
            // resent by the session after the server's Hello.
            if session.peer().is_some() {
                let id = w.next;
                w.next += 1;
                w.db.insert(
                    "load",
                    [
                        ("id", Value::I64(id)),
                        ("client", Value::I64(me.as_u64() as i64)),
                        ("n", Value::I64(id)),
                    ],
                )
                .unwrap();
                for m in session.poll_encoded() {
                    conn.send(m).await?;
                }
            }
            let target = w.db.version_vector().get(me);
            while session.peer().is_none() || session.acked().get(me) < target {
                let Some(bytes) = tokio::time::timeout(WAIT, conn.recv())
                    .await
                    .map_err(|_| unidb_server::ServerError::Timeout("ack"))??
                else {
                    return Err(unidb_server::ServerError::Timeout("closed"));
                };
                for r in session.handle_bytes(&bytes)? {
                    conn.send(r).await?;
                }
                for m in session.poll_encoded() {
                    conn.send(m).await?;
                }
                w.acked = w.acked.max(session.acked().get(me));
            }
            w.acked = w.acked.max(session.acked().get(me));
        }
        Ok::<(), unidb_server::ServerError>(())
    };
    let _ = tokio::time::timeout(WAIT * 2, step).await;
}

/// The server's version vector of partition `p`, from its Hello.
async fn server_vv(base: &str) -> VersionVector {
    let url = partition_url(base, "p");
    for _ in 0..200 {
        if let Ok(mut c) = Connection::connect(&url, None).await {
            if let Ok(Ok(Some(bytes))) = tokio::time::timeout(WAIT, c.recv()).await {
                if let Ok(Message::Hello { known, .. }) = Message::decode(&bytes) {
                    return known;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the restarted server did not answer");
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let dir = std::env::temp_dir().join(format!("unidb-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rt = unidb_server::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("kill -9 test seed {seed}");
    let mut rng = SplitMix64::new(seed);
    let mut writers: Vec<Writer> = (1..=CLIENTS)
        .map(|i| Writer {
            db: Arc::new(
                Database::open(
                    ReplicaId::from_u64(i),
                    Arc::new(SystemClock),
                    &unidb_server::load::schema(),
                )
                .unwrap(),
            ),
            next: i as i64 * 1_000_000,
            acked: 0,
        })
        .collect();
    for round in 0..ROUNDS {
        let (mut child, base) = spawn_server(&dir);
        let url = partition_url(&base, "p");
        let kill_after = Duration::from_millis(50 + rng.below(400));
        rt.block_on(async {
            let killer = async {
                tokio::time::sleep(kill_after).await;
                child.kill().expect("SIGKILL the server");
            };
            let writes = futures_join(
                writers
                    .iter_mut()
                    .map(|w| write_until_broken(url.clone(), w, 100_000)),
            );
            tokio::join!(killer, writes);
        });
        let _ = child.wait();
        // Restart: every acknowledged write is on the server.
        let (mut child, base) = spawn_server(&dir);
        let vv = rt.block_on(server_vv(&base));
        for w in &writers {
            let me = w.db.replica();
            assert!(
                vv.get(me) >= w.acked,
                "round {round}: replica {me} had {} acknowledged, the restarted server holds {}",
                w.acked,
                vv.get(me)
            );
        }
        eprintln!(
            "round {round}: killed after {kill_after:?}; acknowledged {:?}; the server holds {vv:?}",
            writers.iter().map(|w| w.acked).collect::<Vec<_>>()
        );
        assert!(
            writers.iter().any(|w| w.acked > 0),
            "round {round}: some writes were acknowledged"
        );
        child.kill().unwrap();
        let _ = child.wait();
    }
    // Last start: every client resumes, finishes its writes, and all converge.
    let (mut child, base) = spawn_server(&dir);
    let url = partition_url(&base, "p");
    rt.block_on(async {
        futures_join(
            writers
                .iter_mut()
                .map(|w| write_until_broken(url.clone(), w, 3)),
        )
        .await;
        // Each pulls until it holds what every other acknowledged.
        let target: VersionVector = writers.iter().map(|w| (w.db.replica(), w.acked)).collect();
        for w in &writers {
            let mut conn = Connection::connect(&url, None).await.unwrap();
            let mut session = Session::new(w.db.clone(), SyncConfig::default());
            conn.send(session.hello_encoded()).await.unwrap();
            while !w.db.version_vector().dominates(&target) {
                let bytes = tokio::time::timeout(WAIT, conn.recv())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                for r in session.handle_bytes(&bytes).unwrap() {
                    conn.send(r).await.unwrap();
                }
            }
        }
    });
    let first = writers[0].db.read().dump();
    for w in &writers[1..] {
        assert_eq!(w.db.read().dump(), first, "replicas converge");
    }
    child.kill().unwrap();
    let _ = child.wait();
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs futures concurrently on the current task.
async fn futures_join<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

//! Restarts: torn tails, compaction, recovery.

use std::sync::Arc;

use unidb_server::{ServerConfig, ServerOptions};

use crate::peer::{start, temp_dir, Peer};

fn logs(dir: &std::path::Path, partition: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("partitions").join(partition))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_is_truncated_reported_and_nothing_acked_is_lost() {
    let dir = temp_dir("torn");
    let server = start(&dir, ServerOptions::default()).await;
    let mut p = Peer::connect(&server.url("p"), None, 1).await.unwrap();
    for id in 0..20 {
        p.write(id).await.unwrap();
    }
    server.stop().await;
    // A crash in the middle of appending a record: half a record.
    let last = logs(&dir, "p").pop().unwrap();
    let good_len = std::fs::metadata(&last).unwrap().len();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    std::fs::write(&last, &bytes).unwrap();
    let server = start(&dir, ServerOptions::default()).await;
    let r = &server.recovered[0];
    assert_eq!(r.partition, "p");
    assert_eq!(r.report.truncated.len(), 1, "{r:?}");
    let (file, offset, dropped, reason) = &r.report.truncated[0];
    assert_eq!(file, last.file_name().unwrap().to_str().unwrap());
    assert_eq!((*offset, *dropped), (good_len, 10));
    assert!(reason.contains("cut short"), "{reason}");
    assert_eq!(
        std::fs::metadata(&last).unwrap().len(),
        good_len,
        "truncated on disk"
    );
    // Every acknowledged write is there: a fresh replica receives them all.
    let mut fresh = Peer::connect(&server.url("p"), None, 2).await.unwrap();
    fresh
        .until(|db| crate::peer::ids(db).len() >= 20)
        .await
        .unwrap();
    assert_eq!(fresh.ids(), (0..20).collect::<Vec<_>>());
    // And the first client resumes where it was.
    let mut again = Peer::connect_db(&server.url("p"), None, Arc::clone(&p.db))
        .await
        .unwrap();
    again.write(20).await.unwrap();
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_snapshots_the_log_and_restarts_from_the_snapshot() {
    let dir = temp_dir("compact");
    let options = ServerOptions {
        config: ServerConfig {
            compact_log_bytes: 2048,
            ..ServerConfig::default()
        },
        ..ServerOptions::default()
    };
    let server = start(&dir, options.clone()).await;
    let mut p = Peer::connect(&server.url("p"), None, 1).await.unwrap();
    for id in 0..60 {
        p.write(id).await.unwrap();
    }
    server.stop().await;
    let files: Vec<String> = std::fs::read_dir(dir.join("partitions/p"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.ends_with(".snap")), "{files:?}");
    assert!(
        logs(&dir, "p").len() <= 3,
        "compacted logs are deleted: {files:?}"
    );
    let server = start(&dir, options).await;
    let r = &server.recovered[0];
    assert!(r.report.snapshot_generation.is_some(), "{r:?}");
    assert!(
        r.report.records < 60,
        "most writes come from the snapshot: {r:?}"
    );
    assert_eq!(r.changes, 60 * 4);
    let mut fresh = Peer::connect(&server.url("p"), None, 2).await.unwrap();
    fresh
        .until(|db| crate::peer::ids(db).len() >= 60)
        .await
        .unwrap();
    assert_eq!(fresh.ids(), (0..60).collect::<Vec<_>>());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn snapshots(dir: &std::path::Path, partition: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("partitions").join(partition))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_newest_snapshot_falls_back_to_the_one_before_and_reports_it() {
    let dir = temp_dir("snap-fallback");
    let options = ServerOptions {
        config: ServerConfig {
            compact_log_bytes: 2048,
            ..ServerConfig::default()
        },
        ..ServerOptions::default()
    };
    let server = start(&dir, options.clone()).await;
    let mut p = Peer::connect(&server.url("p"), None, 1).await.unwrap();
    // Write until two snapshots are on disk (bounded).
    let mut n = 0;
    while n < 400 && (n < 40 || snapshots(&dir, "p").len() < 2) {
        p.write(n).await.unwrap();
        n += 1;
    }
    server.stop().await;
    // A compaction under way when the server stopped finishes.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let snaps = snapshots(&dir, "p");
    assert_eq!(snaps.len(), 2, "the newest and the one before: {snaps:?}");
    // Damage the newest: one byte in its middle.
    let newest = snaps.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(newest, &bytes).unwrap();
    let server = start(&dir, options).await;
    let r = &server.recovered[0];
    let why = r.report.snapshot_fallback.as_deref().unwrap_or_default();
    assert!(why.contains("did not load"), "{r:?}");
    let older = snaps[0].file_stem().unwrap().to_str().unwrap();
    let older = u64::from_str_radix(older.trim_start_matches("snapshot-"), 16).unwrap();
    assert_eq!(r.report.snapshot_generation, Some(older), "{r:?}");
    // Every acknowledged write is there.
    assert_eq!(r.changes, n as usize * 4);
    let mut fresh = Peer::connect(&server.url("p"), None, 2).await.unwrap();
    fresh
        .until(|db| crate::peer::ids(db).len() >= n as usize)
        .await
        .unwrap();
    assert_eq!(fresh.ids(), (0..n).collect::<Vec<_>>());
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_only_snapshot_falls_back_to_replaying_every_log() {
    let dir = temp_dir("snap-replay");
    let options = ServerOptions {
        config: ServerConfig {
            compact_log_bytes: 2048,
            ..ServerConfig::default()
        },
        ..ServerOptions::default()
    };
    let server = start(&dir, options.clone()).await;
    let mut p = Peer::connect(&server.url("p"), None, 1).await.unwrap();
    let mut n = 0;
    while n < 400 && snapshots(&dir, "p").is_empty() {
        p.write(n).await.unwrap();
        n += 1;
    }
    server.stop().await;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let snaps = snapshots(&dir, "p");
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let mut bytes = std::fs::read(&snaps[0]).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&snaps[0], &bytes).unwrap();
    let server = start(&dir, options).await;
    let r = &server.recovered[0];
    let why = r.report.snapshot_fallback.as_deref().unwrap_or_default();
    assert!(why.contains("the first log record"), "{r:?}");
    assert_eq!(r.report.snapshot_generation, None);
    assert_eq!(r.changes, n as usize * 4);
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Writes through `handle_frame` while the partition compacts: they are
/// acknowledged during the compaction and survive a restart.
#[test]
fn writes_during_compaction_are_acked_and_survive_restart() {
    use unidb_common::id::ReplicaId;
    use unidb_common::time::SystemClock;
    use unidb_server::auth::Rights;
    use unidb_server::handle_frame;
    use unidb_server::partition::Partition;
    use unidb_server::storage::{FileStorage, Storage};
    use unidb_syncdb::{Database, Session, SyncConfig, Value};

    let dir = temp_dir("compact-writes");
    let storage = FileStorage::new(&dir).unwrap();
    let server_id = ReplicaId::from_u64(1000);
    let schema = unidb_server::load::schema();
    let partition =
        Arc::new(Partition::recover("p", storage.open("p").unwrap(), server_id, &schema).unwrap());
    let client =
        Arc::new(Database::open(ReplicaId::from_u64(1), Arc::new(SystemClock), &schema).unwrap());
    let mut theirs = Session::new(client.clone(), SyncConfig::default());
    let mut ours = Session::new(partition.database().clone(), SyncConfig::default());
    theirs.handle_bytes(&ours.hello_encoded()).unwrap();
    handle_frame(
        &partition,
        &mut ours,
        Rights::ReadWrite,
        &theirs.hello_encoded(),
        false,
    )
    .unwrap();
    let write = |id: i64, theirs: &mut Session, ours: &mut Session| {
        client
            .insert(
                "load",
                [
                    ("id", Value::I64(id)),
                    ("client", 1i64.into()),
                    ("n", id.into()),
                    ("note", Value::from("x".repeat(40))),
                ],
            )
            .unwrap();
        let mut lsn = 0;
        for frame in theirs.poll_encoded() {
            let h = handle_frame(&partition, ours, Rights::ReadWrite, &frame, true).unwrap();
            lsn = lsn.max(h.wait_for.unwrap_or(0));
        }
        // Acknowledged once durable (bounded wait).
        let durable = partition.log().durable();
        let started = std::time::Instant::now();
        while durable.borrow().lsn < lsn {
            assert!(started.elapsed() < crate::peer::WAIT, "no durability");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    };
    // A partition big enough for its snapshot to take a while.
    for id in 0..3000 {
        client
            .insert(
                "load",
                [
                    ("id", Value::I64(id)),
                    ("client", 1i64.into()),
                    ("n", id.into()),
                    ("note", Value::from(format!("preloaded row {id}"))),
                ],
            )
            .unwrap();
    }
    for frame in theirs.poll_encoded() {
        handle_frame(&partition, &mut ours, Rights::ReadWrite, &frame, true).unwrap();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let compaction = {
        let (p, done) = (partition.clone(), done.clone());
        std::thread::spawn(move || {
            let r = p.compact();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        })
    };
    let (mut during, mut id) = (0, 10_000);
    while id < 10_200 && (id < 10_005 || !done.load(std::sync::atomic::Ordering::SeqCst)) {
        write(id, &mut theirs, &mut ours);
        if !done.load(std::sync::atomic::Ordering::SeqCst) {
            during += 1;
        }
        id += 1;
    }
    compaction.join().unwrap().unwrap();
    assert!(during >= 1, "no write was acknowledged while compacting");
    let expected = client.read().dump();
    drop((ours, partition));
    // Restart: the snapshot and the log after its cut hold every write.
    let storage = FileStorage::new(&dir).unwrap();
    let opened = storage.open("p").unwrap();
    assert!(opened.report.snapshot_generation.is_some());
    let again = Partition::recover("p", opened, server_id, &schema).unwrap();
    assert_eq!(again.database().read().dump(), expected);
    std::fs::remove_dir_all(&dir).ok();
}

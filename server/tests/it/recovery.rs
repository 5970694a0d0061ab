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

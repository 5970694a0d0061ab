//! Many clients write concurrently and converge with the server.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use unidb_server::load::{run, Credentials, LoadOptions};
use unidb_server::ServerOptions;

use crate::peer::{start, temp_dir, Peer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_converge_and_every_acked_write_is_on_the_server() {
    let dir = temp_dir("converge");
    let server = start(&dir, ServerOptions::default()).await;
    let options = LoadOptions {
        server: server.base.clone(),
        clients: 24,
        ops: 15,
        partitions: Some(3),
        credentials: Credentials::None,
        timeout_s: 20.0,
        ..LoadOptions::default()
    };
    let acked = Arc::new(AtomicU64::new(0));
    let report = run(&options, acked.clone()).await.unwrap();
    assert_eq!(report.clients, 24);
    assert_eq!(report.ops, 24 * 15);
    assert_eq!(report.acked, 24 * 15, "{report:?}");
    assert_eq!(acked.load(std::sync::atomic::Ordering::SeqCst), 24 * 15);
    assert_eq!(report.refused, 0);
    assert_eq!(report.lost_acked_writes, 0, "{report:?}");
    assert!(report.converged, "{report:?}");
    assert!(report.p50_ms > 0.0 && report.p99_ms >= report.p50_ms);
    // Independently of the generator's own checks: a fresh replica of
    // each partition receives exactly the rows its clients wrote (client
    // i writes ids i*ops .. i*ops+ops-1 to partition load-{i % 3}).
    for p in 0..3usize {
        let mut reader = Peer::connect(&server.url(&format!("load-{p}")), None, 1 << 40)
            .await
            .unwrap();
        let expected: BTreeSet<i64> = (0..24usize)
            .filter(|i| i % 3 == p)
            .flat_map(|i| (0..15).map(move |k| (i * 15 + k) as i64))
            .collect();
        reader
            .until(|db| crate::peer::ids(db).len() >= expected.len())
            .await
            .unwrap();
        let got: BTreeSet<i64> = reader.ids().into_iter().collect();
        assert_eq!(got, expected, "partition load-{p}");
    }
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_clients_receive_each_others_writes_and_not_other_partitions() {
    let dir = temp_dir("live");
    let server = start(&dir, ServerOptions::default()).await;
    let mut a = Peer::connect(&server.url("red"), None, 1).await.unwrap();
    let mut b = Peer::connect(&server.url("red"), None, 2).await.unwrap();
    let mut c = Peer::connect(&server.url("blue"), None, 3).await.unwrap();
    for id in 0..10 {
        a.write(id).await.unwrap();
        c.write(100 + id).await.unwrap();
    }
    b.write(50).await.unwrap();
    b.until(|db| crate::peer::ids(db).len() == 11)
        .await
        .unwrap();
    a.until(|db| crate::peer::ids(db).len() == 11)
        .await
        .unwrap();
    assert_eq!(a.db.read().dump(), b.db.read().dump());
    assert_eq!(c.ids(), (100..110).collect::<Vec<_>>());
    // What red's replicas know of: red's writers only.
    let vv = b.db.version_vector();
    assert_eq!(vv.len(), 2, "{vv:?}");
    assert_eq!(
        b.session
            .acked()
            .get(unidb_common::id::ReplicaId::from_u64(3)),
        0
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

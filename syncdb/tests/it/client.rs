//! The client side of sync: transports, rounds, the client, observers.

use std::sync::Arc;
use std::time::Duration;

use unidb_common::id::ReplicaId;
use unidb_common::time::ManualClock;
use unidb_syncdb::client::{sync_round, InProcess, Transport, TransportError};
use unidb_syncdb::{
    ColumnDef, ColumnType, Database, Migration, Session, SyncConfig, SyncError, TableDef, Value,
};

fn schema() -> Vec<Migration> {
    vec![Migration::AddTable(
        TableDef::new("t", "id", ColumnType::I64)
            .column(ColumnDef::new("v", ColumnType::I64).default_value(0i64)),
    )]
}

fn db(id: u64, clock: &Arc<ManualClock>) -> Arc<Database> {
    Arc::new(Database::open(ReplicaId::from_u64(id), clock.clone(), &schema()).unwrap())
}

const T: Duration = Duration::from_secs(5);

#[test]
fn rounds_over_the_in_process_transport_converge_two_phones() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let server = db(100, &clock);
    let transport = InProcess::new(server.clone(), SyncConfig::default());
    let (a, b) = (db(1, &clock), db(2, &clock));
    let mut sa = Session::new(a.clone(), SyncConfig::default());
    let mut sb = Session::new(b.clone(), SyncConfig::default());
    for i in 0..50 {
        a.insert("t", [("id", Value::I64(i)), ("v", Value::I64(i))])
            .unwrap();
        b.insert("t", [("id", Value::I64(1000 + i)), ("v", Value::I64(i))])
            .unwrap();
        clock.advance(1);
    }
    let ra = sync_round(&mut sa, transport.connect().unwrap().as_mut(), true, T).unwrap();
    assert!(ra.complete && ra.bytes_up > 0 && ra.messages_down > 0);
    let rb = sync_round(&mut sb, transport.connect().unwrap().as_mut(), true, T).unwrap();
    assert!(rb.complete);
    // b got a's rows in its round; a gets b's in the next.
    sync_round(&mut sa, transport.connect().unwrap().as_mut(), true, T).unwrap();
    let (da, db_, ds) = (a.read().dump(), b.read().dump(), server.read().dump());
    assert_eq!(da, ds);
    assert_eq!(db_, ds);
    assert_eq!(ds["t"].len(), 100);
    // Every local change acknowledged.
    assert_eq!(
        sa.acked().get(a.replica()),
        a.version_vector().get(a.replica())
    );
}

#[test]
fn a_failed_round_loses_nothing_and_the_next_resumes() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let server = db(100, &clock);
    let transport = InProcess::new(server.clone(), SyncConfig::default());
    let a = db(1, &clock);
    let mut sa = Session::new(a.clone(), SyncConfig::default());
    for i in 0..20 {
        a.insert("t", [("id", Value::I64(i))]).unwrap();
    }
    transport.set_offline(true);
    let err = transport.connect().unwrap_err();
    assert!(matches!(err, TransportError::Unreachable { .. }), "{err}");
    transport.set_offline(false);
    // The connection opens, then the first send fails.
    let mut conn = transport.connect().unwrap();
    transport.fail_next(1);
    let err = sync_round(&mut sa, conn.as_mut(), true, T).unwrap_err();
    assert!(
        matches!(err, SyncError::Transport(TransportError::Closed { .. })),
        "{err}"
    );
    assert_eq!(server.read().count("t").unwrap(), 0);
    // A new connection resumes from the server's checkpoint.
    let r = sync_round(&mut sa, transport.connect().unwrap().as_mut(), true, T).unwrap();
    assert!(r.complete);
    assert_eq!(server.read().dump(), a.read().dump());
    // A second round on the same connection has nothing to carry up.
    let mut conn = transport.connect().unwrap();
    sync_round(&mut sa, conn.as_mut(), true, T).unwrap();
    let again = sync_round(&mut sa, conn.as_mut(), false, T).unwrap();
    assert!(again.complete);
    assert_eq!(again.messages_up, 0, "nothing new to send");
    // New writes go up on the kept connection.
    a.insert("t", [("id", Value::I64(99))]).unwrap();
    let more = sync_round(&mut sa, conn.as_mut(), false, T).unwrap();
    assert!(more.complete && more.messages_up >= 1, "{more:?}");
    assert_eq!(more.messages_down, more.messages_up, "an ack per batch");
    assert_eq!(server.read().dump(), a.read().dump());
}

#[test]
fn a_server_that_refuses_closes_the_connection() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let server = db(100, &clock);
    let transport = InProcess::new(server, SyncConfig::default());
    let mut conn = transport.connect().unwrap();
    conn.send(vec![0xff, 1, 2, 3]).unwrap_err();
    assert!(matches!(
        conn.send(vec![1]),
        Err(TransportError::Closed { .. })
    ));
    let e = unidb_common::Error::from(SyncError::Transport(TransportError::Timeout(T)));
    assert_eq!(e.kind(), unidb_common::ErrorKind::Io);
}

mod client_api {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use unidb_common::id::ReplicaId;
    use unidb_common::time::{ManualClock, SystemClock};
    use unidb_syncdb::client::{
        ChangeSet, Client, ClientOptions, Filter, InProcess, Source, Transport,
    };
    use unidb_syncdb::power::{Inputs, Network, PowerProfiles, Priority};
    use unidb_syncdb::{
        sync_pair, ColumnDef, ColumnType, Database, Migration, Predicate, Row, Session, SyncConfig,
        SyncError, TableDef, Value,
    };

    fn schema() -> Vec<Migration> {
        ["items", "logs"]
            .into_iter()
            .map(|t| {
                Migration::AddTable(
                    TableDef::new(t, "id", ColumnType::I64)
                        .column(ColumnDef::new("v", ColumnType::I64).default_value(0i64))
                        .column(ColumnDef::new("tag", ColumnType::Text).default_value("")),
                )
            })
            .collect()
    }

    /// A profile that reacts within milliseconds, for tests with a real
    /// clock.
    fn quick() -> PowerProfiles {
        PowerProfiles::from_json_str(
            r#"{"base": {}, "profiles": {"quick": {"flush_window_ms": 20, "poll_interval_s": 1,
                "backoff_base_ms": 10, "backoff_cap_ms": 50, "cellular": "low"}}}"#,
        )
        .unwrap()
    }

    fn setup(background: bool) -> (Client, InProcess, Arc<Database>) {
        let clock = Arc::new(SystemClock);
        let server =
            Arc::new(Database::open(ReplicaId::from_u64(100), clock.clone(), &schema()).unwrap());
        let transport = InProcess::new(server.clone(), SyncConfig::default());
        let mut o = ClientOptions::new(ReplicaId::from_u64(1), Arc::new(transport.clone()));
        o.schema = schema();
        o.profiles = quick();
        o.profile = Some("quick".into());
        o.background = background;
        o.priorities = BTreeMap::from([("logs".to_owned(), Priority::Low)]);
        (Client::open(o).unwrap(), transport, server)
    }

    fn table(db: &Database, t: &str) -> BTreeMap<Value, Row> {
        db.read().dump().remove(t).unwrap()
    }

    fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ok() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A subscriber's accumulated view, checking each change set against
    /// it: an insert of a row it holds, or an update or delete of one it
    /// lacks, would be a change seen twice or out of order.
    #[derive(Default)]
    struct View {
        rows: BTreeMap<Value, Row>,
        last_commit: u64,
        sets: u64,
        remote: u64,
        errors: Vec<String>,
    }

    impl View {
        fn take(&mut self, set: &ChangeSet) {
            if set.commit <= self.last_commit {
                self.errors
                    .push(format!("commit {} after {}", set.commit, self.last_commit));
            }
            self.last_commit = set.commit;
            self.sets += 1;
            if set.source == Source::Remote {
                self.remote += 1;
            }
            for i in &set.inserted {
                if self.rows.contains_key(&i.key) {
                    self.errors.push(format!("insert of held row {:?}", i.key));
                }
            }
            for u in &set.updated {
                if !self.rows.contains_key(&u.key) {
                    self.errors
                        .push(format!("update of missing row {:?}", u.key));
                }
            }
            for d in &set.deleted {
                if !self.rows.contains_key(&d.key) {
                    self.errors
                        .push(format!("delete of missing row {:?}", d.key));
                }
            }
            set.apply_to(&mut self.rows);
        }
    }

    #[test]
    fn subscribers_see_every_change_once_in_commit_order_under_a_hammer() {
        let (client, transport, server) = setup(false);
        let me = client.database().replica();
        let laptop = Arc::new(
            Database::open(ReplicaId::from_u64(2), Arc::new(SystemClock), &schema()).unwrap(),
        );
        let all = Arc::new(Mutex::new(View::default()));
        let ranged = Arc::new(Mutex::new(View::default()));
        let matching = Arc::new(Mutex::new(View::default()));
        let a = all.clone();
        let _s_all = client
            .subscribe("items", Filter::All, move |set| {
                a.lock().unwrap().take(&set)
            })
            .unwrap();
        let r = ranged.clone();
        let range = Value::I64(100)..Value::I64(300);
        let _s_range = client
            .subscribe("items", Filter::keys(range.clone()), move |set| {
                r.lock().unwrap().take(&set)
            })
            .unwrap();
        let m = matching.clone();
        let pred = Predicate::Ge("v".into(), Value::I64(50));
        let _s_pred = client
            .subscribe("items", Filter::Where(pred), move |set| {
                m.lock().unwrap().take(&set)
            })
            .unwrap();
        let (chan_sub, chan) = client.subscribe_channel("items", Filter::All).unwrap();
        // A subscriber that panics on its third change set, and one that
        // is slow.
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let panicky = client
            .subscribe("items", Filter::All, move |_| {
                if c.fetch_add(1, Ordering::SeqCst) == 2 {
                    panic!("subscriber bug");
                }
            })
            .unwrap();
        let slow = Arc::new(Mutex::new(View::default()));
        let sl = slow.clone();
        let slow_sub = client
            .subscribe("items", Filter::All, move |set| {
                std::thread::sleep(Duration::from_millis(2));
                sl.lock().unwrap().take(&set);
            })
            .unwrap();

        let writers_done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        std::thread::scope(|scope| {
            for w in 0..4i64 {
                let client = client.clone();
                scope.spawn(move || {
                    let mut rng = unidb_common::rng::SplitMix64::new(w as u64 + 1);
                    for i in 0..250i64 {
                        let key = Value::I64(rng.below(400) as i64);
                        let _ = client.transaction(|tx| match rng.below(4) {
                            0 => {
                                tx.delete("items", key.clone());
                            }
                            1 | 2 => {
                                tx.update(
                                    "items",
                                    key.clone(),
                                    [("v", Value::I64(rng.below(100) as i64))],
                                );
                                tx.update(
                                    "items",
                                    key.clone(),
                                    [("tag", Value::from(format!("w{w}")))],
                                );
                            }
                            _ => {
                                tx.insert(
                                    "items",
                                    [("id", key.clone()), ("v", Value::I64(i % 100))],
                                );
                            }
                        });
                    }
                });
            }
            // Remote batches: another device writes through the server,
            // and the client syncs meanwhile.
            let done = writers_done.clone();
            let (laptop, server, client) = (laptop.clone(), server.clone(), client.clone());
            scope.spawn(move || {
                let mut ls = Session::new(laptop.clone(), SyncConfig::default());
                let mut ss = Session::new(server.clone(), SyncConfig::default());
                for i in 0..60i64 {
                    let key = 1000 + i % 40;
                    let _ =
                        laptop.insert("items", [("id", Value::I64(key)), ("v", Value::I64(60))]);
                    let _ = laptop.update("items", key, [("v", Value::I64(i))]);
                    sync_pair(&mut ls, &mut ss).unwrap();
                    client.sync_now().unwrap();
                }
                done.store(true, Ordering::SeqCst);
            });
        });
        let writing = started.elapsed();
        assert!(writers_done.load(Ordering::SeqCst));
        client.sync_now().unwrap();
        let truth = table(client.database(), "items");
        // The panicking subscriber ended; the slow one did not hold up
        // writers (they finished long before it will).
        wait_until("the panicking subscriber to fail", || panicky.failed());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        wait_until("subscribers to catch up", || {
            all.lock().unwrap().rows == truth && slow.lock().unwrap().rows == truth
        });
        let slow_sets = slow.lock().unwrap().sets;
        assert!(
            writing < Duration::from_millis(2) * slow_sets as u32,
            "writers took {writing:?}, the slow subscriber needs {slow_sets} x 2 ms"
        );
        assert!(slow_sub.delivered() > 0);
        let in_range: BTreeMap<Value, Row> = truth
            .iter()
            .filter(|(k, _)| range.contains(*k))
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        let matches: BTreeMap<Value, Row> = truth
            .iter()
            .filter(|(_, r)| r["v"] >= Value::I64(50))
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect();
        wait_until("filtered subscribers", || {
            ranged.lock().unwrap().rows == in_range && matching.lock().unwrap().rows == matches
        });
        for (name, v) in [
            ("all", &all),
            ("range", &ranged),
            ("predicate", &matching),
            ("slow", &slow),
        ] {
            let v = v.lock().unwrap();
            assert!(
                v.errors.is_empty(),
                "{name}: {:?}",
                &v.errors[..v.errors.len().min(5)]
            );
        }
        let all = all.lock().unwrap();
        assert!(all.remote > 0, "remote batches were observed");
        assert!(
            truth.keys().any(|k| *k >= Value::I64(1000)),
            "the laptop's rows are here"
        );
        // The channel subscriber saw the same sequence.
        let mut chan_view = View::default();
        wait_until("the channel subscriber", || {
            while let Ok(set) = chan.try_recv() {
                chan_view.take(&set);
            }
            chan_view.rows == truth
        });
        assert!(chan_view.errors.is_empty(), "{:?}", chan_view.errors);
        assert_eq!(chan_view.sets, all.sets);
        // Unsubscribing by drop: nothing more arrives.
        drop(chan_sub);
        client
            .transaction(|tx| {
                tx.insert("items", [("id", Value::I64(5000))]);
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(chan.try_recv().is_err());
        // Every change reached the server too.
        client.sync_now().unwrap();
        assert_eq!(client.read().dump(), server.read().dump());
        assert_eq!(client.pending_changes(), 0);
        let _ = (me, transport);
    }

    #[test]
    fn the_worker_syncs_in_the_background_and_retries_after_failures() {
        let (client, transport, server) = setup(true);
        for i in 0..20 {
            client
                .database()
                .insert("items", [("id", Value::I64(i))])
                .unwrap();
        }
        wait_until("the worker's first sync", || {
            server.read().count("items").unwrap() == 20
        });
        // Offline at the transport: rounds fail and back off; nothing is lost.
        transport.set_offline(true);
        for i in 20..40 {
            client
                .database()
                .insert("items", [("id", Value::I64(i))])
                .unwrap();
        }
        wait_until("failed rounds", || {
            client.metrics().snapshot().counters["client.sync_failures"] >= 3
        });
        assert_eq!(server.read().count("items").unwrap(), 20);
        transport.set_offline(false);
        wait_until("the retry to resume", || {
            server.read().count("items").unwrap() == 40
        });
        let m = client.metrics().snapshot();
        assert_eq!(m.counters["client.writes"], 40);
        assert!(m.counters["client.syncs"] >= 2 && m.counters["client.bytes_up"] > 0);
        assert!(m.counters["client.wakes"] >= m.counters["client.syncs"]);
        assert!(m.histograms["sync.encode_ns"].count > 0);
        assert!(client.last_sync_age_ms().is_some());
        // The server's changes come down by polling.
        let other = Arc::new(
            Database::open(ReplicaId::from_u64(3), Arc::new(SystemClock), &schema()).unwrap(),
        );
        other.insert("items", [("id", Value::I64(999))]).unwrap();
        sync_pair(
            &mut Session::new(other, SyncConfig::default()),
            &mut Session::new(server.clone(), SyncConfig::default()),
        )
        .unwrap();
        wait_until("the poll", || client.read().count("items").unwrap() == 41);
        client.shutdown().unwrap();
        client.shutdown().unwrap();
    }

    #[test]
    fn low_priority_changes_stay_off_metered_networks() {
        let (client, _transport, server) = setup(false);
        let balanced = PowerProfiles::builtin().resolve("balanced").unwrap();
        assert_eq!(balanced.metered, Some(Priority::Normal));
        // The fixed "quick" profile lets low priority use cellular, but
        // not a metered network.
        client.set_inputs(Inputs {
            network: Network::Cellular,
            metered: true,
            ..Inputs::default()
        });
        client
            .transaction(|tx| {
                tx.insert("logs", [("id", Value::I64(1))]);
                tx.insert("items", [("id", Value::I64(1))]);
            })
            .unwrap();
        client
            .database()
            .insert("logs", [("id", Value::I64(2))])
            .unwrap();
        client
            .database()
            .insert("items", [("id", Value::I64(2))])
            .unwrap();
        let r = client.sync_now().unwrap();
        assert!(r.complete);
        assert_eq!(server.read().count("items").unwrap(), 2);
        assert_eq!(
            server.read().count("logs").unwrap(),
            0,
            "no low-priority bytes on metered"
        );
        assert!(client.pending_changes() > 0);
        client.set_inputs(Inputs {
            network: Network::Cellular,
            metered: false,
            ..Inputs::default()
        });
        client.sync_now().unwrap();
        assert_eq!(server.read().dump(), client.read().dump());
        assert_eq!(client.pending_changes(), 0);
        // Offline: sync_now is a transport error.
        client.set_inputs(Inputs {
            network: Network::Offline,
            ..Inputs::default()
        });
        assert!(matches!(client.sync_now(), Err(SyncError::Transport(_))));
    }

    #[test]
    fn shutdown_saves_a_snapshot_the_next_client_opens() {
        let dir = std::env::temp_dir().join(format!("unidb-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("phone.snapshot");
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let server =
            Arc::new(Database::open(ReplicaId::from_u64(100), clock.clone(), &schema()).unwrap());
        let transport: Arc<dyn Transport> =
            Arc::new(InProcess::new(server.clone(), SyncConfig::default()));
        let options = |background| {
            let mut o = ClientOptions::new(ReplicaId::from_u64(1), transport.clone());
            o.schema = schema();
            o.clock = clock.clone();
            o.snapshot = Some(path.clone());
            o.background = background;
            o
        };
        let client = Client::open(options(true)).unwrap();
        client.set_inputs(Inputs {
            network: Network::Offline,
            ..Inputs::default()
        });
        for i in 0..10 {
            client
                .database()
                .insert("items", [("id", Value::I64(i))])
                .unwrap();
        }
        let before = client.read().dump();
        client.shutdown().unwrap();
        assert_eq!(
            server.read().count("items").unwrap(),
            0,
            "offline: nothing went up"
        );
        drop(client);
        let again = Client::open(options(false)).unwrap();
        assert_eq!(again.read().dump(), before);
        // Online, shutdown flushes what is pending.
        again.shutdown().unwrap();
        assert_eq!(server.read().dump(), before);
        // A snapshot of another replica is refused.
        let mut other = options(false);
        other.replica = ReplicaId::from_u64(9);
        assert!(matches!(
            Client::open(other),
            Err(SyncError::Protocol { .. })
        ));
        let mut bad = options(false);
        bad.profile = Some("warp".into());
        let e = Client::open(bad).unwrap_err();
        assert_eq!(e.kind(), unidb_common::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn stress_writes_reads_syncs_inputs_and_subscriptions_from_many_threads() {
        let (client, transport, server) = setup(true);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Writers: each transaction sets two rows to the same value.
            for w in 0..3i64 {
                let client = client.clone();
                scope.spawn(move || {
                    for i in 0..300i64 {
                        let (a, b) = (Value::I64(w * 2), Value::I64(w * 2 + 1));
                        client
                            .transaction(|tx| {
                                if i == 0 {
                                    tx.insert("items", [("id", a.clone())]);
                                    tx.insert("items", [("id", b.clone())]);
                                }
                                tx.update("items", a.clone(), [("v", Value::I64(i))]);
                                tx.update("items", b.clone(), [("v", Value::I64(i))]);
                            })
                            .unwrap();
                    }
                });
            }
            // Readers: a transaction is never seen half-applied.
            for _ in 0..2 {
                let (client, stop) = (client.clone(), &stop);
                scope.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let view = client.read();
                        for w in 0..3i64 {
                            let a = view.get("items", &Value::I64(w * 2)).unwrap();
                            let b = view.get("items", &Value::I64(w * 2 + 1)).unwrap();
                            assert_eq!(a.map(|r| r["v"].clone()), b.map(|r| r["v"].clone()));
                        }
                    }
                });
            }
            // Syncs, inputs and subscription churn.
            let (c1, stop1) = (client.clone(), &stop);
            scope.spawn(move || {
                let mut n = 0;
                while !stop1.load(Ordering::Relaxed) {
                    let _ = c1.sync_now();
                    let net = if n % 3 == 0 {
                        Network::Cellular
                    } else {
                        Network::Wifi
                    };
                    c1.set_inputs(Inputs {
                        network: net,
                        battery_pct: (n % 100) as f64,
                        ..Inputs::default()
                    });
                    let (sub, _rx) = c1.subscribe_channel("items", Filter::All).unwrap();
                    drop(sub);
                    n += 1;
                }
            });
            let (c2, stop2) = (client.clone(), &stop);
            scope.spawn(move || {
                // Flaky transport.
                while !stop2.load(Ordering::Relaxed) {
                    transport.fail_next(1);
                    std::thread::sleep(Duration::from_millis(3));
                }
                let _ = c2;
            });
            let c3 = client.clone();
            let stop3 = &stop;
            scope.spawn(move || {
                wait_until("writers", || {
                    c3.metrics().snapshot().counters["client.writes"] >= 900
                });
                stop3.store(true, Ordering::Relaxed);
            });
        });
        client.set_inputs(Inputs::default());
        wait_until("convergence", || {
            let _ = client.sync_now();
            client.read().dump() == server.read().dump()
        });
        for w in 0..3i64 {
            assert_eq!(
                server
                    .read()
                    .get("items", &Value::I64(w * 2))
                    .unwrap()
                    .unwrap()["v"],
                Value::I64(299)
            );
        }
        client.shutdown().unwrap();
    }
}

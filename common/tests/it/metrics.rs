//! Metrics: counters, gauges and latency histograms, their snapshots
//! and reports.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use unidb_common::metrics::*;

#[test]
fn send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Counter>();
    assert_send_sync::<Gauge>();
    assert_send_sync::<Histogram>();
    assert_send_sync::<Metrics>();
    assert_send_sync::<Timer<'static>>();
}

fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len() as u64;
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    sorted[(rank - 1) as usize]
}

proptest! {
    #[test]
    fn percentiles_within_stated_error(
        values in proptest::collection::vec(
            prop_oneof![0..100u64, 0..1_000_000u64, any::<u64>()], 1..500),
        q in 0.0..=1.0f64,
    ) {
        let h = Histogram::new();
        for &v in &values { h.record(v); }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for q in [q, 0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = nearest_rank(&sorted, q);
            let got = h.percentile(q);
            let err = (got as f64 - exact as f64).abs();
            prop_assert!(err <= exact as f64 * Histogram::RELATIVE_ERROR,
                "q={} exact={} got={}", q, exact, got);
        }
        let s = h.snapshot();
        prop_assert_eq!(s.count, values.len() as u64);
        prop_assert_eq!(s.min, sorted[0]);
        prop_assert_eq!(s.max, *sorted.last().unwrap());
        prop_assert_eq!(s.sum, values.iter().fold(0u64, |a, &v| a.wrapping_add(v)));
        prop_assert_eq!(s.p50, h.percentile(0.5));
    }
}

proptest! {
    #[test]
    fn merge_equals_recording_both(
        a in proptest::collection::vec(any::<u64>(), 0..100),
        b in proptest::collection::vec(0..10_000u64, 0..100),
    ) {
        let (ha, hb, hall) = (Histogram::new(), Histogram::new(), Histogram::new());
        for &v in &a { ha.record(v); hall.record(v); }
        for &v in &b { hb.record(v); hall.record(v); }
        ha.merge_from(&hb);
        prop_assert_eq!(ha.snapshot(), hall.snapshot());
    }
}

#[test]
fn empty_and_reset() {
    let h = Histogram::new();
    assert_eq!(h.snapshot(), HistogramSnapshot::default());
    assert_eq!(h.percentile(0.5), 0);
    h.record_n(7, 3);
    h.record_n(9, 0);
    assert_eq!(h.count(), 3);
    assert_eq!(h.percentile(f64::NAN), 7);
    h.reset();
    assert_eq!(h.count(), 0);
    assert_eq!(h.snapshot().max, 0);
}

#[test]
fn timer_records_on_drop_stop_and_not_on_discard() {
    let h = Histogram::new();
    {
        let _t = h.start_timer();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(h.count(), 1);
    assert!(h.snapshot().max >= 2_000_000);
    let d = h.start_timer().stop();
    assert_eq!(h.count(), 2);
    assert!(d < Duration::from_secs(10));
    h.start_timer().discard();
    assert_eq!(h.count(), 2);
}

#[test]
fn counter_and_gauge() {
    let c = Counter::new();
    c.inc();
    c.add(4);
    assert_eq!(c.get(), 5);
    assert_eq!(c.reset(), 5);
    assert_eq!(c.get(), 0);
    let g = Gauge::new();
    g.set(10);
    g.inc();
    g.sub(3);
    g.dec();
    g.add(-10);
    assert_eq!(g.get(), -3);
}

#[test]
fn hammered_metrics_are_exact() {
    let m = Metrics::new();
    let threads = 4u64;
    let per = 20_000u64;
    std::thread::scope(|s| {
        for t in 0..threads {
            let m = &m;
            s.spawn(move || {
                // Lookups by name race with creation in other threads.
                let c = m.counter("ops");
                let g = m.gauge("in_flight");
                let h = m.histogram("lat");
                for i in 0..per {
                    c.inc();
                    g.inc();
                    h.record(t * per + i);
                    g.dec();
                    if i % 1000 == 0 {
                        m.counter("ops_by_lookup").inc();
                    }
                }
            });
        }
    });
    let snap = m.snapshot();
    assert_eq!(snap.counters["ops"], threads * per);
    assert_eq!(snap.counters["ops_by_lookup"], threads * per / 1000);
    assert_eq!(snap.gauges["in_flight"], 0);
    let h = &snap.histograms["lat"];
    let n = threads * per;
    assert_eq!(h.count, n);
    assert_eq!(h.min, 0);
    assert_eq!(h.max, n - 1);
    assert_eq!(h.sum, n * (n - 1) / 2);
    // Values 0..n uniformly: exact p50 is the value of rank n/2.
    let exact = n / 2 - 1;
    assert!((h.p50 as f64 - exact as f64).abs() <= exact as f64 * Histogram::RELATIVE_ERROR);
}

#[test]
fn snapshot_serde_round_trip_and_report() {
    let m = Metrics::new();
    m.counter("a").add(2);
    m.gauge("b").set(-1);
    m.histogram("c").record(100);
    let snap = m.snapshot();
    let json = serde_json::to_string(&snap).unwrap();
    let back: MetricsSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let text = snap.to_string();
    assert!(text.contains("counter   a = 2"));
    assert!(text.contains("gauge     b = -1"));
    assert!(text.contains("histogram c: count=1"));
    assert!(Arc::ptr_eq(&m.counter("a"), &m.counter("a")));
    assert!(Arc::ptr_eq(
        &Metrics::global().gauge("x"),
        &Metrics::global().gauge("x")
    ));
}

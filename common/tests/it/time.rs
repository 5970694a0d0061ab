//! Clocks and the hybrid logical clock.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use unidb_common::time::*;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn shared_types_are_send_sync() {
    assert_send_sync::<Hlc>();
    assert_send_sync::<ManualClock>();
    assert_send_sync::<SystemClock>();
    assert_send_sync::<MonotonicClock>();
    assert_send_sync::<Arc<dyn Clock>>();
}

#[test]
fn timestamp_packing() {
    let t = HlcTimestamp::new(123_456, 7).unwrap();
    assert_eq!(t.physical_ms(), 123_456);
    assert_eq!(t.counter(), 7);
    assert_eq!(t.as_u64(), (123_456 << 16) | 7);
    assert_eq!(HlcTimestamp::from_u64(t.as_u64()), t);
    assert_eq!(t.to_string(), "123456.7");
    assert!(HlcTimestamp::new(1, 0).unwrap() > HlcTimestamp::new(0, u16::MAX).unwrap());
    let max = HlcTimestamp::new(HlcTimestamp::MAX_PHYSICAL_MS, u16::MAX).unwrap();
    assert_eq!(max, HlcTimestamp::MAX);
    let err = HlcTimestamp::new(1 << 48, 0).unwrap_err();
    assert!(
        matches!(err, ClockError::PhysicalOutOfRange { physical_ms, .. } if physical_ms == 1 << 48)
    );
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(serde_json::from_str::<HlcTimestamp>(&json).unwrap(), t);
}

#[test]
fn manual_clock_clones_share_state() {
    let c = ManualClock::new(10);
    let d = c.clone();
    c.advance(5);
    assert_eq!(d.now_ms(), 15);
    d.set(3);
    assert_eq!(c.now_ms(), 3);
    assert_eq!(ManualClock::new(1).now_ms(), 1);
    assert_eq!(c.advance(u64::MAX), u64::MAX);
}

#[test]
fn system_and_monotonic_clocks_move_forward() {
    let a = SystemClock.now_ms();
    // 2020-01-01 in ms: a sanity bound independent of the implementation.
    assert!(a > 1_577_836_800_000);
    let m = MonotonicClock::new();
    let x = m.now_ns();
    let y = m.now_ns();
    assert!(y >= x);
    let g1 = monotonic_ns();
    let g2 = monotonic_ns();
    assert!(g2 >= g1);
}

#[test]
fn send_rule_follows_physical_clock_and_counter() {
    let clock = ManualClock::new(100);
    let hlc = Hlc::new(Arc::new(clock.clone()), Duration::from_millis(50));
    assert_eq!(hlc.now(), HlcTimestamp::new(100, 0).unwrap());
    assert_eq!(hlc.now(), HlcTimestamp::new(100, 1).unwrap());
    clock.set(90); // clock goes backwards: logical part carries on
    assert_eq!(hlc.now(), HlcTimestamp::new(100, 2).unwrap());
    clock.set(101);
    assert_eq!(hlc.now(), HlcTimestamp::new(101, 0).unwrap());
    assert_eq!(hlc.last(), HlcTimestamp::new(101, 0).unwrap());
}

#[test]
fn receive_rule_cases() {
    let clock = ManualClock::new(100);
    let hlc = Hlc::new(Arc::new(clock.clone()), Duration::from_millis(50));
    hlc.now(); // (100, 0)
               // l == l' == l_m: max(c, c_m) + 1
    let r = hlc.update(HlcTimestamp::new(100, 5).unwrap()).unwrap();
    assert_eq!(r, HlcTimestamp::new(100, 6).unwrap());
    // l == l_m > l': c_m + 1
    let r = hlc.update(HlcTimestamp::new(120, 3).unwrap()).unwrap();
    assert_eq!(r, HlcTimestamp::new(120, 4).unwrap());
    // l == l' > l_m: c + 1
    let r = hlc.update(HlcTimestamp::new(110, 9).unwrap()).unwrap();
    assert_eq!(r, HlcTimestamp::new(120, 5).unwrap());
    // pt strictly ahead: counter resets
    clock.set(200);
    let r = hlc.update(HlcTimestamp::new(150, 9).unwrap()).unwrap();
    assert_eq!(r, HlcTimestamp::new(200, 0).unwrap());
}

#[test]
fn drift_beyond_bound_rejected_and_state_unchanged() {
    let clock = ManualClock::new(1_000);
    let hlc = Hlc::new(Arc::new(clock), Duration::from_millis(100));
    let before = hlc.now();
    // exactly at the bound is accepted
    assert!(hlc.update(HlcTimestamp::new(1_100, 0).unwrap()).is_ok());
    let last = hlc.last();
    let err = hlc
        .update(HlcTimestamp::new(1_101, 0).unwrap())
        .unwrap_err();
    assert_eq!(
        err,
        ClockError::DriftExceeded {
            remote_ms: 1_101,
            local_ms: 1_000,
            ahead_ms: 101,
            max_drift_ms: 100
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("1101") && msg.contains("101 ms ahead") && msg.contains("100 ms"));
    assert_eq!(hlc.last(), last);
    assert!(last > before);
}

#[test]
fn counter_overflow_spills_into_physical() {
    let clock = ManualClock::new(500);
    let hlc = Hlc::new(Arc::new(clock), Duration::from_millis(10));
    hlc.update(HlcTimestamp::new(500, u16::MAX - 1).unwrap())
        .unwrap();
    assert_eq!(hlc.last(), HlcTimestamp::new(500, u16::MAX).unwrap());
    assert_eq!(hlc.now(), HlcTimestamp::new(501, 0).unwrap());
}

#[test]
fn exhausted_clock_reports_error() {
    let clock = ManualClock::new(HlcTimestamp::MAX_PHYSICAL_MS);
    let hlc = Hlc::with_last(Arc::new(clock), Duration::ZERO, HlcTimestamp::MAX);
    assert_eq!(
        hlc.try_now(),
        Err(ClockError::Exhausted {
            last: HlcTimestamp::MAX
        })
    );
    assert_eq!(hlc.now(), HlcTimestamp::MAX);
}

#[test]
fn concurrent_now_is_unique_and_increasing_per_thread() {
    let clock = ManualClock::new(7);
    let hlc = Hlc::new(Arc::new(clock.clone()), Duration::from_secs(1));
    let per_thread = 5_000;
    let mut all: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let hlc = &hlc;
                let clock = &clock;
                s.spawn(move || {
                    let mut v = Vec::with_capacity(per_thread);
                    for i in 0..per_thread {
                        if t == 0 && i % 1000 == 0 {
                            clock.advance(1);
                        }
                        let ts = if i % 3 == 0 {
                            hlc.update(HlcTimestamp::new(7, 3).unwrap()).unwrap()
                        } else {
                            hlc.now()
                        };
                        if let Some(&prev) = v.last() {
                            assert!(ts.as_u64() > prev);
                        }
                        v.push(ts.as_u64());
                    }
                    v
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "HLC issued a duplicate timestamp");
}

#[derive(Debug, Clone)]
enum Op {
    /// Advance node's physical clock by ms.
    Tick(usize, u64),
    /// Node sends: stamp a message and put it in flight.
    Send(usize),
    /// Node receives the in-flight message with this index (mod len).
    Recv(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..40u64).prop_map(|(n, d)| Op::Tick(n, d)),
        (0..3usize).prop_map(Op::Send),
        (0..3usize, any::<usize>()).prop_map(|(n, i)| Op::Recv(n, i)),
    ]
}

proptest! {
    /// Random send/receive interleavings between three nodes whose
    /// physical clocks are skewed: every event is strictly after the
    /// node's previous event (monotonicity), every receive is strictly
    /// after the message's send (causality), the physical part never
    /// runs behind the node's physical clock, and receives more than
    /// `max_drift` ahead are rejected exactly when the skew says so.
    #[test]
    fn hlc_monotonic_and_causal(
        skews in proptest::collection::vec(0..300u64, 3),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let max_drift = 100u64;
        let clocks: Vec<ManualClock> =
            skews.iter().map(|&s| ManualClock::new(10_000 + s)).collect();
        let nodes: Vec<Hlc> = clocks
            .iter()
            .map(|c| Hlc::new(Arc::new(c.clone()), Duration::from_millis(max_drift)))
            .collect();
        let mut prev = [HlcTimestamp::ZERO; 3];
        let mut in_flight: Vec<HlcTimestamp> = Vec::new();
        for op in ops {
            match op {
                Op::Tick(n, d) => { clocks[n].advance(d); }
                Op::Send(n) => {
                    let t = nodes[n].now();
                    prop_assert!(t > prev[n]);
                    prop_assert!(t.physical_ms() >= clocks[n].now_ms());
                    prev[n] = t;
                    in_flight.push(t);
                }
                Op::Recv(n, i) => {
                    if in_flight.is_empty() { continue; }
                    let m = in_flight[i % in_flight.len()];
                    let local_pt = clocks[n].now_ms();
                    match nodes[n].update(m) {
                        Ok(t) => {
                            prop_assert!(m.physical_ms() <= local_pt + max_drift);
                            prop_assert!(t > prev[n]);
                            prop_assert!(t > m);
                            prop_assert!(t.physical_ms() >= local_pt);
                            prev[n] = t;
                        }
                        Err(ClockError::DriftExceeded { remote_ms, local_ms, .. }) => {
                            prop_assert!(m.physical_ms() > local_pt + max_drift);
                            prop_assert_eq!(remote_ms, m.physical_ms());
                            prop_assert_eq!(local_ms, local_pt);
                            prop_assert_eq!(nodes[n].last(), prev[n]);
                        }
                        Err(e) => prop_assert!(false, "unexpected error {e}"),
                    }
                }
            }
            prop_assert_eq!(nodes.iter().map(Hlc::last).collect::<Vec<_>>(), prev.to_vec());
        }
    }
}

//! Clocks and the hybrid logical clock (HLC).
//!
//! * [`Clock`] is the source of wall-clock time in milliseconds since the Unix
//!   epoch. [`SystemClock`] reads the operating system; [`ManualClock`] is set
//!   and advanced by hand for deterministic tests.
//! * [`MonotonicClock`] and [`monotonic_ns`] measure durations from
//!   [`std::time::Instant`] (never goes backwards), for latency metrics.
//! * [`Hlc`] is a hybrid logical clock after Kulkarni, Demirbas, Madappa,
//!   Avva and Leone, *Logical Physical Clocks* (2014): a timestamp
//!   ([`HlcTimestamp`]) packs 48 bits of physical milliseconds and a 16-bit
//!   logical counter into one `u64`, so timestamps compare as plain integers,
//!   respect causality, and stay close to physical time.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use unidb_common::time::{Hlc, ManualClock};
//!
//! let a_clock = ManualClock::new(1_000);
//! let b_clock = ManualClock::new(990); // b runs 10 ms behind
//! let a = Hlc::new(Arc::new(a_clock.clone()), Duration::from_secs(1));
//! let b = Hlc::new(Arc::new(b_clock.clone()), Duration::from_secs(1));
//!
//! let sent = a.now();                 // a sends a message stamped `sent`
//! let received = b.update(sent)?;     // b receives it
//! assert!(received > sent);           // causality: receive is after send
//! assert!(b.now() > received);        // and b's clock never goes back
//! # Ok::<(), unidb_common::time::ClockError>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A source of wall-clock time.
///
/// Implementations must be cheap to call and safe to share between threads.
/// The value may jump backwards (a system clock being corrected); users that
/// need monotonic order use an [`Hlc`] on top of a clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Milliseconds since the Unix epoch (1970-01-01T00:00:00Z).
    fn now_ms(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// The operating system's wall clock ([`SystemTime::now`]).
///
/// A system time before the Unix epoch reads as `0`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to, for deterministic tests.
///
/// Thread-safe: the time is an [`AtomicU64`]. **Clones share state**: setting
/// or advancing one clone moves every clone, so a test can hand a clone to the
/// code under test (e.g. inside an `Arc<dyn Clock>`) and keep another to drive
/// time. Use [`ManualClock::new`] for an independent clock.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start_ms` milliseconds since the Unix epoch.
    pub fn new(start_ms: u64) -> Self {
        Self {
            ms: Arc::new(AtomicU64::new(start_ms)),
        }
    }

    /// Sets the time to `ms` (may move backwards, like a corrected system clock).
    pub fn set(&self, ms: u64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms` milliseconds (saturating at `u64::MAX`)
    /// and returns the new reading.
    pub fn advance(&self, ms: u64) -> u64 {
        let mut cur = self.ms.load(Ordering::SeqCst);
        loop {
            let next = cur.saturating_add(ms);
            match self
                .ms
                .compare_exchange_weak(cur, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
}

/// Monotonic time for measuring durations, based on [`Instant`].
///
/// Readings are nanoseconds since the clock's origin (its creation) and never
/// decrease. Unlike [`Clock`] readings they have no relation to calendar time.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl MonotonicClock {
    /// A monotonic clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Time elapsed since the origin.
    pub fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Nanoseconds elapsed since the origin (saturating at `u64::MAX`, ~584 years).
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Nanoseconds since a process-wide origin (the first call), from [`Instant`].
///
/// Never decreases; differences between two readings measure durations.
pub fn monotonic_ns() -> u64 {
    static ORIGIN: OnceLock<MonotonicClock> = OnceLock::new();
    ORIGIN.get_or_init(MonotonicClock::new).now_ns()
}

/// Errors of the hybrid logical clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// A remote timestamp is further ahead of the local physical clock than
    /// the configured bound allows; accepting it would drag this clock ahead.
    #[error(
        "remote HLC timestamp at {remote_ms} ms is {ahead_ms} ms ahead of local clock {local_ms} ms; \
         maximum allowed drift is {max_drift_ms} ms"
    )]
    DriftExceeded {
        /// Physical milliseconds of the remote timestamp.
        remote_ms: u64,
        /// The local physical clock reading.
        local_ms: u64,
        /// How far ahead the remote timestamp is (`remote_ms - local_ms`).
        ahead_ms: u64,
        /// The configured maximum drift.
        max_drift_ms: u64,
    },
    /// A physical time does not fit the 48 bits of an [`HlcTimestamp`].
    #[error("physical time {physical_ms} ms exceeds the HLC maximum of {max_ms} ms (48 bits)")]
    PhysicalOutOfRange {
        /// The offending physical time.
        physical_ms: u64,
        /// The largest representable physical time.
        max_ms: u64,
    },
    /// The clock reached the largest representable timestamp and cannot advance.
    #[error("hybrid logical clock exhausted: no timestamp after {last}")]
    Exhausted {
        /// The last timestamp issued.
        last: HlcTimestamp,
    },
}

/// A hybrid logical clock timestamp: 48 bits of physical milliseconds since
/// the Unix epoch (good until year 10889) in the high bits and a 16-bit
/// logical counter in the low bits.
///
/// Ordering is that of the packed `u64`: physical time first, then counter.
/// `Display` prints `physical_ms.counter`.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct HlcTimestamp(u64);

impl HlcTimestamp {
    /// Number of bits of the logical counter.
    pub const COUNTER_BITS: u32 = 16;
    /// Largest logical counter value.
    pub const MAX_COUNTER: u16 = u16::MAX;
    /// Largest physical time (milliseconds) a timestamp can carry: 2^48 - 1.
    pub const MAX_PHYSICAL_MS: u64 = (1 << 48) - 1;
    /// The zero timestamp (before every other).
    pub const ZERO: HlcTimestamp = HlcTimestamp(0);
    /// The largest timestamp.
    pub const MAX: HlcTimestamp = HlcTimestamp(u64::MAX);

    /// Packs `physical_ms` and `counter`; fails if `physical_ms` does not fit 48 bits.
    pub const fn new(physical_ms: u64, counter: u16) -> Result<Self, ClockError> {
        if physical_ms > Self::MAX_PHYSICAL_MS {
            return Err(ClockError::PhysicalOutOfRange {
                physical_ms,
                max_ms: Self::MAX_PHYSICAL_MS,
            });
        }
        Ok(Self((physical_ms << Self::COUNTER_BITS) | counter as u64))
    }

    /// Physical milliseconds since the Unix epoch.
    pub const fn physical_ms(self) -> u64 {
        self.0 >> Self::COUNTER_BITS
    }

    /// The logical counter.
    pub const fn counter(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }

    /// The packed representation (`physical_ms << 16 | counter`).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Unpacks a value produced by [`HlcTimestamp::as_u64`]; every `u64` is valid.
    pub const fn from_u64(v: u64) -> Self {
        Self(v)
    }
}

impl fmt::Display for HlcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.physical_ms(), self.counter())
    }
}

/// A hybrid logical clock (Kulkarni et al. 2014).
///
/// * [`Hlc::now`] stamps a local or send event:
///   `l = max(l, pt)`, the counter increments if `l` did not change, else resets to 0.
/// * [`Hlc::update`] stamps a receive event with remote `(l_m, c_m)`:
///   `l = max(l, l_m, pt)` and the counter is `max(c, c_m) + 1`, `c + 1`,
///   `c_m + 1` or `0` depending on which of the three `l` came from.
///
/// Because the packed form is `l << 16 | c`, both rules reduce to integer
/// arithmetic: the result is `pt << 16` if the physical clock is strictly
/// ahead of every timestamp seen, otherwise one more than the largest of
/// them. **Counter overflow spills into the physical part**: after counter
/// `65535` comes `(l + 1, 0)`, which keeps timestamps strictly increasing at
/// the cost of running at most 1 ms ahead of physical time per 65536 events
/// within one millisecond.
///
/// Remote timestamps more than `max_drift` ahead of the local physical clock
/// are rejected with [`ClockError::DriftExceeded`] and leave the clock
/// unchanged. Physical readings beyond 48 bits are clamped to
/// [`HlcTimestamp::MAX_PHYSICAL_MS`].
///
/// Thread-safe and lock-free: the state is one [`AtomicU64`] updated by
/// compare-and-swap; every `&self` call returns a distinct, strictly larger
/// timestamp than any returned before.
#[derive(Debug)]
pub struct Hlc {
    clock: Arc<dyn Clock>,
    max_drift_ms: u64,
    last: AtomicU64,
}

impl Hlc {
    /// A clock reading physical time from `clock` and rejecting remote
    /// timestamps more than `max_drift` ahead of it.
    pub fn new(clock: Arc<dyn Clock>, max_drift: Duration) -> Self {
        Self {
            clock,
            max_drift_ms: u64::try_from(max_drift.as_millis()).unwrap_or(u64::MAX),
            last: AtomicU64::new(0),
        }
    }

    /// Like [`Hlc::new`], starting after `last` (e.g. the largest timestamp
    /// persisted before a restart), so no timestamp is ever reissued.
    pub fn with_last(clock: Arc<dyn Clock>, max_drift: Duration, last: HlcTimestamp) -> Self {
        let hlc = Self::new(clock, max_drift);
        hlc.last.store(last.as_u64(), Ordering::SeqCst);
        hlc
    }

    /// The configured maximum drift.
    pub fn max_drift(&self) -> Duration {
        Duration::from_millis(self.max_drift_ms)
    }

    /// The underlying physical clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The last timestamp issued (or [`HlcTimestamp::ZERO`] if none).
    pub fn last(&self) -> HlcTimestamp {
        HlcTimestamp(self.last.load(Ordering::SeqCst))
    }

    fn physical_now(&self) -> u64 {
        self.clock.now_ms().min(HlcTimestamp::MAX_PHYSICAL_MS)
    }

    /// Stamps a local or send event, failing only if the clock is exhausted
    /// (the previous timestamp was [`HlcTimestamp::MAX`]).
    pub fn try_now(&self) -> Result<HlcTimestamp, ClockError> {
        let pt = self.physical_now() << HlcTimestamp::COUNTER_BITS;
        let mut old = self.last.load(Ordering::SeqCst);
        loop {
            let new = if pt > old {
                pt
            } else {
                old.checked_add(1).ok_or(ClockError::Exhausted {
                    last: HlcTimestamp(old),
                })?
            };
            match self
                .last
                .compare_exchange_weak(old, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(HlcTimestamp(new)),
                Err(actual) => old = actual,
            }
        }
    }

    /// Stamps a local or send event: strictly greater than every timestamp
    /// this clock issued or received before.
    ///
    /// In the unreachable case of an exhausted clock (the physical part at
    /// 2^48 - 1 ms, year 10889, with the counter full) it returns
    /// [`HlcTimestamp::MAX`] again; use [`Hlc::try_now`] to observe that.
    pub fn now(&self) -> HlcTimestamp {
        self.try_now().unwrap_or(HlcTimestamp::MAX)
    }

    /// Stamps a receive event of a message carrying `remote`.
    ///
    /// The result is strictly greater than both `remote` and every timestamp
    /// this clock issued before. Fails with [`ClockError::DriftExceeded`] if
    /// `remote` is more than the maximum drift ahead of the local physical
    /// clock (the clock is then unchanged), or [`ClockError::Exhausted`].
    pub fn update(&self, remote: HlcTimestamp) -> Result<HlcTimestamp, ClockError> {
        let local_ms = self.physical_now();
        let remote_ms = remote.physical_ms();
        if remote_ms > local_ms && remote_ms - local_ms > self.max_drift_ms {
            return Err(ClockError::DriftExceeded {
                remote_ms,
                local_ms,
                ahead_ms: remote_ms - local_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        let pt = local_ms << HlcTimestamp::COUNTER_BITS;
        let mut old = self.last.load(Ordering::SeqCst);
        loop {
            let seen = old.max(remote.as_u64());
            let new = if pt > seen {
                pt
            } else {
                seen.checked_add(1).ok_or(ClockError::Exhausted {
                    last: HlcTimestamp(seen),
                })?
            };
            match self
                .last
                .compare_exchange_weak(old, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(HlcTimestamp(new)),
                Err(actual) => old = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
}

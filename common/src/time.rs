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

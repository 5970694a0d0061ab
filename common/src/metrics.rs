//! Counters, gauges and latency histograms, cheap enough for hot paths.
//!
//! * [`Counter`]: a monotonically increasing `u64` (one atomic add).
//! * [`Gauge`]: an `i64` that goes up and down (one atomic op).
//! * [`Histogram`]: lock-free log-linear buckets (HDR-style) of `u64`
//!   values, e.g. nanoseconds; percentiles are within a relative error of
//!   [`Histogram::RELATIVE_ERROR`] (1/128 ≈ 0.8%); min, max, count and sum
//!   are exact. [`Histogram::start_timer`] returns a guard that records the
//!   elapsed nanoseconds when dropped.
//! * [`Metrics`]: named metrics, created on first use and shared as `Arc`s,
//!   with a serde-serializable [`MetricsSnapshot`].
//!
//! ```
//! use unidb_common::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let queries = metrics.counter("vectordb.queries");
//! let latency = metrics.histogram("vectordb.query_ns");
//! for _ in 0..3 {
//!     let _t = latency.start_timer(); // records on drop
//!     queries.inc();
//! }
//! latency.record(1_000);
//! let snap = metrics.snapshot();
//! assert_eq!(snap.counters["vectordb.queries"], 3);
//! assert_eq!(snap.histograms["vectordb.query_ns"].count, 4);
//! let json = serde_json::to_string(&snap).unwrap();
//! assert!(json.contains("\"p99\""));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n` (wrapping on overflow, after 1.8e19 events).
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the counter to zero, returning the previous value.
    pub fn reset(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue length, bytes in use, ...).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// A gauge at zero.
    pub const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds `n` (which may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n`.
    pub fn sub(&self, n: i64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.sub(1);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Bits of sub-bucket resolution: each power of two is split in 2^6 = 64.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values 0..64 get exact buckets; each of the 58 octaves [2^e, 2^(e+1)) for
/// e = 6..=63 gets 64 buckets.
const BUCKETS: usize = SUB + (64 - SUB_BITS as usize) * SUB;

/// The bucket holding `v`.
fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = e - SUB_BITS;
    let mantissa = (v >> shift) as usize; // in [64, 128)
    (shift as usize + 1) * SUB + (mantissa - SUB)
}

/// The smallest value in bucket `i`, and the bucket's width.
fn bucket_bounds(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let shift = (i / SUB - 1) as u32;
    let mantissa = (SUB + i % SUB) as u64;
    (mantissa << shift, 1u64 << shift)
}

/// A lock-free latency histogram over `u64` values.
///
/// Values fall into log-linear buckets: exact below 64, then 64 buckets per
/// power of two, so a bucket's width is at most 1/64 of its smallest value.
/// A percentile reports the middle of the bucket holding the exact
/// nearest-rank value (clamped to the exact min and max), hence is within
/// [`Histogram::RELATIVE_ERROR`] = 1/128 of it. Recording is a few relaxed
/// atomic operations and never blocks; the histogram holds 3776 bucket
/// counters (about 30 KiB).
///
/// ```
/// use unidb_common::metrics::Histogram;
///
/// let h = Histogram::new();
/// for v in 1..=1000u64 {
///     h.record(v);
/// }
/// let p99 = h.percentile(0.99);
/// assert!((p99 as f64 - 990.0).abs() <= 990.0 * Histogram::RELATIVE_ERROR);
/// assert_eq!(h.snapshot().max, 1000);
/// ```
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Summary of a [`Histogram`] at one moment. All values are in the unit
/// recorded (nanoseconds for timers); all zero when `count` is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramSnapshot {
    /// Number of recorded values.
    pub count: u64,
    /// Sum of recorded values (wrapping on overflow).
    pub sum: u64,
    /// Mean (`sum / count`).
    pub mean: f64,
    /// Smallest value (exact).
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value (exact).
    pub max: u64,
}

impl Histogram {
    /// Bound on the relative error of reported percentiles: 1/128.
    pub const RELATIVE_ERROR: f64 = 1.0 / 128.0;

    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn record(&self, v: u64) {
        self.record_n(v, 1);
    }

    /// Records `n` occurrences of `v`.
    pub fn record_n(&self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.buckets[bucket_of(v)].fetch_add(n, Ordering::Relaxed);
        self.sum.fetch_add(v.wrapping_mul(n), Ordering::Relaxed);
        // Load first: the read-modify-write is only needed for a new extreme.
        if v > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(v, Ordering::Relaxed);
        }
        if v < self.min.load(Ordering::Relaxed) {
            self.min.fetch_min(v, Ordering::Relaxed);
        }
    }

    /// Records a duration in nanoseconds (saturating at `u64::MAX`).
    pub fn record_duration(&self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// A guard that records the nanoseconds from now until it is dropped.
    pub fn start_timer(&self) -> Timer<'_> {
        Timer {
            hist: Some(self),
            start: Instant::now(),
        }
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `q`-quantile (`q` in `[0, 1]`, clamped; NaN reads as 0): the
    /// nearest-rank value within [`Histogram::RELATIVE_ERROR`]. 0 if empty.
    pub fn percentile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let (min, max) = consistent_extremes(
            &counts,
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        );
        quantile(&counts, total, min, max, q)
    }

    /// Count, sum, mean, min, max and the usual percentiles.
    ///
    /// The snapshot is self-consistent even while other threads record or
    /// [`reset`](Histogram::reset): the count is the sum of the bucket
    /// counts read, and min, max and sum are taken from their exact
    /// counters only when those agree with those buckets (the smallest
    /// value lies in the lowest non-empty bucket, the largest in the
    /// highest, the sum between the buckets' bounds); otherwise (a value
    /// counted before its extremes were updated, or a reset between the
    /// reads) they are the buckets' bounds. So `min <= p50 <= ... <= max`,
    /// `count * min <= sum <= count * max` (unless the sum wrapped) and
    /// every field describes values that were recorded.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return HistogramSnapshot::default();
        }
        let (min, max) = consistent_extremes(
            &counts,
            self.min.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        );
        let sum = consistent_sum(&counts, min, max, self.sum.load(Ordering::Relaxed));
        let q = |p| quantile(&counts, count, min, max, p);
        HistogramSnapshot {
            count,
            sum,
            mean: sum as f64 / count as f64,
            min,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max,
        }
    }

    /// Adds every value recorded in `other` to this histogram (e.g. to
    /// aggregate per-thread histograms). Percentiles of the result are
    /// exactly those of one histogram that recorded both streams.
    pub fn merge_from(&self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter().zip(other.buckets.iter()) {
            let c = theirs.load(Ordering::Relaxed);
            if c > 0 {
                mine.fetch_add(c, Ordering::Relaxed);
            }
        }
        self.sum
            .fetch_add(other.sum.load(Ordering::Relaxed), Ordering::Relaxed);
        self.max
            .fetch_max(other.max.load(Ordering::Relaxed), Ordering::Relaxed);
        self.min
            .fetch_min(other.min.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Clears all values. A value recorded concurrently with the reset may
    /// be dropped or kept; snapshots stay self-consistent either way (see
    /// [`snapshot`](Histogram::snapshot)).
    pub fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(u64::MAX, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }
}

/// The exact `min` and `max` counters made consistent with `counts` (read
/// at about the same time, not atomically with them): each is kept when it
/// lies in the bucket the extremes of `counts` must lie in, and replaced by
/// that bucket's bound otherwise. `(0, 0)` when `counts` is empty.
fn consistent_extremes(counts: &[u64], min: u64, max: u64) -> (u64, u64) {
    let (Some(lo), Some(hi)) = (
        counts.iter().position(|&c| c > 0),
        counts.iter().rposition(|&c| c > 0),
    ) else {
        return (0, 0);
    };
    let (lo_start, lo_width) = bucket_bounds(lo);
    let lo_end = lo_start + (lo_width - 1);
    let (hi_start, hi_width) = bucket_bounds(hi);
    let hi_end = hi_start + (hi_width - 1);
    let min = if (lo_start..=lo_end).contains(&min) {
        min
    } else {
        lo_start
    };
    let max = if (hi_start..=hi_end).contains(&max) {
        max
    } else {
        hi_end
    };
    if min > max {
        // Both in one bucket, read across a reset: its bounds.
        return (lo_start, hi_end);
    }
    (min, max)
}

/// The `sum` counter made consistent with `counts`: kept when it lies
/// between the least and the greatest sum the counted values can have
/// (each bucket's values between its bounds, clamped to `min` and `max`),
/// clamped into that range otherwise. A range that exceeds `u64` (the sum
/// may have wrapped) keeps the counter as it is.
fn consistent_sum(counts: &[u64], min: u64, max: u64, sum: u64) -> u64 {
    let (mut least, mut most) = (0u128, 0u128);
    for (i, &c) in counts.iter().enumerate() {
        if c > 0 {
            let (start, width) = bucket_bounds(i);
            let (a, b) = (start.max(min), (start + (width - 1)).min(max));
            least += u128::from(c) * u128::from(a.min(b));
            most += u128::from(c) * u128::from(b.max(a));
        }
    }
    if most > u128::from(u64::MAX) {
        return sum;
    }
    (u128::from(sum).clamp(least, most)) as u64
}

fn quantile(counts: &[u64], total: u64, min: u64, max: u64, q: f64) -> u64 {
    if total == 0 {
        return 0;
    }
    let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
    // Nearest rank, 1-based: the smallest value with at least q·n values <= it.
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            let (lo, width) = bucket_bounds(i);
            let mid = lo + (width - 1) / 2;
            return mid.clamp(min.min(max), max);
        }
    }
    max
}

/// Records the time from its creation to its drop into a [`Histogram`], in
/// nanoseconds. Made by [`Histogram::start_timer`].
#[derive(Debug)]
#[must_use = "the timer records when dropped; binding it to `_` drops it at once"]
pub struct Timer<'a> {
    hist: Option<&'a Histogram>,
    start: Instant,
}

impl Timer<'_> {
    /// Time elapsed so far.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records now and returns the recorded duration.
    pub fn stop(mut self) -> Duration {
        let d = self.start.elapsed();
        if let Some(h) = self.hist.take() {
            h.record_duration(d);
        }
        d
    }

    /// Drops the timer without recording.
    pub fn discard(mut self) {
        self.hist = None;
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.hist.take() {
            h.record_duration(self.start.elapsed());
        }
    }
}

/// Named metrics, created on first use.
///
/// Counters, gauges and histograms have separate namespaces. Lookups take a
/// read lock on a map; hot paths should look a metric up once and keep the
/// returned `Arc`, whose updates are lock-free.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: RwLock<BTreeMap<String, Arc<Counter>>>,
    gauges: RwLock<BTreeMap<String, Arc<Gauge>>>,
    histograms: RwLock<BTreeMap<String, Arc<Histogram>>>,
}

fn get_or_create<T: Default>(map: &RwLock<BTreeMap<String, Arc<T>>>, name: &str) -> Arc<T> {
    // Maps only ever gain entries and a panic cannot leave one half-inserted,
    // so a poisoned lock is still usable.
    if let Some(m) = map.read().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Arc::clone(m);
    }
    let mut w = map.write().unwrap_or_else(|e| e.into_inner());
    Arc::clone(w.entry(name.to_owned()).or_default())
}

fn read_all<T, R>(
    map: &RwLock<BTreeMap<String, Arc<T>>>,
    f: impl Fn(&T) -> R,
) -> BTreeMap<String, R> {
    map.read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(k, v)| (k.clone(), f(v)))
        .collect()
}

impl Metrics {
    /// An empty set of metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide metrics.
    pub fn global() -> &'static Metrics {
        static GLOBAL: OnceLock<Metrics> = OnceLock::new();
        GLOBAL.get_or_init(Metrics::new)
    }

    /// The counter named `name`, created at zero if new.
    pub fn counter(&self, name: &str) -> Arc<Counter> {
        get_or_create(&self.counters, name)
    }

    /// The gauge named `name`, created at zero if new.
    pub fn gauge(&self, name: &str) -> Arc<Gauge> {
        get_or_create(&self.gauges, name)
    }

    /// The histogram named `name`, created empty if new.
    pub fn histogram(&self, name: &str) -> Arc<Histogram> {
        get_or_create(&self.histograms, name)
    }

    /// Every metric's current value, sorted by name.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            counters: read_all(&self.counters, Counter::get),
            gauges: read_all(&self.gauges, Gauge::get),
            histograms: read_all(&self.histograms, Histogram::snapshot),
        }
    }
}

/// The values of all metrics in a [`Metrics`] at one moment.
///
/// Serializes as `{"counters": {name: n}, "gauges": {name: n},
/// "histograms": {name: {count, sum, mean, min, p50, p90, p99, p999, max}}}`;
/// `Display` prints one line per metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Counter values by name.
    pub counters: BTreeMap<String, u64>,
    /// Gauge values by name.
    pub gauges: BTreeMap<String, i64>,
    /// Histogram summaries by name.
    pub histograms: BTreeMap<String, HistogramSnapshot>,
}

impl fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.counters {
            writeln!(f, "counter   {k} = {v}")?;
        }
        for (k, v) in &self.gauges {
            writeln!(f, "gauge     {k} = {v}")?;
        }
        for (k, h) in &self.histograms {
            writeln!(
                f,
                "histogram {k}: count={} mean={:.1} min={} p50={} p90={} p99={} p99.9={} max={}",
                h.count, h.mean, h.min, h.p50, h.p90, h.p99, h.p999, h.max
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Counter>();
        assert_send_sync::<Gauge>();
        assert_send_sync::<Histogram>();
        assert_send_sync::<Metrics>();
        assert_send_sync::<Timer<'static>>();
    }

    #[test]
    fn buckets_tile_the_u64_range() {
        // Consecutive buckets are adjacent, widths are <= 1/64 of the lower
        // bound, and the last bucket ends at u64::MAX.
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (lo, w) = bucket_bounds(i);
            assert_eq!(lo, next, "bucket {i}");
            assert!(w == 1 || w * 64 <= lo, "bucket {i} too wide");
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(lo + (w - 1)), i);
            next = lo.wrapping_add(w);
        }
        assert_eq!(next, 0, "last bucket must end at u64::MAX");
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
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

    /// Asserts what every snapshot of values recorded from `lo..=hi` must
    /// satisfy, however it raced with recording and resets.
    fn assert_consistent(s: &HistogramSnapshot, lo: u64, hi: u64) {
        if s.count == 0 {
            assert_eq!(*s, HistogramSnapshot::default());
            return;
        }
        // Bucket bounds widen the range by at most a bucket's width.
        let hi_bucket = {
            let (start, width) = bucket_bounds(bucket_of(hi));
            start + (width - 1)
        };
        let lo_bucket = bucket_bounds(bucket_of(lo)).0;
        assert!(s.max > 0, "{s:?}");
        assert!(lo_bucket <= s.min && s.max <= hi_bucket, "{s:?}");
        let ordered = [s.min, s.p50, s.p90, s.p99, s.p999, s.max];
        assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{s:?}");
        let (c, sum) = (u128::from(s.count), u128::from(s.sum));
        assert!(c * u128::from(s.min) <= sum, "{s:?}");
        assert!(sum <= c * u128::from(s.max), "{s:?}");
        assert!(s.min as f64 <= s.mean && s.mean <= s.max as f64, "{s:?}");
    }

    /// `record` racing `reset` and `snapshot` (and `percentile`) from other
    /// threads: every snapshot is self-consistent (before the fix, a
    /// snapshot taken between a value's bucket increment and its max update,
    /// or across a reset, had count > 0 and max = 0).
    #[test]
    fn snapshots_racing_record_and_reset_are_consistent() {
        let h = Histogram::new();
        let (lo, hi) = (100u64, 5_000_000u64);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let started = std::sync::atomic::AtomicBool::new(false);
        let writers = 3;
        let checked = std::thread::scope(|s| {
            for t in 0..writers {
                let (h, done, started) = (&h, &done, &started);
                s.spawn(move || {
                    while !started.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                    for i in 0..100_000u64 {
                        x = crate::rng::splitmix64(x);
                        h.record(lo + x % (hi - lo + 1));
                        if t == 0 && i % 50 == 0 {
                            h.reset();
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
            let reader = s.spawn(|| {
                let mut n = 0u64;
                started.store(true, Ordering::Release);
                while done.load(Ordering::Relaxed) < writers as usize {
                    assert_consistent(&h.snapshot(), lo, hi);
                    let p = h.percentile(0.5);
                    assert!(p == 0 || (lo..=hi + hi / 64).contains(&p), "{p}");
                    n += 1;
                }
                n
            });
            reader.join().unwrap()
        });
        assert!(checked > 0);
        assert_consistent(&h.snapshot(), lo, hi);
    }

    /// The repair of inconsistent reads against hand-made states.
    #[test]
    fn consistent_extremes_and_sum_repair_racy_reads() {
        let mut counts = vec![0u64; BUCKETS];
        counts[bucket_of(1000)] = 2;
        counts[bucket_of(7)] = 1;
        // Counted before the extremes were updated (or after a reset).
        assert_eq!(consistent_extremes(&counts, u64::MAX, 0), (7, 1007));
        assert_eq!(consistent_extremes(&counts, 7, 1001), (7, 1001));
        // Sum after a reset (0) and a sum of other values (too big).
        let (min, max) = (7, 1001);
        assert_eq!(consistent_sum(&counts, min, max, 0), 7 + 2 * 1000);
        assert_eq!(consistent_sum(&counts, min, max, 1 << 40), 7 + 2 * 1001);
        assert_eq!(consistent_sum(&counts, min, max, 2008), 2008);
        assert_eq!(consistent_extremes(&vec![0; BUCKETS], 5, 9), (0, 0));
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
}

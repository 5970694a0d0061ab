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
mod tests;

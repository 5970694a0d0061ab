//! Per-collection search and insert figures, recorded with common's
//! lock-free metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;
use unidb_common::metrics::{Counter, Histogram, HistogramSnapshot, Timer};

/// What a collection has served since it was created or opened, or since
/// its metrics were last reset ([`Collection::metrics`]).
///
/// Latencies are in nanoseconds, each percentile within 1/128 of the
/// exact value ([`Histogram::RELATIVE_ERROR`]). The queries are the
/// latency histogram's count, so the two always agree; a snapshot taken
/// while other threads search is consistent with itself (see
/// [`Histogram::snapshot`]).
///
/// [`Collection::metrics`]: crate::Collection::metrics
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
pub struct CollectionMetrics {
    /// Queries answered (`latency.count`): one per search, range search
    /// or query of an exact batch; a search that fails (bad query, unknown
    /// index or parameter) is not counted.
    pub queries: u64,
    /// Vectors stored by `insert`, `upsert` and `insert_rows`.
    pub inserts: u64,
    /// Latency of the answered queries in nanoseconds: count, mean, min,
    /// p50, p90, p99, p99.9 and max. Each query of an exact batch is
    /// recorded at the batch's mean time per query.
    pub latency: HistogramSnapshot,
    /// Seconds over which these figures were collected.
    pub elapsed_s: f64,
    /// Queries per second over that time (`queries / elapsed_s`).
    pub qps: f64,
}

impl CollectionMetrics {
    /// The median search latency.
    pub fn p50(&self) -> Duration {
        Duration::from_nanos(self.latency.p50)
    }

    /// The 99th-percentile search latency.
    pub fn p99(&self) -> Duration {
        Duration::from_nanos(self.latency.p99)
    }
}

/// The live counters behind [`CollectionMetrics`]: per search two clock
/// reads and a histogram record (a few relaxed atomic operations), per
/// insert one atomic add; no lock. The latency histogram (about 30 KiB)
/// is allocated by the first search.
#[derive(Debug)]
pub(crate) struct Stats {
    latency: OnceLock<Histogram>,
    inserts: Counter,
    origin: Instant,
    /// When the figures started, in nanoseconds after `origin`.
    since_ns: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: OnceLock::new(),
            inserts: Counter::new(),
            origin: Instant::now(),
            since_ns: AtomicU64::new(0),
        }
    }
}

impl Stats {
    fn latency(&self) -> &Histogram {
        self.latency.get_or_init(Histogram::new)
    }

    /// A timer for one query: [`Stats::answered`] records it.
    pub(crate) fn start(&self) -> Timer<'_> {
        self.latency().start_timer()
    }

    /// Records one answered query timed by `timer`.
    pub(crate) fn answered(&self, timer: Timer<'_>) {
        timer.stop();
    }

    /// Records `n` queries answered together in `elapsed`.
    pub(crate) fn answered_batch(&self, n: usize, elapsed: Duration) {
        if n == 0 {
            return;
        }
        let n = n as u64;
        let each = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX) / n;
        self.latency().record_n(each, n);
    }

    /// Records one stored vector.
    pub(crate) fn inserted(&self) {
        self.inserts.inc();
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The figures so far.
    pub(crate) fn snapshot(&self) -> CollectionMetrics {
        let latency = self
            .latency
            .get()
            .map(Histogram::snapshot)
            .unwrap_or_default();
        let queries = latency.count;
        let since = self.since_ns.load(Ordering::Relaxed);
        let elapsed_s = self.now_ns().saturating_sub(since) as f64 / 1e9;
        CollectionMetrics {
            queries,
            inserts: self.inserts.get(),
            latency,
            elapsed_s,
            qps: if elapsed_s > 0.0 {
                queries as f64 / elapsed_s
            } else {
                0.0
            },
        }
    }

    /// The figures so far, then starts over from zero.
    pub(crate) fn reset(&self) -> CollectionMetrics {
        let snap = self.snapshot();
        self.since_ns.store(self.now_ns(), Ordering::Relaxed);
        self.inserts.reset();
        if let Some(h) = self.latency.get() {
            h.reset();
        }
        snap
    }
}

//! Errors, ids, clocks, collections, configuration and metrics shared by
//! unidb's vector database and sync database.
//!
//! * [`bytes`]: the one byte [`Reader`](bytes::Reader) of every decoder,
//!   whose [`ReadError`](bytes::ReadError)s name what was read and the byte
//!   offset, and canonical [`leb128`](bytes::leb128).
//! * [`config`]: the [`Validate`](config::Validate) trait with range checks
//!   naming the field, named [`Profiles`](config::Profiles) merged over a base
//!   config, JSON load and save.
//! * [`csv`]: the one CSV reader ([`read_csv`](csv::read_csv), cells by
//!   column, a bounded field table) and RFC 3339 date-times to nanoseconds.
//! * [`error`]: one [`Error`] type with an [`ErrorKind`], what was wrong and where.
//! * [`fs`]: crash-safe file replacement ([`write_atomic`](fs::write_atomic)):
//!   a unique temporary file, fsync, rename, directory fsync, and clean-up of
//!   the temporary files of killed processes.
//! * [`id`]: users' keys ([`Id`]: a number or a string) and stable [`ReplicaId`]s.
//! * [`collections`]: the cache [`LruCache`](collections::LruCache) (the
//!   codecs' cascade cache).
//! * [`metrics`]: lock-free counters, gauges and latency histograms with
//!   percentiles, a timer guard, and named [`Metrics`](metrics::Metrics) with snapshots.
//! * [`value`]: the typed [`Value`](value::Value) and
//!   [`ColumnType`](value::ColumnType) both databases store.
//! * [`time`]: the [`Clock`] trait (system and manual clocks), monotonic
//!   time, and the hybrid logical clock [`Hlc`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use unidb_common::{Error, ErrorKind, Hlc, Id, ManualClock, ReplicaId};
//!
//! let clock = ManualClock::new(1_700_000_000_000);
//! let hlc = Hlc::new(Arc::new(clock.clone()), Duration::from_millis(500));
//! let t1 = hlc.now();
//! clock.advance(10);
//! assert!(hlc.now() > t1);
//!
//! let replica = ReplicaId::random();
//! assert_eq!(Id::from("user-42").to_string(), "user-42");
//! assert_eq!(replica.to_string().parse::<ReplicaId>().unwrap(), replica);
//!
//! let err = Error::validation("dimension 0 is not in 1..=65536", "config.dim");
//! assert_eq!(err.kind(), ErrorKind::Validation);
//!
//! use unidb_common::collections::LruCache;
//! use unidb_common::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let hits = metrics.counter("cache.hits"); // look up once, update lock-free
//! let get_ns = metrics.histogram("cache.get_ns");
//! let mut cache = LruCache::with_weigher(1 << 20, |_k: &Id, v: &Vec<u8>| v.len());
//! let id = Id::from(7u64);
//! cache.put(id.clone(), vec![0u8; 1024]);
//! {
//!     let _timer = get_ns.start_timer(); // records on drop
//!     if cache.get(&id).is_some() {
//!         hits.inc();
//!     }
//! }
//! let snap = metrics.snapshot();
//! assert_eq!(snap.counters["cache.hits"], 1);
//! assert_eq!(snap.histograms["cache.get_ns"].count, 1);
//! ```

pub mod alloc;
pub mod bytes;
pub mod collections;
pub mod config;
pub mod csv;
pub mod error;
pub mod fs;
pub mod id;
pub mod metrics;
pub mod rng;
pub mod time;
pub mod value;

pub use error::{Error, ErrorKind, Result};
pub use id::{Id, IdError, ReplicaId};
pub use time::{
    monotonic_ns, Clock, ClockError, Hlc, HlcTimestamp, ManualClock, MonotonicClock, SystemClock,
};

/// The project name.
pub const NAME: &str = "unidb";

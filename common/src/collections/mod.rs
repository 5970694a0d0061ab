//! Collections both databases need.
//!
//! * [`LruCache`]: O(1) least-recently-used cache bounded by entry count or
//!   by a weight function (e.g. bytes); [`SharedLru`] wraps one in a mutex.
//! * [`ConcurrentMap`]: a sharded `RwLock<HashMap>` for many readers.
//! * [`Versioned`]: a value with a bounded timestamped history answering
//!   "value as of t".

mod concurrent_map;
mod lru;
mod versioned;

pub use concurrent_map::{ConcurrentMap, DEFAULT_SHARDS};
pub use lru::{LruCache, SharedLru};
pub use versioned::{Retention, VersionTime, Versioned};

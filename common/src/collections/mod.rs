//! Collections both databases need.
//!
//! * [`LruCache`]: O(1) least-recently-used cache bounded by entry count or
//!   by a weight function (e.g. bytes); [`SharedLru`] wraps one in a mutex.

mod lru;

pub use lru::{LruCache, SharedLru};

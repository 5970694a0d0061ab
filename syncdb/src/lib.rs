//! Offline-first in-memory database with typed schemas, change tracking and sync.
//!
//! ```
//! assert!(!unidb_syncdb::NAME.is_empty());
//! ```

/// The crate name.
pub const NAME: &str = "unidb-syncdb";

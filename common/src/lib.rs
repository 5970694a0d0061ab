//! Errors, ids, clocks, collections, configuration and metrics shared by
//! unidb's vector database and sync database.
//!
//! ```
//! assert!(!unidb_common::NAME.is_empty());
//! ```

/// The project name.
pub const NAME: &str = "unidb";

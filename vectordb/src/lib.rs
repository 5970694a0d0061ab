//! In-memory vector database: metric and index plugins, feature store, experiments.
//!
//! ```
//! assert!(!unidb_vectordb::NAME.is_empty());
//! ```

/// The crate name.
pub const NAME: &str = "unidb-vectordb";

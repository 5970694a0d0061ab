//! Tests of syncdb through its public API, in one binary so that it
//! compiles once. Tests that need private items are in the `tests` child
//! of the module they test; tests that install a global allocator are
//! binaries of their own.

mod client;
mod codecs;
mod columnar;
mod database;
mod error;
mod power;
mod repetitive_data;
mod resolver;
mod row;
mod schema;
mod schema_history;
#[cfg(feature = "serde")]
mod serde;
mod snapshot;
mod sync;

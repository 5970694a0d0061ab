//! Tests of common through its public API, in one binary so that it
//! compiles once. Tests that need private items are in the `tests` child
//! of the module they test; tests that install a global allocator are
//! binaries of their own.

mod bytes;
mod config;
mod error;
mod id;
mod lru;
mod metrics;
mod rng;
mod time;
#[cfg(feature = "serde")]
mod value;

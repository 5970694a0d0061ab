//! Public-API tests of `unidb-vectordb` against independent oracles (f64
//! brute force, scalar loops, hand-written encoders), one binary so that
//! it compiles once. Tests that need the crate's private items are unit
//! tests in a `tests` child module of the module they test.

mod batch;
mod bench;
mod collection;
mod error;
mod experiments;
mod features;
mod index;
mod metric;
mod params;
mod persist;
mod pq;
mod pq_storage;
#[cfg(feature = "serde")]
mod serde_types;
mod sq4_storage;
mod storage;
mod transform;
mod transform_collection;
mod util;

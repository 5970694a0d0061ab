//! Cross-crate integration tests (one binary, so it compiles once).

mod cli;
mod codec;
mod registry;
mod server;
mod syncdb;
mod vector;
mod vector_batch;

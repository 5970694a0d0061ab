//! Cross-crate integration tests (one binary, so it compiles once).

mod cli;
mod syncdb;
mod vector;

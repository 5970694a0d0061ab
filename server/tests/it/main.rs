//! The server over loopback: convergence, tokens, hostile frames,
//! recovery. Every wait is bounded.

mod auth;
mod converge;
mod hostile;
mod partitions;
mod peer;
mod recovery;
mod transport;

//! The server over loopback: convergence, tokens, hostile frames,
//! recovery. Every wait is bounded.

mod peer;
mod auth;
mod hostile;
mod recovery;
mod converge;

//! The client side of sync: how a replica reaches its server
//! ([`Transport`], [`Connection`], the in-process [`InProcess`]) and one
//! round of sync over a connection ([`sync_round`]).

mod round;
mod transport;

pub use round::{sync_round, RoundStats};
pub use transport::{Connection, InProcess, Transport, TransportError};

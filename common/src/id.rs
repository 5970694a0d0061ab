//! Identifiers both databases use.
//!
//! * [`Id`] is a user's key for a stored item (a vector, a feature row's
//!   entity): a number or a string, ordered numbers first.
//! * [`ReplicaId`] names a replica or client for its whole life: 64 random
//!   bits, printed as 16 hex digits.
//!
//! ```
//! use unidb_common::id::{Id, ReplicaId};
//!
//! assert_eq!(Id::from(7u64).to_string(), "7");
//! assert_eq!(Id::from("user-42").to_string(), "user-42");
//! assert!(Id::from(u64::MAX) < Id::from("0"));
//!
//! let replica = ReplicaId::from_u64(0xbeef);
//! assert_eq!(replica.to_string(), "000000000000beef");
//! assert_eq!("000000000000beef".parse::<ReplicaId>()?, replica);
//! # Ok::<(), unidb_common::id::IdError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::time::{Clock, SystemClock};

/// Errors parsing identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// A replica id was not 1 to 16 hexadecimal digits.
    #[error("invalid replica id {input:?}: expected 1 to 16 hexadecimal digits")]
    InvalidReplicaId {
        /// The rejected text.
        input: String,
    },
}

/// 64 random bits: SipHash, keyed by the standard library's per-process
/// random keys (drawn from the operating system), of a process-wide counter
/// and the current time. Not cryptographic; unpredictable enough for ids.
fn os_random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.write_u64(crate::time::monotonic_ns());
    h.write_u64(SystemClock.now_ms());
    h.finish()
}

/// A stable identifier of a replica or client.
///
/// `Display` prints 16 lowercase hex digits; `FromStr` accepts 1 to 16 hex
/// digits (either case). Serialized as the plain `u64`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReplicaId(u64);

impl ReplicaId {
    /// A fresh random id (64 bits seeded from the operating system's randomness).
    pub fn random() -> Self {
        Self(os_random_u64())
    }

    /// The id with this numeric value.
    pub const fn from_u64(v: u64) -> Self {
        Self(v)
    }

    /// The numeric value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for ReplicaId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdError::InvalidReplicaId {
            input: s.chars().take(64).collect(),
        };
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        u64::from_str_radix(s, 16).map(Self).map_err(|_| bad())
    }
}

/// A user's key for a stored item: a number or a string.
///
/// Numbers order before strings; serde writes a number or a string
/// (untagged), so `7` and `"7"` are different ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A numeric id.
    Num(u64),
    /// A string id.
    Str(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => f.write_str(s),
        }
    }
}

impl From<u64> for Id {
    fn from(v: u64) -> Self {
        Id::Num(v)
    }
}
impl From<&str> for Id {
    fn from(v: &str) -> Self {
        Id::Str(v.to_owned())
    }
}
impl From<String> for Id {
    fn from(v: String) -> Self {
        Id::Str(v)
    }
}
impl From<&Id> for Id {
    fn from(v: &Id) -> Self {
        v.clone()
    }
}

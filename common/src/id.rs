//! Identifiers: stable replica ids and time-ordered unique ids.
//!
//! * [`ReplicaId`] names a replica or client for its whole life: 64 random
//!   bits, printed as 16 hex digits.
//! * [`Id`] is a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds followed by
//!   74 bits that are random for the first id of a millisecond and
//!   incremented for the following ones, so ids sort by creation time and are
//!   strictly increasing within one [`IdGenerator`] (RFC 9562 §6.2, method 2),
//!   even when the clock stalls or goes backwards.
//!
//! ```
//! use std::sync::Arc;
//! use unidb_common::id::{Id, IdGenerator, ReplicaId};
//! use unidb_common::time::ManualClock;
//!
//! let a = Id::new();
//! let b = Id::new();
//! assert!(a < b);
//! assert_eq!(a.to_string().parse::<Id>()?, a);
//!
//! // Deterministic ids for tests: a manual clock and a fixed seed.
//! let gen = IdGenerator::with_seed(Arc::new(ManualClock::new(1_700_000_000_000)), 42);
//! let id = gen.next_id();
//! assert_eq!(id.timestamp_ms(), 1_700_000_000_000);
//!
//! let replica = ReplicaId::from_u64(0xbeef);
//! assert_eq!(replica.to_string(), "000000000000beef");
//! assert_eq!("000000000000beef".parse::<ReplicaId>()?, replica);
//! # Ok::<(), unidb_common::id::IdError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rng::SplitMix64;
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
    /// Text that is not a UUID.
    #[error("invalid id {input:?}: {reason}")]
    InvalidId {
        /// The rejected text (truncated to 64 characters).
        input: String,
        /// Why the UUID parser rejected it.
        reason: String,
    },
    /// A well-formed UUID that is not version 7.
    #[error("id {uuid} is a version {version} UUID; expected a version 7 (time-ordered) UUID")]
    NotVersion7 {
        /// The UUID.
        uuid: String,
        /// Its version number.
        version: usize,
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

/// A time-ordered unique identifier: a UUID version 7.
///
/// Ordering (`Ord`) is creation order across milliseconds, and strict
/// creation order within one [`IdGenerator`]. `Display` is the hyphenated
/// lowercase UUID form; serde uses that string in human-readable formats and
/// 16 bytes otherwise, and rejects UUIDs that are not version 7.
///
/// Ids are unique, not secret: the random bits come from a fast generator
/// seeded from the operating system, not a cryptographic one.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Uuid", into = "Uuid")]
pub struct Id(Uuid);

impl Id {
    /// A new id from the process-wide generator (system clock, random seed).
    ///
    /// Strictly greater than every id this function returned before in the process.
    pub fn new() -> Self {
        static GLOBAL: OnceLock<IdGenerator> = OnceLock::new();
        GLOBAL
            .get_or_init(|| IdGenerator::new(Arc::new(SystemClock)))
            .next_id()
    }

    /// The Unix milliseconds embedded in the id.
    pub fn timestamp_ms(&self) -> u64 {
        (self.0.as_u128() >> 80) as u64
    }

    /// The id as a 128-bit integer (big-endian UUID bytes).
    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// The id from a 128-bit integer; fails if it is not a version 7 UUID.
    pub fn from_u128(v: u128) -> Result<Self, IdError> {
        Self::try_from(Uuid::from_u128(v))
    }

    /// The 16 bytes of the UUID.
    pub fn to_bytes(&self) -> [u8; 16] {
        *self.0.as_bytes()
    }

    /// The id from 16 UUID bytes; fails if they are not a version 7 UUID.
    pub fn from_bytes(bytes: [u8; 16]) -> Result<Self, IdError> {
        Self::try_from(Uuid::from_bytes(bytes))
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for Id {
    fn default() -> Self {
        Self::new()
    }
}

impl TryFrom<Uuid> for Id {
    type Error = IdError;

    fn try_from(u: Uuid) -> Result<Self, IdError> {
        // Version 7 and the RFC 9562 variant (bits 10).
        if u.get_version_num() != 7 || u.get_variant() != uuid::Variant::RFC4122 {
            return Err(IdError::NotVersion7 {
                uuid: u.to_string(),
                version: u.get_version_num(),
            });
        }
        Ok(Self(u))
    }
}

impl From<Id> for Uuid {
    fn from(id: Id) -> Uuid {
        id.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for Id {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let u = Uuid::parse_str(s).map_err(|e| IdError::InvalidId {
            input: s.chars().take(64).collect(),
            reason: e.to_string(),
        })?;
        Self::try_from(u)
    }
}

/// Mask of the 74 non-time, non-version, non-variant bits (`rand_a` and `rand_b`).
const RAND_BITS: u32 = 74;
const RAND_MAX: u128 = (1u128 << RAND_BITS) - 1;

/// Generates strictly increasing UUIDv7 [`Id`]s from a [`Clock`].
///
/// Within a millisecond (or while the clock stands still or moves back) the
/// 74-bit random field is incremented by one; the first id of a new
/// millisecond starts from a fresh random value whose top bit is cleared, so
/// at least 2^73 ids fit in a millisecond before the generator borrows the
/// next millisecond. Thread-safe (a mutex around two integers).
#[derive(Debug)]
pub struct IdGenerator {
    clock: Arc<dyn Clock>,
    state: Mutex<GenState>,
}

#[derive(Debug)]
struct GenState {
    last_ms: u64,
    last_rand: u128,
    started: bool,
    rng: SplitMix64,
}

impl IdGenerator {
    /// A generator reading `clock`, seeded from the operating system.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_seed(clock, os_random_u64())
    }

    /// A generator with a fixed seed: with a [`crate::time::ManualClock`]
    /// it produces the same ids every run, for deterministic tests.
    pub fn with_seed(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            clock,
            state: Mutex::new(GenState {
                last_ms: 0,
                last_rand: 0,
                started: false,
                rng: SplitMix64::new(seed),
            }),
        }
    }

    /// The next id: strictly greater than every id this generator returned.
    pub fn next_id(&self) -> Id {
        let now = self.clock.now_ms().min((1u64 << 48) - 1);
        // A poisoned lock only means another thread panicked mid-call; the
        // state is two integers that are always consistent, so carry on.
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (ms, rand) = if !st.started || now > st.last_ms {
            (now, st.fresh_random())
        } else if st.last_rand < RAND_MAX {
            (st.last_ms, st.last_rand + 1)
        } else {
            // 2^73 ids in one millisecond: borrow the next millisecond.
            (st.last_ms + 1, st.fresh_random())
        };
        st.started = true;
        st.last_ms = ms;
        st.last_rand = rand;
        drop(st);
        Id(Uuid::from_u128(encode_v7(ms, rand)))
    }
}

impl GenState {
    fn fresh_random(&mut self) -> u128 {
        let hi = u128::from(self.rng.next_u64());
        let lo = u128::from(self.rng.next_u64());
        // 73 random bits: the top bit of the 74 is left clear for increments.
        ((hi << 64) | lo) & (RAND_MAX >> 1)
    }
}

/// Lays out `unix_ts_ms(48) | ver=7(4) | rand_a(12) | var=0b10(2) | rand_b(62)`.
fn encode_v7(ms: u64, rand: u128) -> u128 {
    let rand_a = (rand >> 62) & 0xFFF;
    let rand_b = rand & ((1u128 << 62) - 1);
    (u128::from(ms) << 80) | (0x7u128 << 76) | (rand_a << 64) | (0b10u128 << 62) | rand_b
}

#[cfg(test)]
mod tests;

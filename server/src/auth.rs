//! Authentication and authorization: the auth file, signed tokens, and
//! the rights a token grants on partitions.
//!
//! The auth file (JSON, written atomically) holds a random secret and the
//! users with their partitions:
//!
//! ```json
//! {"version": 1, "secret": "64 hex digits",
//!  "users": {"alice": {"partitions": {"shop-1": "rw", "catalog": "r"}}}}
//! ```
//!
//! A token is `v1.HEX(payload).HEX(HMAC-SHA-256(secret, payload))`, the
//! payload a JSON object `{"user", "exp", "partitions"}` (`exp` in Unix
//! seconds). The server checks the signature (in constant time), the
//! expiry and that the user is still in the file; a token grants, per
//! partition, the lesser of its own rights and the user's current ones,
//! so removing a user or a partition from the file revokes tokens
//! already issued.
//!
//! ```
//! use unidb_server::auth::{AuthFile, Rights};
//!
//! let mut auth = AuthFile::generate()?;
//! auth.grant("alice", "shop-1", Rights::ReadWrite)?;
//! auth.grant("alice", "catalog", Rights::Read)?;
//! let token = auth.mint("alice", 3600, 1_700_000_000)?;
//! let grant = auth.verify(&token, 1_700_000_100)?;
//! assert_eq!(grant.rights("shop-1"), Some(Rights::ReadWrite));
//! assert_eq!(grant.rights("catalog"), Some(Rights::Read));
//! assert_eq!(grant.rights("shop-2"), None);
//! // Expired, or tampered with: refused.
//! assert!(auth.verify(&token, 1_700_003_601).is_err());
//! assert!(auth.verify(&token.replace("v1.7b", "v1.7c"), 1_700_000_100).is_err());
//! # Ok::<(), unidb_server::ServerError>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Result, ServerError};
use crate::storage::valid_partition;

type HmacSha256 = Hmac<Sha256>;

/// The longest token accepted (longer ones are refused unread).
pub const MAX_TOKEN_LEN: usize = 8192;
/// The auth file format version.
pub const AUTH_VERSION: u32 = 1;

/// What a token may do in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Rights {
    /// Receive the partition's changes.
    #[serde(rename = "r")]
    Read,
    /// Receive and write.
    #[serde(rename = "rw")]
    ReadWrite,
}

impl Rights {
    /// Whether writes are allowed.
    pub fn can_write(self) -> bool {
        self == Rights::ReadWrite
    }
}

impl std::str::FromStr for Rights {
    type Err = ServerError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "r" | "read" => Ok(Rights::Read),
            "rw" | "read-write" => Ok(Rights::ReadWrite),
            _ => Err(ServerError::invalid(
                "rights",
                format!("{s:?}: expected r or rw"),
            )),
        }
    }
}

/// A user of the auth file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The partitions the user may use, with rights.
    #[serde(default)]
    pub partitions: BTreeMap<String, Rights>,
}

/// The auth file: the token secret and the users.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Format version ([`AUTH_VERSION`]).
    pub version: u32,
    /// The HMAC secret, hex.
    pub secret: String,
    /// Users by name.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
}

impl std::fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthFile")
            .field("version", &self.version)
            .field("secret", &"<hidden>")
            .field("users", &self.users)
            .finish()
    }
}

/// What a verified token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The user.
    pub user: String,
    /// The expiry (Unix seconds).
    pub expires: u64,
    /// Rights per partition (the lesser of the token's and the user's).
    pub partitions: BTreeMap<String, Rights>,
}

impl Grant {
    /// The rights on `partition`, if any.
    pub fn rights(&self, partition: &str) -> Option<Rights> {
        self.partitions.get(partition).copied()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    user: String,
    exp: u64,
    partitions: BTreeMap<String, Rights>,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect()
}

fn unauthorized(reason: impl Into<String>) -> ServerError {
    ServerError::Unauthorized {
        reason: reason.into(),
    }
}

/// Seconds since the Unix epoch now.
pub fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AuthFile {
    /// A new auth file with a fresh 256-bit secret from the operating
    /// system and no users.
    ///
    /// # Errors
    /// [`ServerError::Invalid`] when the system has no randomness to give.
    pub fn generate() -> Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| ServerError::invalid("secret", format!("no system randomness: {e}")))?;
        Ok(AuthFile {
            version: AUTH_VERSION,
            secret: hex(&secret),
            users: BTreeMap::new(),
        })
    }

    /// Parses and validates an auth file's text.
    ///
    /// # Errors
    /// [`ServerError::Invalid`] naming the problem: bad JSON or an unknown
    /// field, another version, a secret that is not 32 to 128 hex bytes,
    /// an invalid partition name.
    pub fn parse(text: &str) -> Result<Self> {
        let f: AuthFile = serde_json::from_str(text)
            .map_err(|e| ServerError::invalid("auth file", e.to_string()))?;
        if f.version != AUTH_VERSION {
            return Err(ServerError::invalid(
                "auth file version",
                format!("{}, this build reads {AUTH_VERSION}", f.version),
            ));
        }
        match unhex(&f.secret) {
            Some(s) if (32..=128).contains(&s.len()) => {}
            _ => {
                return Err(ServerError::invalid(
                    "auth file secret",
                    "32 to 128 bytes as hex digits",
                ))
            }
        }
        for (user, u) in &f.users {
            for p in u.partitions.keys() {
                if !valid_partition(p) {
                    return Err(ServerError::invalid(
                        format!("partition of user {user:?}"),
                        format!("{p:?}: 1 to 64 ASCII letters, digits, '-' or '_'"),
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Reads an auth file.
    ///
    /// # Errors
    /// [`ServerError::Io`] naming the path, or the errors of [`AuthFile::parse`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::io("read auth file", path, e))?;
        Self::parse(&text)
    }

    /// Writes the file atomically.
    ///
    /// # Errors
    /// [`ServerError::Fs`] naming the path and step.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| ServerError::invalid("auth file", e.to_string()))?;
        text.push('\n');
        unidb_common::fs::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    fn key(&self) -> HmacSha256 {
        let secret = unhex(&self.secret).unwrap_or_default();
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&secret).expect("HMAC accepts every key length")
    }

    /// Adds `user` if absent and grants `rights` on `partition`.
    ///
    /// # Errors
    /// [`ServerError::Invalid`] for an invalid partition or empty user name.
    pub fn grant(&mut self, user: &str, partition: &str, rights: Rights) -> Result<()> {
        if user.is_empty() || user.len() > 256 {
            return Err(ServerError::invalid("user", "1 to 256 bytes"));
        }
        if !valid_partition(partition) {
            return Err(ServerError::invalid(
                "partition",
                format!("{partition:?}: 1 to 64 ASCII letters, digits, '-' or '_'"),
            ));
        }
        self.users
            .entry(user.to_owned())
            .or_default()
            .partitions
            .insert(partition.to_owned(), rights);
        Ok(())
    }

    /// A token for `user` with the user's current partitions, valid for
    /// `ttl_s` seconds from `now_s`.
    ///
    /// # Errors
    /// [`ServerError::Invalid`] for a user not in the file.
    pub fn mint(&self, user: &str, ttl_s: u64, now_s: u64) -> Result<String> {
        let u = self.users.get(user).ok_or_else(|| {
            ServerError::invalid("user", format!("{user:?} is not in the auth file"))
        })?;
        let payload = Payload {
            user: user.to_owned(),
            exp: now_s.saturating_add(ttl_s),
            partitions: u.partitions.clone(),
        };
        let json = serde_json::to_vec(&payload).expect("a payload serialises");
        let mut mac = self.key();
        mac.update(&json);
        let sig = mac.finalize().into_bytes();
        Ok(format!("v1.{}.{}", hex(&json), hex(&sig)))
    }

    /// Checks `token` at time `now_s` and returns what it grants.
    ///
    /// # Errors
    /// [`ServerError::Unauthorized`] for a malformed, badly signed or
    /// expired token or an unknown user (the reason is for the operator;
    /// the server tells the client only "unauthorized").
    pub fn verify(&self, token: &str, now_s: u64) -> Result<Grant> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(unauthorized("token too long"));
        }
        let mut parts = token.split('.');
        let (Some("v1"), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unauthorized("malformed token"));
        };
        let (Some(payload), Some(sig)) = (unhex(payload), unhex(sig)) else {
            return Err(unauthorized("malformed token"));
        };
        let mut mac = self.key();
        mac.update(&payload);
        mac.verify_slice(&sig)
            .map_err(|_| unauthorized("bad signature"))?;
        let p: Payload =
            serde_json::from_slice(&payload).map_err(|_| unauthorized("malformed payload"))?;
        if p.exp <= now_s {
            return Err(unauthorized(format!("token of {} expired", p.user)));
        }
        let Some(user) = self.users.get(&p.user) else {
            return Err(unauthorized(format!(
                "user {} not in the auth file",
                p.user
            )));
        };
        let partitions = p
            .partitions
            .into_iter()
            .filter_map(|(name, r)| {
                let current = *user.partitions.get(&name)?;
                Some((name, r.min(current)))
            })
            .collect();
        Ok(Grant {
            user: p.user,
            expires: p.exp,
            partitions,
        })
    }
}

#[cfg(test)]
mod tests;

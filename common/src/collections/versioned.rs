//! A value with a bounded, timestamped history.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time::HlcTimestamp;

/// A timestamp a [`Versioned`] history can be keyed by.
pub trait VersionTime: Ord + Copy + fmt::Debug {
    /// Physical milliseconds, used by age-based retention.
    fn millis(self) -> u64;
}

impl VersionTime for u64 {
    /// The value itself, taken as milliseconds.
    fn millis(self) -> u64 {
        self
    }
}

impl VersionTime for HlcTimestamp {
    fn millis(self) -> u64 {
        self.physical_ms()
    }
}

/// How much history a [`Versioned`] keeps. The latest version is always kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Keep at most this many versions (`None`: no count limit; `Some(0)`
    /// acts as `Some(1)`).
    pub max_versions: Option<usize>,
    /// Drop a version once it has been superseded for longer than this many
    /// milliseconds before the newest timestamp seen (`None`: no age limit).
    /// Queries `as_of(t)` with `t` no older than that stay exact.
    pub max_age_ms: Option<u64>,
}

impl Retention {
    /// Keep everything.
    pub const UNBOUNDED: Retention = Retention {
        max_versions: None,
        max_age_ms: None,
    };

    /// Keep the newest `n` versions.
    pub const fn versions(n: usize) -> Self {
        Retention {
            max_versions: Some(n),
            max_age_ms: None,
        }
    }

    /// Keep what is needed to answer queries up to `ms` milliseconds back.
    pub const fn age_ms(ms: u64) -> Self {
        Retention {
            max_versions: None,
            max_age_ms: Some(ms),
        }
    }
}

/// A value with a bounded history of `(timestamp, value)` versions that
/// answers "what was the value as of time t".
///
/// Versions are kept sorted by timestamp (inserts may arrive out of order);
/// [`as_of`](Self::as_of) is a binary search. After pruning, the
/// [`horizon`](Self::horizon) is the oldest retained timestamp: answers for
/// `t >= horizon` are exact, and inserts older than the horizon are rejected
/// (the history needed to place them is gone).
///
/// ```
/// use unidb_common::collections::{Retention, Versioned};
///
/// let mut v = Versioned::new(Retention::versions(2));
/// v.insert(10u64, "a")?;
/// v.insert(20, "b")?;
/// v.insert(30, "c")?;                 // drops the version at 10
/// assert_eq!(v.as_of(25), Some(&"b"));
/// assert_eq!(v.as_of(30), Some(&"c"));
/// assert_eq!(v.horizon(), Some(20));  // as_of(t) is exact for t >= 20
/// assert!(v.insert(5, "old").is_err());
/// # Ok::<(), unidb_common::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T, Ts = u64> {
    history: VecDeque<(Ts, T)>,
    retention: Retention,
    newest_ms: u64,
    horizon: Option<Ts>,
}

impl<T, Ts: VersionTime> Default for Versioned<T, Ts> {
    fn default() -> Self {
        Self::new(Retention::UNBOUNDED)
    }
}

impl<T, Ts: VersionTime> Versioned<T, Ts> {
    /// An empty history with the given retention.
    pub fn new(retention: Retention) -> Self {
        Self {
            history: VecDeque::new(),
            retention,
            newest_ms: 0,
            horizon: None,
        }
    }

    /// The retention bound.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Records `value` as of `ts`, replacing (and returning) a version with
    /// the same timestamp, then prunes to the retention bound.
    ///
    /// Fails with a [`crate::ErrorKind::Conflict`] error if `ts` is older
    /// than the horizon.
    pub fn insert(&mut self, ts: Ts, value: T) -> Result<Option<T>> {
        if let Some(h) = self.horizon {
            if ts < h {
                return Err(Error::conflict(
                    format!("version at {ts:?} is older than the retained history (horizon {h:?})"),
                    "versioned history",
                ));
            }
        }
        let idx = self.history.partition_point(|(t, _)| *t < ts);
        let replaced = match self.history.get_mut(idx) {
            Some((t, v)) if *t == ts => Some(std::mem::replace(v, value)),
            _ => {
                self.history.insert(idx, (ts, value));
                None
            }
        };
        self.newest_ms = self.newest_ms.max(ts.millis());
        self.prune();
        Ok(replaced)
    }

    /// Applies age retention relative to `now_ms` (in addition to the newest
    /// timestamp seen), e.g. periodically while no inserts arrive.
    pub fn prune_at(&mut self, now_ms: u64) {
        self.newest_ms = self.newest_ms.max(now_ms);
        self.prune();
    }

    fn prune(&mut self) {
        let mut pruned = false;
        if let Some(max) = self.retention.max_versions {
            let max = max.max(1);
            while self.history.len() > max {
                self.history.pop_front();
                pruned = true;
            }
        }
        if let Some(age) = self.retention.max_age_ms {
            let cutoff = self.newest_ms.saturating_sub(age);
            // The front version is needed while its successor is newer than
            // the cutoff (it is the answer for t in [front, successor)).
            while self.history.len() > 1 && self.history[1].0.millis() <= cutoff {
                self.history.pop_front();
                pruned = true;
            }
        }
        if pruned {
            self.horizon = self.history.front().map(|(t, _)| *t);
        }
    }

    /// The value as of `t`: the version with the largest timestamp `<= t`.
    pub fn as_of(&self, t: Ts) -> Option<&T> {
        self.as_of_entry(t).map(|(_, v)| v)
    }

    /// The version (timestamp and value) in force at `t`.
    pub fn as_of_entry(&self, t: Ts) -> Option<(Ts, &T)> {
        let idx = self.history.partition_point(|(ts, _)| *ts <= t);
        let (ts, v) = self.history.get(idx.checked_sub(1)?)?;
        Some((*ts, v))
    }

    /// The newest version.
    pub fn latest(&self) -> Option<(Ts, &T)> {
        self.history.back().map(|(t, v)| (*t, v))
    }

    /// The oldest retained timestamp if anything was pruned: `as_of(t)` is
    /// exact for `t >= horizon`. `None` while nothing was pruned (every
    /// answer is exact).
    pub fn horizon(&self) -> Option<Ts> {
        self.horizon
    }

    /// Number of retained versions.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// True if no version is retained.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// Retained versions, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Ts, &T)> + '_ {
        self.history.iter().map(|(t, v)| (*t, v))
    }
}

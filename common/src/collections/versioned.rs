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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn retention() -> impl Strategy<Value = Retention> {
        (
            proptest::option::of(0..6usize),
            proptest::option::of(0..50u64),
        )
            .prop_map(|(max_versions, max_age_ms)| Retention {
                max_versions,
                max_age_ms,
            })
    }

    proptest! {
        /// Against a model that keeps every accepted insert and answers by
        /// linear scan: the retained versions are exactly the model's from
        /// the horizon on, queries at or after the horizon agree, the bounds
        /// hold, and nothing was pruned that the bounds did not require.
        #[test]
        fn as_of_matches_linear_scan(
            retention in retention(),
            ops in proptest::collection::vec((0..200u64, any::<u16>(), any::<bool>()), 0..100),
            queries in proptest::collection::vec(0..220u64, 20),
        ) {
            let mut v: Versioned<u16> = Versioned::new(retention);
            let mut model: Vec<(u64, u16)> = Vec::new();
            let mut newest = 0u64;
            for (ts, val, prune_now) in ops {
                if prune_now && ts % 3 == 0 {
                    v.prune_at(ts);
                    newest = newest.max(ts);
                    continue;
                }
                let horizon_before = v.horizon();
                let res = v.insert(ts, val);
                match horizon_before {
                    Some(h) if ts < h => { prop_assert!(res.is_err()); continue; }
                    _ => {}
                }
                let old = model.iter().position(|e| e.0 == ts).map(|i| model.remove(i).1);
                prop_assert_eq!(res.unwrap(), old);
                model.push((ts, val));
                newest = newest.max(ts);
                let h = v.horizon();
                // Retained == model entries from the horizon on.
                let mut expect: Vec<(u64, u16)> =
                    model.iter().copied().filter(|e| h.is_none_or(|h| e.0 >= h)).collect();
                expect.sort();
                let got: Vec<(u64, u16)> = v.iter().map(|(t, x)| (t, *x)).collect();
                prop_assert_eq!(&got, &expect);
                // Bounds hold.
                if let Some(m) = retention.max_versions {
                    prop_assert!(v.len() <= m.max(1));
                }
                if let Some(age) = retention.max_age_ms {
                    let cutoff = newest.saturating_sub(age);
                    prop_assert!(got.len() <= 1 || got[1].0 > cutoff);
                }
                // Minimal pruning: the version just before the horizon had to go.
                if let Some(h) = h {
                    let mut all: Vec<u64> = model.iter().map(|e| e.0).collect();
                    all.sort();
                    if let Some(&pred) = all.iter().rev().find(|&&t| t < h) {
                        let by_count = retention.max_versions.is_some_and(|m| v.len() == m.max(1));
                        let by_age = retention
                            .max_age_ms
                            .is_some_and(|a| h <= newest.saturating_sub(a));
                        prop_assert!(by_count || by_age, "version {} pruned without cause", pred);
                    }
                }
            }
            for t in queries {
                let exact = v.horizon().is_none_or(|h| t >= h);
                let scan = model
                    .iter()
                    .filter(|e| e.0 <= t)
                    .max_by_key(|e| e.0)
                    .map(|e| e.1);
                if exact {
                    prop_assert_eq!(v.as_of(t).copied(), scan);
                } else {
                    prop_assert_eq!(v.as_of(t), None);
                }
            }
        }
    }

    #[test]
    fn hlc_keyed_history() {
        let ts = |ms, c| HlcTimestamp::new(ms, c).unwrap();
        let mut v = Versioned::new(Retention::age_ms(100));
        v.insert(ts(1_000, 0), 'a').unwrap();
        v.insert(ts(1_000, 1), 'b').unwrap();
        v.insert(ts(1_050, 0), 'c').unwrap();
        assert_eq!(v.as_of(ts(1_000, 0)), Some(&'a'));
        assert_eq!(v.as_of(ts(1_020, 0)), Some(&'b'));
        assert_eq!(v.as_of(ts(999, 9)), None);
        v.insert(ts(1_200, 0), 'd').unwrap();
        // cutoff 1100: 'c' (superseded at 1200 > 1100) is still needed; 'a', 'b' go.
        assert_eq!(v.iter().map(|(_, x)| *x).collect::<String>(), "cd");
        assert_eq!(v.horizon(), Some(ts(1_050, 0)));
        assert_eq!(v.latest(), Some((ts(1_200, 0), &'d')));
        v.prune_at(1_300);
        assert_eq!(v.len(), 1);
        let err = v.insert(ts(1_100, 0), 'x').unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Conflict);
        assert!(err.to_string().contains("horizon"));
    }
}

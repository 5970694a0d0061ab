//! When to wake the radio: a deterministic state machine over an
//! injected clock (milliseconds). The client's worker asks it when the
//! next round is due and tells it what happened; the power simulation
//! drives the same machine through a simulated day.

use unidb_common::rng::SplitMix64;

use super::inputs::Inputs;
use super::profile::{PowerProfile, Priority};

/// Why a round is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Local writes waited out the flush window.
    Flush,
    /// The poll interval passed since the last round.
    Poll,
    /// A retry after a failed round.
    Retry,
}

/// The scheduler's state: pending local writes by priority, the last
/// successful round, and the backoff after failures.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// Per priority, when the oldest write not yet sent was made.
    pending_since: [Option<u64>; 3],
    last_round_ms: u64,
    failures: u32,
    retry_at: Option<u64>,
    rng: SplitMix64,
}

impl Scheduler {
    /// A scheduler whose last round was at `now_ms`, with backoff jitter
    /// drawn from `seed`.
    pub fn new(now_ms: u64, seed: u64) -> Self {
        Scheduler {
            pending_since: [None; 3],
            last_round_ms: now_ms,
            failures: 0,
            retry_at: None,
            rng: SplitMix64::new(seed),
        }
    }

    /// A local write of `priority` was committed at `now_ms`.
    pub fn on_write(&mut self, priority: Priority, now_ms: u64) {
        self.pending_since[priority.index()].get_or_insert(now_ms);
    }

    /// Whether writes of `priority` wait to be sent.
    pub fn pending(&self, priority: Priority) -> bool {
        self.pending_since[priority.index()].is_some()
    }

    /// Consecutive failed rounds.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the last successful round ended.
    pub fn last_round_ms(&self) -> u64 {
        self.last_round_ms
    }

    /// When the next round is due under `profile` with `inputs`, and why
    /// (`None`: nothing to do until a write or a change of inputs; never
    /// while offline). Pending writes whose priority may not be sent now
    /// do not make a round due.
    pub fn next_round(&self, profile: &PowerProfile, inputs: &Inputs) -> Option<(u64, Reason)> {
        if !inputs.network.online() {
            return None;
        }
        if let Some(at) = self.retry_at {
            return Some((at, Reason::Retry));
        }
        let mut due = (
            self.last_round_ms
                .saturating_add(profile.poll_interval_s.saturating_mul(1000)),
            Reason::Poll,
        );
        for p in Priority::ALL {
            if let Some(since) = self.pending_since[p.index()] {
                if profile.may_send(p, inputs) {
                    let at = since.saturating_add(profile.flush_window_ms);
                    if at <= due.0 {
                        due = (at, Reason::Flush);
                    }
                }
            }
        }
        Some(due)
    }

    /// A round that started at `started_ms` ended at `now_ms`, `ok` or
    /// failed. Success clears the pending writes it could send (those of
    /// priorities `profile` allows with `inputs`, made before it started)
    /// and the backoff; failure schedules a retry after
    /// [`PowerProfile::backoff_ms`].
    pub fn on_round(
        &mut self,
        ok: bool,
        started_ms: u64,
        now_ms: u64,
        profile: &PowerProfile,
        inputs: &Inputs,
    ) {
        if ok {
            self.failures = 0;
            self.retry_at = None;
            self.last_round_ms = now_ms;
            for p in Priority::ALL {
                if profile.may_send(p, inputs) {
                    let slot = &mut self.pending_since[p.index()];
                    // Writes made during the round wait for the next one.
                    *slot = slot.filter(|&s| s > started_ms);
                }
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            let delay = profile.backoff_ms(self.failures, self.rng.f64());
            self.retry_at = Some(now_ms.saturating_add(delay));
        }
    }
}

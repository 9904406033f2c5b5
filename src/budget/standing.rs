//! Where this replica stands in the budget, as a pure state machine: the loop
//! feeds it allotments and the passage of time, and it answers what to do with
//! the limiter. Kept free of I/O so every rule is unit-tested.
//!
//! The rules, each guarding the "never above the budget" promise:
//! - an allotment is applied as it comes: a raise was already claimed in the
//!   database, a lowering is reported by the next heartbeat, sent at once;
//! - a reply that comes after the pause deadline is not applied;
//! - a replica that cannot heartbeat closes its limiter at the pause deadline
//!   (before its claim stops counting for the others) and starts again from zero.

use std::time::{Duration, Instant};

/// What to do with the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    /// Allow this many calls per window (0 only as [`Action::Close`]).
    Allow(u32),
    Close,
}

#[derive(Debug, Clone)]
pub struct Standing {
    /// Silence after which this replica must stop calling.
    deadline: Duration,
    /// What the limiter allows now.
    applied: u32,
    /// When the last successful heartbeat was *sent* (local clock; the row's
    /// `heartbeat_at` is no earlier than this).
    last_success: Option<Instant>,
    /// A lowering was applied and not yet reported.
    unreported: bool,
}

impl Standing {
    pub fn new(deadline: Duration) -> Self {
        Self {
            deadline,
            applied: 0,
            last_success: None,
            unreported: false,
        }
    }

    /// What the limiter allows, to report in the next heartbeat.
    pub fn applied(&self) -> u32 {
        self.applied
    }

    pub fn is_active(&self) -> bool {
        self.applied > 0
    }

    /// A lowering was applied: report it at once, so the room it frees is held
    /// from now and given to the others a window later.
    pub fn wants_quick_beat(&self) -> bool {
        self.unreported
    }

    /// How long a heartbeat sent at `now` may take: never past the moment this
    /// replica must stop calling, nor past the deadline counted from its sending.
    pub fn time_left(&self, now: Instant) -> Duration {
        match self.pause_at() {
            Some(at) => at.saturating_duration_since(now).min(self.deadline),
            None => self.deadline,
        }
    }

    /// When this replica must stop calling unless a heartbeat succeeds first
    /// (`None` while it is not calling).
    pub fn pause_at(&self) -> Option<Instant> {
        match self.last_success {
            Some(at) if self.applied > 0 => Some(at + self.deadline),
            _ => None,
        }
    }

    /// A heartbeat sent at `sent_at` answered `allowed` at `now`.
    pub fn on_allotment(&mut self, sent_at: Instant, now: Instant, allowed: u32) -> Action {
        if now.saturating_duration_since(sent_at) >= self.deadline {
            // Its row may already have stopped counting for the others.
            return self.on_silence(now);
        }
        self.last_success = Some(sent_at);
        // This heartbeat reported the value it found applied.
        self.unreported = allowed < self.applied;
        if allowed == self.applied {
            return Action::Keep;
        }
        self.applied = allowed;
        if allowed == 0 {
            Action::Close
        } else {
            Action::Allow(allowed)
        }
    }

    /// Time passed (a heartbeat failed, or is late): stop calling once the
    /// others may count us gone.
    pub fn on_silence(&mut self, now: Instant) -> Action {
        let overdue = self
            .last_success
            .is_none_or(|at| now.saturating_duration_since(at) >= self.deadline);
        if !overdue || self.applied == 0 {
            return Action::Keep;
        }
        self.applied = 0;
        self.last_success = None;
        self.unreported = false;
        Action::Close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_millis(1500);

    #[test]
    fn an_allotment_is_applied_and_a_repeat_changes_nothing() {
        let now = Instant::now();
        let mut s = Standing::new(DEADLINE);
        assert_eq!(s.on_allotment(now, now, 20), Action::Allow(20));
        assert_eq!(s.on_allotment(now, now, 20), Action::Keep);
        assert_eq!(s.applied(), 20);
        assert!(!s.wants_quick_beat());
    }

    #[test]
    fn a_lowering_is_reported_by_a_quick_heartbeat() {
        let now = Instant::now();
        let mut s = Standing::new(DEADLINE);
        s.on_allotment(now, now, 20);
        assert_eq!(s.on_allotment(now, now, 10), Action::Allow(10));
        assert!(s.wants_quick_beat());
        assert_eq!(s.on_allotment(now, now, 10), Action::Keep);
        assert!(!s.wants_quick_beat());
        assert_eq!(s.on_allotment(now, now, 0), Action::Close);
    }

    #[test]
    fn a_replica_silent_until_its_deadline_closes_and_starts_from_nothing() {
        let now = Instant::now();
        let mut s = Standing::new(DEADLINE);
        s.on_allotment(now, now, 20);
        assert_eq!(s.on_silence(now + DEADLINE / 2), Action::Keep);
        assert_eq!(s.on_silence(now + DEADLINE), Action::Close);
        assert!(!s.is_active());
        assert_eq!(s.on_silence(now + DEADLINE * 2), Action::Keep);
        let later = now + DEADLINE * 2;
        assert_eq!(s.on_allotment(later, later, 7), Action::Allow(7));
    }

    #[test]
    fn a_reply_that_comes_after_the_deadline_is_not_applied() {
        let now = Instant::now();
        let mut s = Standing::new(DEADLINE);
        assert_eq!(s.on_allotment(now, now + DEADLINE, 20), Action::Keep);
        assert!(!s.is_active());
        s.on_allotment(now, now, 20);
        let late = now + DEADLINE;
        assert_eq!(s.on_allotment(now, late, 20), Action::Close);
    }

    #[test]
    fn a_heartbeat_may_not_outlast_the_deadline() {
        let now = Instant::now();
        let mut s = Standing::new(DEADLINE);
        assert_eq!(s.time_left(now), DEADLINE);
        s.on_allotment(now, now, 5);
        let left = s.time_left(now + Duration::from_millis(1000));
        assert_eq!(left, Duration::from_millis(500));
        assert_eq!(s.pause_at(), Some(now + DEADLINE));
    }
}

//! Where this replica stands in the budget, as a pure state machine: the loop
//! feeds it heartbeat results and the passage of time, and it answers what to do
//! with the limiter. Kept free of I/O so every rule is unit-tested.
//!
//! The rules, each guarding the "never above the budget" promise:
//! - a replica lowers its rate as soon as a heartbeat shows more replicas;
//! - a joining replica calls nothing until every live replica has *applied* a
//!   count that includes it (their `counted_at` is after it became visible);
//! - a replica that cannot heartbeat stops calling before the others may count
//!   it dead, and rejoins as a newcomer.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::membership::Sighting;

/// What to do with the limiter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    Keep,
    /// Set the rate to this share (opening the limiter if it is closed).
    Rate(f64),
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Not calling. `written`: a heartbeat has committed our row;
    /// `visible_since`: the `now()` of a heartbeat that began after that commit.
    Joining {
        written: bool,
        visible_since: Option<DateTime<Utc>>,
    },
    /// Calling at `share`.
    Active { share: f64 },
}

const NEWCOMER: Phase = Phase::Joining {
    written: false,
    visible_since: None,
};

#[derive(Debug, Clone)]
pub struct Standing {
    total_qps: f64,
    /// Silence after which this replica must stop calling (TTL minus a margin).
    deadline: Duration,
    phase: Phase,
    /// The `beat_at` of the last successful heartbeat, which is always applied
    /// (a closed limiter trivially honours any count).
    counted_at: Option<DateTime<Utc>>,
    /// When the last successful heartbeat was *sent* (local clock; the row's
    /// `heartbeat_at` is no earlier than this).
    last_success: Option<Instant>,
}

impl Standing {
    pub fn new(total_qps: f64, deadline: Duration) -> Self {
        Self {
            total_qps,
            deadline,
            phase: NEWCOMER,
            counted_at: None,
            last_success: None,
        }
    }

    pub fn counted_at(&self) -> Option<DateTime<Utc>> {
        self.counted_at
    }

    pub fn visible_since(&self) -> Option<DateTime<Utc>> {
        match self.phase {
            Phase::Joining { visible_since, .. } => visible_since,
            Phase::Active { .. } => None,
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Active { .. })
    }

    /// The current share, or `None` while not calling.
    pub fn share(&self) -> Option<f64> {
        match self.phase {
            Phase::Active { share } => Some(share),
            Phase::Joining { .. } => None,
        }
    }

    /// Our row is written but we have no `visible_since` yet: beat again at once
    /// rather than a heartbeat later, to join sooner.
    pub fn wants_quick_beat(&self) -> bool {
        matches!(
            self.phase,
            Phase::Joining {
                written: true,
                visible_since: None
            }
        )
    }

    /// How long the next heartbeat may take before it counts as failed: never
    /// past the moment we must stop calling.
    pub fn time_left(&self, now: Instant, otherwise: Duration) -> Duration {
        match (self.phase, self.last_success) {
            (Phase::Active { .. }, Some(at)) => (at + self.deadline).saturating_duration_since(now),
            _ => otherwise,
        }
    }

    /// When this replica must stop calling unless a heartbeat succeeds first
    /// (`None` while it is not calling).
    pub fn pause_at(&self) -> Option<Instant> {
        match (self.phase, self.last_success) {
            (Phase::Active { .. }, Some(at)) => Some(at + self.deadline),
            _ => None,
        }
    }

    /// A heartbeat sent at `sent_at` succeeded with `seen`.
    pub fn on_sighting(&mut self, sent_at: Instant, seen: Sighting) -> Action {
        self.last_success = Some(sent_at);
        self.counted_at = Some(seen.beat_at);
        let share = self.total_qps / seen.live.max(1) as f64;
        match self.phase {
            Phase::Joining { written: false, .. } => {
                self.phase = Phase::Joining {
                    written: true,
                    visible_since: None,
                };
                Action::Keep
            }
            Phase::Joining {
                written: true,
                visible_since,
            } => {
                // Began after our row committed, so `seen.lagging` was counted against it.
                let since = visible_since.unwrap_or(seen.beat_at);
                if seen.lagging == 0 {
                    self.phase = Phase::Active { share };
                    Action::Rate(share)
                } else {
                    self.phase = Phase::Joining {
                        written: true,
                        visible_since: Some(since),
                    };
                    Action::Keep
                }
            }
            Phase::Active { share: current } if (current - share).abs() > 1e-9 => {
                self.phase = Phase::Active { share };
                Action::Rate(share)
            }
            Phase::Active { .. } => Action::Keep,
        }
    }

    /// Time passed (a heartbeat failed, or is late): stop calling once the
    /// others may count us dead, and start over as a newcomer.
    pub fn on_silence(&mut self, now: Instant) -> Action {
        let overdue = self
            .last_success
            .is_some_and(|at| now.saturating_duration_since(at) >= self.deadline);
        if !overdue {
            return Action::Keep;
        }
        let was_active = self.is_active();
        self.phase = NEWCOMER;
        self.last_success = None;
        if was_active {
            Action::Close
        } else {
            Action::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_millis(1500);

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap_or_default()
    }

    fn seen(live: i64, lagging: i64, ms: i64) -> Sighting {
        Sighting {
            live,
            lagging,
            beat_at: at(ms),
        }
    }

    /// A replica that has joined alone at 30 QPS.
    fn active_alone(now: Instant) -> Standing {
        let mut s = Standing::new(30.0, DEADLINE);
        assert_eq!(s.on_sighting(now, seen(1, 0, 0)), Action::Keep);
        assert!(s.wants_quick_beat());
        assert_eq!(s.on_sighting(now, seen(1, 0, 1)), Action::Rate(30.0));
        s
    }

    #[test]
    fn a_lone_replica_joins_after_two_quick_heartbeats_with_the_whole_budget() {
        let s = active_alone(Instant::now());
        assert_eq!(s.share(), Some(30.0));
    }

    #[test]
    fn a_newcomer_waits_until_no_live_replica_lags_behind_it() {
        let now = Instant::now();
        let mut s = Standing::new(30.0, DEADLINE);
        s.on_sighting(now, seen(3, 2, 0));
        assert_eq!(s.on_sighting(now, seen(3, 2, 5)), Action::Keep);
        assert_eq!(s.visible_since(), Some(at(5)));
        assert_eq!(s.on_sighting(now, seen(3, 1, 500)), Action::Keep);
        // Visibility is fixed at the first beat after our row committed.
        assert_eq!(s.visible_since(), Some(at(5)));
        assert_eq!(s.on_sighting(now, seen(3, 0, 1000)), Action::Rate(10.0));
    }

    #[test]
    fn an_active_replica_changes_its_rate_only_when_the_count_changes() {
        let now = Instant::now();
        let mut s = active_alone(now);
        assert_eq!(s.on_sighting(now, seen(1, 0, 500)), Action::Keep);
        assert_eq!(s.on_sighting(now, seen(3, 1, 1000)), Action::Rate(10.0));
        assert_eq!(s.on_sighting(now, seen(3, 0, 1500)), Action::Keep);
        assert_eq!(s.on_sighting(now, seen(2, 0, 2000)), Action::Rate(15.0));
        assert_eq!(s.counted_at(), Some(at(2000)));
    }

    #[test]
    fn a_replica_silent_until_its_deadline_closes_and_starts_over() {
        let now = Instant::now();
        let mut s = active_alone(now);
        assert_eq!(s.on_silence(now + DEADLINE / 2), Action::Keep);
        assert_eq!(s.on_silence(now + DEADLINE), Action::Close);
        assert!(!s.is_active());
        assert_eq!(s.on_silence(now + DEADLINE * 2), Action::Keep);
        // Rejoining goes through the newcomer's steps again.
        let later = now + DEADLINE * 2;
        assert_eq!(s.on_sighting(later, seen(2, 1, 9000)), Action::Keep);
        assert_eq!(s.on_sighting(later, seen(2, 1, 9001)), Action::Keep);
        assert_eq!(s.on_sighting(later, seen(2, 0, 9500)), Action::Rate(15.0));
    }

    #[test]
    fn a_heartbeat_may_not_outlast_the_deadline() {
        let now = Instant::now();
        let s = active_alone(now);
        let left = s.time_left(now + Duration::from_millis(1000), Duration::from_secs(9));
        assert_eq!(left, Duration::from_millis(500));
        assert_eq!(s.pause_at(), Some(now + DEADLINE));
        let joining = Standing::new(30.0, DEADLINE);
        assert_eq!(
            joining.time_left(now, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }
}

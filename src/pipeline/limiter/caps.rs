//! The caps of bulk queues (`ID2META_QUEUE_CAPS`) inside the limiter: a window of
//! its own per capped queue, counting only that queue's calls, with the
//! allowance the budget grants this replica for it (`crate::budget::caps`).
//!
//! A call of a capped queue needs room in both: the replica's window under the
//! budget's allowance and its queue's window under the queue's allowance, checked
//! and recorded together under the limiter's lock. So every bound of the budget
//! holds for the queue's claims too, with the same proof (`docs/qps-budget.md`,
//! "Caps"): the queue's window can only count a call for longer, never shorter,
//! and a lowered allowance binds every window whose last call comes after it.

use std::time::Duration;

use tokio::time::Instant;

use super::window::{SendWindow, Verdict};
use super::{Limiter, TICK};
use crate::pipeline::scheduler::{Class, Deferred};

impl Limiter {
    /// Caps bulk queue `queue` (`ID2META_QUEUE_CAPS`): its calls are counted in
    /// a window of `window` of their own too, and none is made until
    /// [`Limiter::set_queue_allowance`] allows some. Call before any token is taken.
    pub fn cap_queue(&self, queue: usize, window: Duration) {
        self.lock_sends().caps.install(queue, window, TICK);
    }

    /// Allows `calls` of capped bulk queue `queue` per its window (0 closes the
    /// queue alone); the budget's allowance still bounds every call.
    pub fn set_queue_allowance(&self, queue: usize, calls: u32) {
        self.lock_sends().caps.set(queue, calls);
        self.inner.turn.clear_deferrals();
        self.inner.changes.send_modify(|_| {});
    }

    /// Whether jobs of capped queue `queue` wait for a call now, or did since the
    /// last time this was asked (the budget asks once per heartbeat: a replica
    /// takes a share of a cap only while it has jobs to use it on).
    pub fn queue_demand(&self, queue: usize) -> bool {
        self.lock_sends().caps.demand(queue)
    }

    /// Counts a caller of `class` as waiting until the guard is dropped.
    pub(super) fn wanting(&self, class: Class) -> Wanting<'_> {
        let queue = match class {
            Class::Bulk(queue) => Some(queue),
            _ => None,
        };
        if let Some(queue) = queue {
            self.lock_sends().caps.wait(queue, true);
        }
        Wanting {
            limiter: self,
            queue,
        }
    }

    /// Calls of capped queue `queue` counted in its current window (for tests).
    pub fn queue_in_window(&self, queue: usize) -> Option<u64> {
        let now = self.ticks(Instant::now());
        self.lock_sends().caps.in_window(queue, now)
    }

    /// An interactive job of a capped queue waits as a bulk job of it: a cap
    /// counts every call of its queue (see [`Class::Urgent`]).
    pub(super) fn capped_as_bulk(&self, class: Class) -> Class {
        match class {
            Class::Urgent(queue) if self.lock_sends().caps.is_capped(queue) => Class::Bulk(queue),
            Class::Urgent(_) => Class::Interactive,
            other => other,
        }
    }

    /// How long a queue whose cap said `verdict` is passed over.
    pub(super) fn deferred(&self, verdict: Verdict) -> Deferred {
        match verdict {
            Verdict::At(tick) => Deferred::Until(self.at_tick(tick)),
            _ => Deferred::Closed,
        }
    }
}

/// The windows of this replica's capped queues, by bulk index.
#[derive(Default)]
pub(super) struct QueueCaps {
    windows: Vec<Option<CapWindow>>,
}

struct CapWindow {
    window: SendWindow,
    /// Calls of the queue allowed per window; 0 until the budget grants some.
    allowance: u32,
    /// Jobs of the queue waiting for a call now, and whether one asked since
    /// the budget last read [`QueueCaps::demand`].
    waiting: u32,
    asked: bool,
}

impl QueueCaps {
    /// Caps bulk queue `queue` over windows of `window`, closed until
    /// [`QueueCaps::set`] allows some calls.
    pub fn install(&mut self, queue: usize, window: Duration, tick: Duration) {
        if self.windows.len() <= queue {
            self.windows.resize_with(queue + 1, || None);
        }
        self.windows[queue] = Some(CapWindow {
            window: SendWindow::new(window, tick),
            allowance: 0,
            waiting: 0,
            asked: false,
        });
    }

    pub fn is_capped(&self, queue: usize) -> bool {
        matches!(self.windows.get(queue), Some(Some(_)))
    }

    /// Allows `calls` of `queue` per window from now on; false if it is not capped.
    pub fn set(&mut self, queue: usize, calls: u32) -> bool {
        match self.windows.get_mut(queue) {
            Some(Some(cap)) => {
                cap.allowance = calls;
                true
            }
            _ => false,
        }
    }

    /// Whether a call of `queue` may be made at tick `now` (always, uncapped).
    pub fn check(&mut self, queue: usize, now: u64) -> Verdict {
        match self.windows.get_mut(queue) {
            Some(Some(cap)) => cap.window.check(now, cap.allowance),
            _ => Verdict::Now,
        }
    }

    /// Counts a call of `queue` at tick `now` (after [`QueueCaps::check`] said `Now`).
    pub fn record(&mut self, queue: usize, now: u64) {
        if let Some(Some(cap)) = self.windows.get_mut(queue) {
            cap.window.record(now, cap.allowance);
        }
    }

    /// A job of `queue` starts waiting for a call (or, `false`, stops).
    pub fn wait(&mut self, queue: usize, waiting: bool) {
        if let Some(Some(cap)) = self.windows.get_mut(queue) {
            if waiting {
                cap.waiting += 1;
                cap.asked = true;
            } else {
                cap.waiting = cap.waiting.saturating_sub(1);
            }
        }
    }

    /// Whether jobs of `queue` wait now or asked since the last reading; starts
    /// a new reading.
    pub fn demand(&mut self, queue: usize) -> bool {
        match self.windows.get_mut(queue) {
            Some(Some(cap)) => {
                let demand = cap.waiting > 0 || cap.asked;
                cap.asked = false;
                demand
            }
            _ => false,
        }
    }

    /// Calls of `queue` counted in the window ending at tick `now`, if capped.
    pub fn in_window(&mut self, queue: usize, now: u64) -> Option<u64> {
        match self.windows.get_mut(queue) {
            Some(Some(cap)) => Some(cap.window.in_window(now)),
            _ => None,
        }
    }
}

/// A job of a capped queue waiting at the limiter ([`Limiter::wanting`]).
pub(super) struct Wanting<'a> {
    limiter: &'a Limiter,
    queue: Option<usize>,
}

impl Drop for Wanting<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.queue {
            self.limiter.lock_sends().caps.wait(queue, false);
        }
    }
}

/// The later of two verdicts (a call needs both): now, then the later tick, then never.
pub(super) fn later(a: Verdict, b: Verdict) -> Verdict {
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Whether the queue's cap is what keeps a call waiting: its verdict comes
/// strictly later than the budget's (a closed budget binds every queue alike).
pub(super) fn binding(queue: Verdict, budget: Verdict) -> bool {
    rank(queue) > rank(budget)
}

fn rank(verdict: Verdict) -> (u8, u64) {
    match verdict {
        Verdict::Now => (0, 0),
        Verdict::At(tick) => (1, tick),
        Verdict::Never => (2, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(1);

    #[test]
    fn a_capped_queue_is_closed_until_allowed_and_counts_only_its_own_calls() {
        let mut caps = QueueCaps::default();
        caps.install(1, Duration::from_secs(1), TICK);
        assert!(caps.is_capped(1) && !caps.is_capped(0) && !caps.is_capped(5));
        assert_eq!(caps.check(0, 0), Verdict::Now);
        assert_eq!(caps.check(1, 0), Verdict::Never);
        assert!(caps.set(1, 2) && !caps.set(0, 2));
        assert_eq!(caps.check(1, 0), Verdict::Now);
        caps.record(1, 0);
        caps.record(0, 0);
        assert_eq!(caps.in_window(1, 0), Some(1));
        assert_eq!(caps.in_window(0, 0), None);
    }

    #[test]
    fn demand_is_a_job_waiting_now_or_since_the_last_reading() {
        let mut caps = QueueCaps::default();
        caps.install(0, Duration::from_secs(1), TICK);
        assert!(!caps.demand(0));
        caps.wait(0, true);
        caps.wait(0, false);
        assert!(caps.demand(0), "it asked since the last reading");
        assert!(!caps.demand(0));
        caps.wait(0, true);
        assert!(caps.demand(0) && caps.demand(0), "still waiting");
        caps.wait(3, true);
        assert!(!caps.demand(3), "not capped");
    }

    #[test]
    fn the_later_verdict_wins_and_the_cap_binds_only_when_strictly_later() {
        let (now, soon, late) = (Verdict::Now, Verdict::At(5), Verdict::At(9));
        assert_eq!(later(now, soon), soon);
        assert_eq!(later(late, soon), late);
        assert_eq!(later(soon, Verdict::Never), Verdict::Never);
        assert!(binding(late, soon));
        assert!(!binding(soon, soon));
        assert!(!binding(soon, Verdict::Never));
        assert!(binding(Verdict::Never, now));
    }
}

#[cfg(test)]
#[path = "capped_tests.rs"]
mod limiter_tests;

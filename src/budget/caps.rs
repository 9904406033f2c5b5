//! `ID2META_QUEUE_CAPS` through the budget: per capped queue, the whole calls per
//! window this replica may make for that queue's jobs, claimed in
//! `worker_queue_claims` by the same heartbeat and the same rule as the budget
//! (migration 20261207000200; `docs/qps-budget.md`, "Caps", has the proof).
//!
//! This file holds what is pure: the capped queues as the heartbeat states them,
//! and [`CapStanding`], which applies each queue's allowance the way
//! [`super::standing`] applies the budget's (a raise was claimed before it comes,
//! a lowering is applied at once and reported by a heartbeat sent at once).

use std::time::Duration;

use super::Quota;
use crate::config::Config;
use crate::pipeline::limiter::Limiter;
use crate::pipeline::scheduler::BulkQueues;

/// A capped queue of this worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Capped {
    /// Its index among the worker's bulk queues (the scheduler's `Class::Bulk`).
    pub index: usize,
    pub queue: String,
    /// Its cap as whole calls per period (`calls_per_second` as configured in `qps`).
    pub quota: Quota,
    /// The window the limiter counts the queue's calls over: the cap's period
    /// plus the latency margin.
    pub window: Duration,
}

impl Capped {
    /// A queue `queue` (bulk index `index`) capped at `calls_per_second`, its
    /// window stretched by `spread` as the budget's is.
    pub fn new(index: usize, queue: &str, calls_per_second: f64, spread: Duration) -> Self {
        let quota = Quota::from_qps(calls_per_second);
        Self {
            index,
            queue: queue.to_string(),
            window: quota.period + spread,
            quota,
        }
    }
}

/// The worker's capped queues: `ID2META_QUEUE_CAPS` by bulk index.
pub fn of_config(config: &Config, queues: &BulkQueues, spread: Duration) -> Vec<Capped> {
    config
        .queue_caps
        .iter()
        .map(|cap| {
            let index = queues.index(Some(&cap.queue));
            Capped::new(index, &cap.queue, cap.calls_per_second, spread)
        })
        .collect()
}

/// What one heartbeat decided for one capped queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapAllotment {
    /// The cap in force, whole calls per this replica's period for it.
    pub cap: u32,
    /// This replica's share of it (0 on standby, leaving, or with more replicas
    /// than the cap has calls).
    pub target: u32,
    /// What it may use from now on: its share, as far as the others leave room.
    pub allowed: u32,
}

/// The allowances this replica applies to its capped queues, in the order of
/// its [`Capped`] list.
#[derive(Debug, Clone)]
pub struct CapStanding {
    applied: Vec<u32>,
    /// A lowering was applied and not yet reported.
    unreported: bool,
}

impl CapStanding {
    /// Every capped queue closed: nothing is claimed before the first heartbeat.
    pub fn new(queues: usize) -> Self {
        Self {
            applied: vec![0; queues],
            unreported: false,
        }
    }

    /// What the limiter allows each capped queue, to report in the next heartbeat.
    pub fn applied(&self) -> &[u32] {
        &self.applied
    }

    /// A lowering was applied: report it at once.
    pub fn wants_quick_beat(&self) -> bool {
        self.unreported
    }

    /// A heartbeat (that reported [`CapStanding::applied`]) answered `allowed`:
    /// the queues whose allowance changes, by position, with their new value.
    pub fn on_allotment(&mut self, allowed: &[u32]) -> Vec<(usize, u32)> {
        self.unreported = self
            .applied
            .iter()
            .zip(allowed)
            .any(|(applied, allowed)| allowed < applied);
        self.apply(|i| allowed.get(i).copied().unwrap_or(0))
    }

    /// The budget closed this replica (silence, standby, leaving): every capped
    /// queue closes with it and starts again from nothing, so a heartbeat never
    /// reports an allowance the others may have taken up meanwhile.
    pub fn close(&mut self) -> Vec<(usize, u32)> {
        let changed = self.apply(|_| 0);
        self.unreported |= !changed.is_empty();
        changed
    }

    fn apply(&mut self, new: impl Fn(usize) -> u32) -> Vec<(usize, u32)> {
        let mut changed = Vec::new();
        for (i, applied) in self.applied.iter_mut().enumerate() {
            let value = new(i);
            if value != *applied {
                *applied = value;
                changed.push((i, value));
            }
        }
        changed
    }
}

/// Whether this replica has jobs of each capped queue waiting for a call (or
/// made one since it was last asked): only then does it take a share of the cap.
pub(super) fn demand(limiter: &Limiter, caps: &[Capped]) -> Vec<bool> {
    caps.iter().map(|c| limiter.queue_demand(c.index)).collect()
}

/// The allowances of one heartbeat's answer, in order.
pub(super) fn allowed(allotments: &[CapAllotment]) -> Vec<u32> {
    allotments.iter().map(|a| a.allowed).collect()
}

/// Gives the limiter the capped queues' new allowances (`changes` by position).
pub(super) fn set_limiter(limiter: &Limiter, caps: &[Capped], changes: Vec<(usize, u32)>) {
    for (position, calls) in changes {
        if let Some(capped) = caps.get(position) {
            limiter.set_queue_allowance(capped.index, calls);
        }
    }
}

/// Logs each change of a capped queue's allowance (queue names are the
/// operator's, never a person's).
pub(super) fn show(caps: &[Capped], allotments: &[CapAllotment], changes: &[(usize, u32)]) {
    for (position, _) in changes {
        if let (Some(capped), Some(allotment)) = (caps.get(*position), allotments.get(*position)) {
            tracing::info!(
                queue = %capped.queue,
                cap = allotment.cap,
                target = allotment.target,
                allowed = allotment.allowed,
                "queue cap allowance set"
            );
        }
    }
}

/// The heartbeat's per-queue arguments (seven SQL arrays, in the function's
/// order): names quoted as SQL literals, the rest formatted numbers and booleans.
pub(super) fn arguments(caps: &[Capped], applied: &[u32], wants: &[bool]) -> String {
    let names: Vec<String> = caps.iter().map(|c| literal(&c.queue)).collect();
    let rates: Vec<String> = caps.iter().map(|c| format!("{:?}", c.quota.qps)).collect();
    let calls: Vec<String> = caps.iter().map(|c| c.quota.calls.to_string()).collect();
    let periods: Vec<String> = caps
        .iter()
        .map(|c| format!("{:?}", c.quota.period.as_secs_f64()))
        .collect();
    let applied: Vec<String> = (0..caps.len())
        .map(|i| {
            applied
                .get(i)
                .copied()
                .unwrap_or(0)
                .min(i32::MAX as u32)
                .to_string()
        })
        .collect();
    let windows: Vec<String> = caps
        .iter()
        .map(|c| format!("{:?}", c.window.as_secs_f64()))
        .collect();
    let wants: Vec<String> = (0..caps.len())
        .map(|i| wants.get(i).copied().unwrap_or(false).to_string())
        .collect();
    format!(
        "ARRAY[{}]::text[], ARRAY[{}]::float8[], ARRAY[{}]::integer[], ARRAY[{}]::float8[], \
         ARRAY[{}]::integer[], ARRAY[{}]::float8[], ARRAY[{}]::boolean[]",
        names.join(","),
        rates.join(","),
        calls.join(","),
        periods.join(","),
        applied.join(","),
        windows.join(","),
        wants.join(","),
    )
}

/// A string as a standard SQL literal (quotes doubled; the server runs with
/// `standard_conforming_strings`, so a backslash is an ordinary character).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raise_is_applied_as_it_comes_and_a_lowering_asks_for_a_quick_report() {
        let mut s = CapStanding::new(2);
        assert_eq!(s.on_allotment(&[4, 3]), vec![(0, 4), (1, 3)]);
        assert!(!s.wants_quick_beat());
        assert_eq!(s.on_allotment(&[4, 3]), vec![]);
        assert_eq!(s.on_allotment(&[2, 5]), vec![(0, 2), (1, 5)]);
        assert!(s.wants_quick_beat(), "queue 0 was lowered");
        assert_eq!(s.on_allotment(&[2, 5]), vec![]);
        assert!(!s.wants_quick_beat());
        assert_eq!(s.applied(), [2, 5]);
    }

    #[test]
    fn closing_with_the_budget_zeroes_every_queue_and_asks_for_a_report() {
        let mut s = CapStanding::new(2);
        s.on_allotment(&[4, 0]);
        assert_eq!(s.close(), vec![(0, 0)]);
        assert!(s.wants_quick_beat());
        // The next heartbeat reported the zeros.
        assert_eq!(s.on_allotment(&[0, 0]), vec![]);
        assert!(!s.wants_quick_beat());
        assert_eq!(s.close(), vec![]);
        assert!(!s.wants_quick_beat());
    }

    #[test]
    fn a_cap_under_one_call_per_second_counts_one_call_over_its_own_period() {
        let c = Capped::new(1, "q", 0.5, Duration::from_millis(5));
        assert_eq!((c.quota.calls, c.quota.period), (1, Duration::from_secs(2)));
        assert_eq!(c.window, Duration::from_millis(2005));
        let c = Capped::new(0, "q", 10.7, Duration::from_millis(5));
        assert_eq!(c.quota.calls, 10, "a fraction of a call is dropped");
    }

    #[test]
    fn the_arguments_are_seven_arrays_with_names_quoted() {
        let caps = [
            Capped::new(1, "a'b", 10.0, Duration::from_millis(5)),
            Capped::new(2, "c", 0.5, Duration::from_millis(5)),
        ];
        assert_eq!(
            arguments(&caps, &[3], &[true]),
            "ARRAY['a''b','c']::text[], ARRAY[10.0,0.5]::float8[], ARRAY[10,1]::integer[], \
             ARRAY[1.0,2.0]::float8[], ARRAY[3,0]::integer[], ARRAY[1.005,2.005]::float8[], \
             ARRAY[true,false]::boolean[]"
        );
    }
}

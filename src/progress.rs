//! A batch's progress from its counts: done, pending, rate and ETA.
//!
//! One computation for `id2meta batch` and the console's batch page. Pending and
//! ETA need the size `enqueue` recorded; the rate is settled jobs over the time from
//! the first job received to the last completed, so it reflects the workers' pace,
//! not when someone looked.

use std::time::Duration;

use crate::status::Status;
use crate::store::BatchCounts;

/// A batch's numbers, derived from [`BatchCounts`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchProgress {
    /// Every status, zeros included, in the contract's order.
    pub by_status: Vec<(Status, i64)>,
    pub done: i64,
    /// Billed calls (BizCode 1 or 2 from the upstream, not reused).
    pub billed: i64,
    pub enqueued: Option<i64>,
    pub pending: Option<i64>,
    /// Settled jobs per second, when at least a moment has passed.
    pub rate: Option<f64>,
    pub eta: Option<Duration>,
}

impl BatchProgress {
    pub fn from_counts(counts: &BatchCounts) -> BatchProgress {
        let by_status: Vec<(Status, i64)> = Status::ALL
            .iter()
            .map(|status| {
                let n = counts
                    .by_status
                    .iter()
                    .find(|(s, _)| s == status.as_str())
                    .map_or(0, |(_, n)| *n);
                (*status, n)
            })
            .collect();
        let done = counts.total();
        // A batch enqueued twice, or jobs stored before enqueue recorded them,
        // can make done exceed enqueued: nothing is pending then.
        let pending = counts.enqueued.map(|enqueued| (enqueued - done).max(0));
        let rate = match (counts.first_received, counts.last_completed) {
            (Some(first), Some(last)) => {
                let seconds = (last - first).num_milliseconds() as f64 / 1000.0;
                (seconds > 0.0).then(|| done as f64 / seconds)
            }
            _ => None,
        };
        let eta = match (pending, rate) {
            (Some(0), _) => Some(Duration::ZERO),
            (Some(pending), Some(rate)) => Some(Duration::from_secs_f64(pending as f64 / rate)),
            _ => None,
        };
        BatchProgress {
            by_status,
            done,
            billed: counts.billed,
            enqueued: counts.enqueued,
            pending,
            rate,
            eta,
        }
    }

    /// Known to be finished: every enqueued job is settled.
    pub fn is_finished(&self) -> bool {
        self.pending == Some(0)
    }
}

/// `1h02m03s`, `4m05s`, `6s`.
pub fn human(duration: Duration) -> String {
    let s = duration.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, sec) => format!("{h}h{min:02}m{sec:02}s"),
    }
}

//! The weighted fair scheduler in front of the limiter: among the jobs waiting
//! for this replica's next free call, whose goes first.
//!
//! Interactive waiters always come first (the lane's promise). Among bulk
//! waiters the queues of `ID2META_QUEUE_WEIGHTS` share the calls by weight
//! ([`stride`]: start-time fair queuing), counting only queues that have a job
//! waiting, so the split is work-conserving: a queue with nothing waiting leaves
//! its share to the others at the next call, not after a timeout.
//!
//! Why a per-replica split is a fleet-wide split: each replica's calls are
//! bounded by its share of the budget (see [`crate::budget`]), and each serves
//! its share by the same weights. Summed over the replicas, the fleet's calls
//! split by the weights too, provided every replica has waiters of every
//! backlogged queue. The consumer gives each bulk queue its own prefetch of
//! `ID2META_CONCURRENCY` on every replica (`pipeline::consumer`), and RabbitMQ
//! refills a consumer's prefetch as it acknowledges, so while a queue has a
//! backlog every replica holds jobs of it. When a queue's backlog is down to
//! fewer jobs than the fleet's prefetch, some replicas run out of its jobs first:
//! that queue is then draining, not backlogged, and the fair share only matters
//! while backlogs exist. `tests/queues.rs` measures the split across three
//! replicas; `docs/queues.md` says it for operators.
//!
//! This room decides order only; the limiter ([`crate::pipeline::limiter`])
//! counts the calls, and the budget sets how many.

mod deferral;
mod stride;

pub use deferral::{Deferral, Deferred};
pub use stride::Stride;

use crate::job::Priority;

/// Who waits at the limiter: the interactive lane, or a bulk queue by its
/// index in the worker's bulk queues (the order of `ID2META_QUEUE_WEIGHTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Interactive,
    Bulk(usize),
    /// A job of bulk queue `i` whose body asks for the interactive priority:
    /// served as interactive, unless its queue is capped (a cap counts every
    /// call of its queue, so there it waits as a bulk job of that queue).
    Urgent(usize),
}

impl Class {
    /// The class of a job: interactive by its priority (the lane, or the body's
    /// field on a bulk queue), else its bulk queue. `bulk_queue` out of range
    /// (see [`BulkQueues::index`]): the interactive lane.
    pub fn of(priority: Priority, bulk_queue: usize) -> Self {
        match priority {
            Priority::Interactive => Self::Urgent(bulk_queue),
            Priority::Bulk => Self::Bulk(bulk_queue),
        }
    }

    /// Served before every bulk queue.
    pub fn is_interactive(self) -> bool {
        matches!(self, Self::Interactive | Self::Urgent(_))
    }
}

/// The bulk queues a worker consumes and their weights, in order.
#[derive(Debug, Clone)]
pub struct BulkQueues {
    names: Vec<String>,
    weights: Vec<u32>,
}

impl BulkQueues {
    pub fn new(queues: impl IntoIterator<Item = (String, u32)>) -> Self {
        let (names, weights) = queues.into_iter().unzip();
        Self { names, weights }
    }

    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(
            config
                .bulk_queues()
                .into_iter()
                .map(|w| (w.queue, w.weight)),
        )
    }

    /// The index of `queue`; a queue not among them (a job not consumed from a
    /// bulk queue: the interactive lane) is one past the last, which no cap
    /// applies to and the limiter serves as the first queue.
    pub fn index(&self, queue: Option<&str>) -> usize {
        queue
            .and_then(|q| self.names.iter().position(|n| n == q))
            .unwrap_or(self.names.len())
    }

    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Each queue's share of the calls while every queue has jobs waiting.
    pub fn shares(&self) -> Vec<f64> {
        let total: u32 = self.weights.iter().sum();
        self.weights
            .iter()
            .map(|w| f64::from(*w) / f64::from(total.max(1)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_interactive_by_its_priority_else_of_its_bulk_queue() {
        let queues = BulkQueues::new([("a".to_string(), 3), ("b".to_string(), 1)]);
        assert_eq!(queues.index(Some("b")), 1);
        assert_eq!(queues.index(Some("a.interactive")), 2);
        assert_eq!(queues.index(None), 2);
        assert_eq!(Class::of(Priority::Bulk, 1), Class::Bulk(1));
        assert_eq!(Class::of(Priority::Interactive, 1), Class::Urgent(1));
        assert!(Class::Urgent(1).is_interactive() && Class::Interactive.is_interactive());
        assert!(!Class::Bulk(0).is_interactive());
        assert_eq!(queues.shares(), vec![0.75, 0.25]);
    }
}

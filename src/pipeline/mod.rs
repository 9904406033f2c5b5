//! The product: one job from delivery to acknowledgement.
//!
//! - [`consumer`]: the supervised consume loop; the only place that acks, nacks
//!   or dead-letters, from the [`Disposition`] the processor returns.
//! - [`processor`]: parse, validate, claim, store, publish; `attempts`: pace, call,
//!   classify, retry.
//! - [`cancellations`]: the cancelled batches, refreshed from PostgreSQL.
//! - [`account`]: the pause when the upstream refuses the account, and its probe.
//! - [`limiter`]: the local `governor` pacer; [`retry`]: the backoff policy.

pub mod account;
mod attempts;
pub mod cancellations;
pub mod consumer;
pub mod limiter;
pub mod processor;
pub mod retry;
mod settle;

pub use processor::Processor;

/// What must happen to a delivery; decided by the processor, applied by the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Settled (stored and completion published): acknowledge.
    Ack,
    /// Not settled, not the job's fault (account refused, shutting down, broker trouble):
    /// return it to the queue for a later delivery.
    Requeue,
    /// Not a job, or a job_id reused for another identity: to the dead-letter queue.
    DeadLetter(String),
}

//! The product: one job from delivery to acknowledgement.
//!
//! - [`consumer`]: the supervised consume loop; the only place that acks, nacks
//!   or dead-letters, from the [`Disposition`] the processor returns.
//! - [`acks`]: how one channel's acknowledgements are sent (multiple acks over
//!   contiguous runs), never which.
//! - [`processor`]: parse, validate, claim, store, publish; `attempts`: classify
//!   and retry; `call`: one call (a connection, then a token, then the request).
//! - [`cancellations`]: the cancelled batches, refreshed from PostgreSQL.
//! - [`account`]: the pause when the upstream refuses the account or the environment,
//!   and its probe; [`probe_delay`]: how long the probe waits, across pauses.
//! - [`limiter`]: the local sliding-window pacer, interactive waiters first;
//!   [`scheduler`]: the order of bulk queues at it, by weight;
//!   [`retry`]: the backoff policy.

pub mod account;
pub mod acks;
mod attempts;
mod call;
pub mod cancellations;
pub mod consumer;
pub mod limiter;
mod probation;
pub mod probe_delay;
pub mod processor;
pub mod retry;
mod reuse;
pub mod scheduler;
mod settle;

pub use processor::Processor;

/// What must happen to a delivery; decided by the processor, applied by the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Settled (stored and completion published): acknowledge.
    Ack,
    /// Not settled, not the job's fault (shutting down, broker or database trouble):
    /// return it to the queue for a later delivery (this spends one of its deliveries).
    Requeue,
    /// Not settled because an account or environment error paused the worker: put it
    /// back in its queue unchanged without spending a delivery (republished with a
    /// confirm, then acknowledged), so a long pause never dead-letters a valid job.
    Return,
    /// Not a job, or a job_id reused for another identity: to the dead-letter queue.
    DeadLetter(String),
}

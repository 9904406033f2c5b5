//! RabbitMQ: the topology, connections, the completion and dead-letter publisher.
//!
//! Consumption itself (prefetch, ack/nack) lives in [`crate::pipeline::consumer`],
//! the one place that turns a job's fate into an acknowledgement.

mod completion;
pub mod dead_letters;
mod publisher;
mod topology;

pub use completion::Completion;
pub use publisher::{DeadLetterSealing, Publisher};
pub use topology::{declare, declare_job_queue, job_queue_arguments, DeadLetterRoute, Topology};

use anyhow::Context;
use lapin::{Connection, ConnectionProperties};

/// The header that says why a message was dead-lettered by the worker.
pub const REASON_HEADER: &str = "x-id2meta-reason";

/// Opens one connection. Recovery is supervised by the caller (see the consumer):
/// lapin's own auto-recovery is young and does not re-apply the prefetch.
pub async fn connect(amqp_url: &str, name: &str) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(amqp_url, properties)
        .await
        .context("connecting to RabbitMQ")
}

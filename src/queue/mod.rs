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
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

/// The header that says why a message was dead-lettered by the worker.
pub const REASON_HEADER: &str = "x-id2meta-reason";

/// The largest AMQP frame asked for, unless `AMQP_URL` names one (`?frame_max=`).
///
/// Why not the broker's 128 KiB: lapin keeps a send and a receive ring of 32
/// frames per connection, zeroed and filled as traffic passes, so 128 KiB frames
/// cost 8 MiB per connection, 16 MiB for the worker's two: half its resident memory
/// (docs/benchmarks.md). At 32 KiB they cost 2 MiB per connection. Bodies larger
/// than a frame are split (a job is at most 16 KiB, a sealed letter a little more);
/// only a message's properties must fit one frame, and 32 KiB of headers is far
/// beyond what a job or a dead letter carries.
pub const FRAME_MAX: u32 = 32 * 1024;

/// Opens one connection. Recovery is supervised by the caller (see the consumer):
/// lapin's own auto-recovery is young and does not re-apply the prefetch.
pub async fn connect(amqp_url: &str, name: &str) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect_uri(uri_with_frame_max(amqp_url)?, properties)
        .await
        .context("connecting to RabbitMQ")
}

/// `amqp_url` parsed, asking for [`FRAME_MAX`] unless it names a `frame_max` itself.
fn uri_with_frame_max(amqp_url: &str) -> anyhow::Result<AMQPUri> {
    // The parser's error may quote the URL, password included: not passed on.
    let mut uri: AMQPUri = amqp_url
        .parse()
        .map_err(|_| anyhow::anyhow!("AMQP_URL is not an AMQP URI"))?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_asks_for_small_frames_unless_the_url_names_a_size() {
        let uri = uri_with_frame_max("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(uri.query.frame_max, Some(FRAME_MAX));
        let uri = uri_with_frame_max("amqp://127.0.0.1:5672/%2f?frame_max=131072").unwrap();
        assert_eq!(uri.query.frame_max, Some(131_072));
    }

    #[test]
    fn an_unparsable_url_is_an_error_that_does_not_quote_it() {
        let error = uri_with_frame_max("amqp://user:hunter2@[bad").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}

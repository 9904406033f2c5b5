//! RabbitMQ: the topology, connections, the completion and dead-letter publisher.
//!
//! Consumption itself (prefetch, ack/nack) lives in [`crate::pipeline::consumer`],
//! the one place that turns a job's fate into an acknowledgement.

mod completion;
pub mod dead_letters;
mod frames;
mod publisher;
mod topology;

pub use completion::Completion;
pub use frames::{is_frame_too_large, Frames, FRAME_MAX, MIN_FRAME_MAX, WIDE_FRAME_MAX};
pub use publisher::{DeadLetterSealing, Publisher};
pub use topology::{declare, declare_job_queue, job_queue_arguments, DeadLetterRoute, Topology};

use anyhow::Context;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

/// The header that says why a message was dead-lettered by the worker.
pub const REASON_HEADER: &str = "x-id2meta-reason";

/// Opens one connection with [`FRAME_MAX`] frames. Recovery is supervised by the
/// caller (see the consumer): lapin's own auto-recovery is young and does not
/// re-apply the prefetch.
pub async fn connect(amqp_url: &str, name: &str) -> anyhow::Result<Connection> {
    connect_with(amqp_url, name, Frames::Narrow).await
}

/// Opens one connection asking for `frames` (see [`Frames`]).
pub async fn connect_with(
    amqp_url: &str,
    name: &str,
    frames: Frames,
) -> anyhow::Result<Connection> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect_uri(uri_with_frame_max(amqp_url, frames)?, properties)
        .await
        .context("connecting to RabbitMQ")
}

/// `amqp_url` parsed, asking for `frames` unless it names a `frame_max` itself,
/// and never for less than [`MIN_FRAME_MAX`] (RabbitMQ 4.1 would refuse it).
fn uri_with_frame_max(amqp_url: &str, frames: Frames) -> anyhow::Result<AMQPUri> {
    // The parser's error may quote the URL, password included: not passed on.
    let mut uri: AMQPUri = amqp_url
        .parse()
        .map_err(|_| anyhow::anyhow!("AMQP_URL is not an AMQP URI"))?;
    let asked = uri.query.frame_max.get_or_insert(frames.frame_max());
    // 0 asks for no limit, which is not below the minimum.
    if *asked != 0 && *asked < MIN_FRAME_MAX {
        *asked = MIN_FRAME_MAX;
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_asks_for_small_frames_unless_the_url_names_a_size() {
        let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
        let uri = uri_with_frame_max(url, Frames::Narrow).unwrap();
        assert_eq!(uri.query.frame_max, Some(FRAME_MAX));
        let uri = uri_with_frame_max(url, Frames::Wide).unwrap();
        assert_eq!(uri.query.frame_max, Some(WIDE_FRAME_MAX));
        let uri =
            uri_with_frame_max("amqp://127.0.0.1:5672/%2f?frame_max=65536", Frames::Wide).unwrap();
        assert_eq!(uri.query.frame_max, Some(65_536));
        let uri = uri_with_frame_max("amqp://127.0.0.1:5672/%2f?frame_max=131072", Frames::Narrow)
            .unwrap();
        assert_eq!(uri.query.frame_max, Some(131_072));
    }

    #[test]
    fn a_url_asking_for_frames_below_what_rabbitmq_4_1_accepts_gets_the_minimum() {
        let uri =
            uri_with_frame_max("amqp://127.0.0.1:5672/%2f?frame_max=4096", Frames::Narrow).unwrap();
        assert_eq!(uri.query.frame_max, Some(MIN_FRAME_MAX));
        let uri =
            uri_with_frame_max("amqp://127.0.0.1:5672/%2f?frame_max=0", Frames::Narrow).unwrap();
        assert_eq!(uri.query.frame_max, Some(0), "0 is no limit");
    }

    #[test]
    fn an_unparsable_url_is_an_error_that_does_not_quote_it() {
        let error = uri_with_frame_max("amqp://user:hunter2@[bad", Frames::Narrow).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}

//! The AMQP frame size a connection asks for: small by default, wide once a
//! message arrived that did not fit.
//!
//! Why small: lapin keeps a send and a receive ring of 32 frames per
//! connection, zeroed and filled as traffic passes, so the broker's 128 KiB
//! frames cost 8 MiB per connection, 16 MiB for the worker's two: half its
//! resident memory (docs/benchmarks.md). At 8 KiB they cost 512 KiB per
//! connection (measured: 21.9 MiB peak at 32 KiB, 21.3 at 16, 20.4 at 8, bench
//! section 5 at concurrency 50). Bodies larger than a frame are split (a job is
//! at most 16 KiB, a sealed letter a little more); what must fit one frame is a
//! message's properties, a few hundred bytes for a job, a completion or a sealed
//! letter, and a few KiB for the tracing headers pipelines add.
//!
//! Why wide, sometimes: a message's properties (its headers) cannot be split, and
//! RabbitMQ delivers them in one frame whatever size was negotiated, while lapin
//! closes the connection on any frame over it. A publisher's connection may send
//! frames up to the broker's `frame_max` (128 KiB by default), so one job with
//! 10 KiB of headers would close the worker's connection at every delivery: the
//! replica would reconnect, with backoff, until the broker's delivery limit
//! dead-letters the job, and the intake (which has no delivery limit) would then
//! fail on it forever. So a connection that fails that way is replaced by one
//! asking for [`WIDE_FRAME_MAX`], and its owner stays wide: the memory is paid
//! only by a replica that met such a message, and nothing is wedged.

use lapin::protocol::{AMQPErrorKind, AMQPHardError};

/// The smallest `frame_max` a connection may ask for: RabbitMQ 4.1 raised its
/// pre-authentication frame size to 8192 bytes and refuses clients that ask for
/// less (docs/deploy.md, "RabbitMQ 4.x"). `0` (no limit) is not below it.
pub const MIN_FRAME_MAX: u32 = 8 * 1024;
/// Frames asked for by default, unless `AMQP_URL` names a `frame_max`: the
/// smallest 4.1 accepts.
pub const FRAME_MAX: u32 = MIN_FRAME_MAX;
/// Frames asked for after a message did not fit: RabbitMQ's default
/// `frame_max`, the largest frame a publisher can send it.
pub const WIDE_FRAME_MAX: u32 = 128 * 1024;

// Neither size may fall below what RabbitMQ 4.1 accepts.
const _: () = assert!(FRAME_MAX >= MIN_FRAME_MAX && WIDE_FRAME_MAX >= MIN_FRAME_MAX);

/// Which frame size a connection asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Frames {
    #[default]
    Narrow,
    Wide,
}

impl Frames {
    pub fn frame_max(self) -> u32 {
        match self {
            Frames::Narrow => FRAME_MAX,
            Frames::Wide => WIDE_FRAME_MAX,
        }
    }

    /// What the next connection asks for after a session ended with `error`;
    /// logs the change once.
    pub fn after(self, error: &anyhow::Error, connection: &str) -> Frames {
        if self == Frames::Narrow && is_frame_too_large(error) {
            tracing::warn!(
                connection,
                frame_max = WIDE_FRAME_MAX,
                "a message's properties did not fit a {} KiB frame; reconnecting with wide frames",
                FRAME_MAX / 1024
            );
            return Frames::Wide;
        }
        self
    }
}

/// Whether `error` is lapin closing a connection over a frame larger than negotiated.
pub fn is_frame_too_large(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let Some(lapin) = cause.downcast_ref::<lapin::Error>() else {
            return false;
        };
        match lapin.kind() {
            lapin::ErrorKind::ProtocolError(amqp) => {
                *amqp.kind() == AMQPErrorKind::Hard(AMQPHardError::FRAMEERROR)
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::protocol::AMQPError;

    fn protocol_error(kind: AMQPHardError) -> anyhow::Error {
        let amqp = AMQPError::new(kind.into(), "frame too large: 40000 bytes".into());
        anyhow::Error::new(lapin::Error::from(lapin::ErrorKind::ProtocolError(amqp)))
            .context("consuming")
    }

    #[test]
    fn a_frame_error_makes_the_next_connection_wide_and_it_stays_wide() {
        let frames = Frames::Narrow.after(&protocol_error(AMQPHardError::FRAMEERROR), "test");
        assert_eq!(frames, Frames::Wide);
        assert_eq!(frames.frame_max(), WIDE_FRAME_MAX);
        let other = anyhow::anyhow!("connection reset");
        assert_eq!(frames.after(&other, "test"), Frames::Wide);
    }

    #[test]
    fn any_other_error_keeps_frames_narrow() {
        for error in [
            protocol_error(AMQPHardError::UNEXPECTEDFRAME),
            anyhow::anyhow!("frame too large, but not from lapin"),
        ] {
            assert_eq!(Frames::Narrow.after(&error, "test"), Frames::Narrow);
        }
    }
}

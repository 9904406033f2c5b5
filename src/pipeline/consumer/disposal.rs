//! The disposal of a delivery: the one place a [`Disposition`] becomes an ack, a
//! requeue, a return to its queue or a dead letter. The consumer's tasks call it
//! when a job is decided, and the session when it hands back what was delivered
//! but not started; the frames themselves are coalesced per channel by [`Acks`].
//!
//! A return and a dead letter are publishes first and acks after their confirm:
//! if the publish fails, the delivery is requeued instead (not lost, at the price
//! of one delivery).

use lapin::message::Delivery;

use crate::pipeline::acks::Acks;
use crate::pipeline::Disposition;
use crate::queue::Publisher;

/// The only place a delivery is acknowledged, returned or dead-lettered.
pub(super) async fn apply(
    delivery: &Delivery,
    disposition: Disposition,
    publisher: &Publisher,
    queue: &str,
    acks: &Acks,
) {
    let tag = delivery.delivery_tag;
    match disposition {
        Disposition::Ack => acks.ack(tag),
        Disposition::Requeue => acks.requeue(tag),
        Disposition::Return => {
            match publisher
                .republish(queue, &delivery.data, &delivery.properties)
                .await
            {
                Ok(()) => {
                    metrics::counter!(crate::instrumentation::JOBS_RETURNED).increment(1);
                    acks.ack(tag)
                }
                Err(error) => {
                    // Not lost: requeued, at the price of one delivery.
                    tracing::warn!(error = %format!("{error:#}"), "returning a job failed; requeueing it");
                    acks.requeue(tag)
                }
            }
        }
        Disposition::DeadLetter(reason) => {
            // Sealed naming its own queue, which `replay` restores it to.
            match publisher
                .dead_letter_from(Some(queue), &delivery.data, &delivery.properties, &reason)
                .await
            {
                Ok(()) => {
                    metrics::counter!(crate::instrumentation::DEAD_LETTERED, "reason" => reason)
                        .increment(1);
                    acks.ack(tag)
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "dead-lettering failed; returning the message");
                    acks.requeue(tag)
                }
            }
        }
    }
}

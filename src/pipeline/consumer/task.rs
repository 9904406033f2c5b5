//! A job's task: what it needs from its session ([`Task`]) and the spawn that
//! runs one delivery through the processor and settles it, apart from the
//! session loop so the loop reads as connect, consume, stop.

use std::sync::Arc;

use lapin::message::Delivery;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::disposal::apply;
use crate::job::Priority;
use crate::pipeline::acks::Acks;
use crate::pipeline::{Disposition, Processor};
use crate::queue::Publisher;

/// What a job's task needs from its session.
pub(super) struct Task {
    pub(super) publisher: Publisher,
    /// The acknowledgements of the channel the delivery came on.
    pub(super) acks: Acks,
    /// The queue the delivery came from, where a pause puts it back.
    pub(super) queue: Arc<str>,
    /// The priority that queue imposes (`Some` for the interactive queue).
    pub(super) lane: Option<Priority>,
    /// Told when the job settled (the end of a probation).
    pub(super) settled: mpsc::UnboundedSender<()>,
}

impl Task {
    /// Runs one delivery as a job on the session's tracker, settles it on its
    /// channel, and tells the session when it settled.
    pub(super) fn spawn(self, tracker: &TaskTracker, processor: Processor, delivery: Delivery) {
        let task = self;
        metrics::gauge!(crate::instrumentation::IN_FLIGHT).increment(1.0);
        let span = crate::pipeline::processor::job_span(&task.queue);
        let job = async move {
            let message_id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_string());
            let disposition = processor
                .process(
                    &delivery.data,
                    message_id.as_deref(),
                    &task.queue,
                    task.lane,
                    &task.publisher,
                )
                .await;
            let settled = matches!(disposition, Disposition::Ack | Disposition::DeadLetter(_));
            apply(
                &delivery,
                disposition,
                &task.publisher,
                &task.queue,
                &task.acks,
            )
            .await;
            if settled {
                let _ = task.settled.send(());
            }
            metrics::gauge!(crate::instrumentation::IN_FLIGHT).decrement(1.0);
        };
        // The disposal too runs in the job's span: its warnings name the job.
        tracker.spawn(job.instrument(span));
    }
}

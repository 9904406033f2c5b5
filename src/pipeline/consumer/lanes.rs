//! The queues one session consumes, each a [`Lane`]: its own channel, prefetch,
//! acknowledgements and consumer. The bulk queues of `ID2META_QUEUE_WEIGHTS`
//! are lanes like the interactive one, so no queue's jobs can hold every
//! in-flight slot: a backlog of one queue fills its own prefetch and no more,
//! and every replica holds jobs of every queue that has some waiting, which is
//! what lets the limiter's scheduler share the calls by weight (see
//! `docs/queues.md`).

use std::sync::Arc;

use anyhow::Context;
use lapin::message::Delivery;
use lapin::Connection;

use crate::job::Priority;
use crate::pipeline::acks::Acks;
use crate::pipeline::probation::Subscription;

/// One consumed queue of a session.
pub(super) struct Lane {
    pub(super) name: Arc<str>,
    /// Delivery tags are per channel: each lane acknowledges on its own.
    pub(super) acks: Acks,
    pub(super) subscription: Subscription,
    /// The priority the queue imposes (`Some` for the interactive lane).
    pub(super) priority: Option<Priority>,
    pub(super) prefetch: u16,
}

impl Lane {
    /// Opens a channel of its own for `queue` and starts consuming at `prefetch`
    /// (1 on probation). A channel per lane: a per-consumer qos on a shared
    /// channel would give each its prefetch too, but acks with `multiple` are
    /// per channel, and a lane must not ack another's deliveries.
    pub(super) async fn open(
        connection: &Connection,
        queue: &str,
        prefetch: u16,
        priority: Option<Priority>,
        on_probation: bool,
    ) -> anyhow::Result<Self> {
        let channel = connection
            .create_channel()
            .await
            .with_context(|| format!("opening the channel of {queue}"))?;
        let acks = Acks::spawn(channel.clone(), prefetch);
        let subscription = Subscription::start(channel, queue, prefetch, on_probation).await?;
        Ok(Self {
            name: Arc::from(queue),
            acks,
            subscription,
            priority,
            prefetch,
        })
    }
}

/// The next delivery of any of `lanes`, starting the search at `*start` and
/// moving it on, so a busy queue listed first cannot keep the others' deliveries
/// waiting. Yields the lane's index; `None` in the item when the broker cancelled
/// that lane's consumer. Cancel-safe: no delivery is taken until it is returned.
pub(super) async fn next_of(
    lanes: &mut [Lane],
    start: &mut usize,
) -> (usize, Option<lapin::Result<Delivery>>) {
    if lanes.is_empty() {
        return std::future::pending().await;
    }
    let count = lanes.len();
    let first = *start % count;
    let mut pending: Vec<_> = lanes
        .iter_mut()
        .enumerate()
        .map(|(i, lane)| {
            Box::pin(async move {
                let next = lane.subscription.next().await;
                (i, next)
            })
        })
        .collect();
    pending.rotate_left(first);
    let ((index, next), _, _) = futures_util::future::select_all(pending).await;
    *start = index + 1;
    (index, next)
}

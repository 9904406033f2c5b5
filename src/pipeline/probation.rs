//! The consumers of one queue in a broker session (one [`Subscription`] per
//! lane: the jobs queue and `<jobs>.interactive`), and the probation after a pause.
//!
//! After a pause the worker resumes with ONE job before the rest: a probe that
//! passes says the upstream answers, not that a real call will be accepted, and a
//! full prefetch would hand every job of the backlog to a worker that may trip
//! again at once. So a session that starts on probation consumes at prefetch 1;
//! once a job settles without a pause, a second consumer is started at the full
//! prefetch and the first one is cancelled (what it already received still
//! arrives and is processed: the broker sends everything before its cancel-ok).
//!
//! RabbitMQ applies a `basic.qos` (global = false) only to consumers started after
//! it, which is why the upgrade is a new consumer rather than a new qos.

use anyhow::Context;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use std::time::Duration;

/// How long a cancelled consumer may take to hand over what it already received.
const LEFTOVER_WAIT: Duration = Duration::from_millis(200);

/// How long closing a consuming channel may wait for the broker's close-ok.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The session's consumers of the job queue.
pub(super) struct Subscription {
    channel: Channel,
    queue: String,
    prefetch: u16,
    current: lapin::Consumer,
    /// The probation consumer after the upgrade, until it has handed over the rest.
    leaving: Option<lapin::Consumer>,
    on_probation: bool,
}

/// What the next turn of the streams gave.
enum Next {
    Current(Option<lapin::Result<Delivery>>),
    Leaving(Option<lapin::Result<Delivery>>),
}

impl Subscription {
    /// Starts consuming `queue`: at prefetch 1 `on_probation`, else at `prefetch`.
    pub async fn start(
        channel: Channel,
        queue: &str,
        prefetch: u16,
        on_probation: bool,
    ) -> anyhow::Result<Self> {
        let current = consume(&channel, queue, if on_probation { 1 } else { prefetch }).await?;
        Ok(Self {
            channel,
            queue: queue.to_string(),
            prefetch,
            current,
            leaving: None,
            on_probation,
        })
    }

    /// The next delivery; `None` when the broker cancelled the consumer.
    pub async fn next(&mut self) -> Option<lapin::Result<Delivery>> {
        loop {
            let current = &mut self.current;
            let leaving = &mut self.leaving;
            let next = tokio::select! {
                delivery = current.next() => Next::Current(delivery),
                delivery = async {
                    match leaving.as_mut() {
                        Some(consumer) => consumer.next().await,
                        None => std::future::pending().await,
                    }
                } => Next::Leaving(delivery),
            };
            match next {
                Next::Current(delivery) => return delivery,
                Next::Leaving(Some(delivery)) => return Some(delivery),
                // The probation consumer has handed over everything.
                Next::Leaving(None) => self.leaving = None,
            }
        }
    }

    /// The broker cancelled the current consumer (`next` gave `None`): a consumer
    /// timeout on RabbitMQ 4.x, or the queue was deleted (the caller declares it
    /// again first). Consumes again on the same channel at the prefetch in force;
    /// what the cancelled consumer delivered is still being worked on and is
    /// acknowledged on this channel as before.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let prefetch = if self.on_probation { 1 } else { self.prefetch };
        self.current = consume(&self.channel, &self.queue, prefetch).await?;
        Ok(())
    }

    /// A job settled without a pause: the rest of the backlog may come at full prefetch.
    pub async fn end_probation(&mut self) -> anyhow::Result<()> {
        if !self.on_probation {
            return Ok(());
        }
        let full = consume(&self.channel, &self.queue, self.prefetch).await?;
        let probation = std::mem::replace(&mut self.current, full);
        cancel(&self.channel, &probation).await;
        self.leaving = Some(probation);
        self.on_probation = false;
        tracing::info!(
            prefetch = self.prefetch,
            "a job settled after the pause; full prefetch again"
        );
        Ok(())
    }

    /// Cancels every consumer and returns what they had received but not handed
    /// out. The channel stays open until the subscription is dropped: closing it
    /// would return the deliveries still being worked on (lapin closes a channel
    /// when its last handle goes), so drop it only after the jobs in flight ended.
    pub async fn stop(&mut self) -> Vec<Delivery> {
        cancel(&self.channel, &self.current).await;
        if let Some(leaving) = &self.leaving {
            cancel(&self.channel, leaving).await;
        }
        let mut leftovers = Vec::new();
        for consumer in std::iter::once(&mut self.current).chain(self.leaving.as_mut()) {
            while let Ok(Some(Ok(delivery))) =
                tokio::time::timeout(LEFTOVER_WAIT, consumer.next()).await
            {
                leftovers.push(delivery);
            }
        }
        leftovers
    }

    /// Closes the channel and waits for the broker's close-ok (what was delivered and
    /// not acknowledged goes back to the queue). Call it once the jobs in flight
    /// ended, before the connection closes: a channel left to close on its last
    /// handle's drop raced the connection's close, and lapin logged every SIGTERM
    /// and standby as an ERROR ("Connection error: invalid channel state").
    /// Bounded: a broker that stops answering must not hold the next session (a
    /// shutdown has its own bound around the whole consumer).
    pub async fn close(self) {
        let close = self.channel.close(200, "bye".into());
        match tokio::time::timeout(CLOSE_WAIT, close).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "closing a consuming channel"),
            Err(_) => tracing::debug!("closing a consuming channel timed out"),
        }
    }
}

/// A consumer at `prefetch`: the broker never hands it more than it works on, so
/// the rest of the backlog stays available to other replicas. Quorum queues
/// reject global QoS, so the limit is per consumer.
async fn consume(channel: &Channel, queue: &str, prefetch: u16) -> anyhow::Result<lapin::Consumer> {
    channel
        .basic_qos(prefetch, BasicQosOptions { global: false })
        .await
        .context("setting the prefetch")?;
    channel
        .basic_consume(
            queue.into(),
            "".into(),
            // Manual acks: a job is acknowledged only once its result is stored and published.
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("starting the consumer")
}

async fn cancel(channel: &Channel, consumer: &lapin::Consumer) {
    if let Err(error) = channel
        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await
    {
        tracing::debug!(%error, "cancelling a consumer");
    }
}

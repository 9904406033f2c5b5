//! The supervised consume loop: connect, declare, consume with a prefetch equal
//! to the jobs in flight, one task per delivery, and, the one place that does,
//! turn each [`Disposition`] into ack, requeue or dead-letter.
//!
//! The connection is supervised here rather than by lapin's auto-recovery
//! (young, and it does not re-apply the prefetch): any channel or connection
//! error ends the session, unacked deliveries return to the queue with the
//! connection, and a new session re-declares everything after a backoff.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::account::AccountGate;
use super::{Disposition, Processor};
use crate::health::Health;
use crate::queue::{self, DeadLetterSealing, Publisher, Topology};
use crate::upstream::Client;

/// The consumer's settings and collaborators.
pub struct Consumer {
    pub amqp_url: String,
    pub topology: Topology,
    pub concurrency: u16,
    pub processor: Processor,
    pub client: Client,
    pub gate: AccountGate,
    pub health: Arc<Health>,
    /// Stop taking jobs; let the ones in flight finish or return.
    pub shutdown: CancellationToken,
    pub shutdown_deadline: Duration,
    /// Seals what the consumer dead-letters (no plaintext in `<jobs>.dead`).
    pub dead_letters: Arc<DeadLetterSealing>,
}

/// How a session with the broker ended.
enum SessionEnd {
    Shutdown,
    AccountRefused,
}

impl Consumer {
    /// Runs until shutdown, then waits (up to the deadline) for jobs in flight.
    pub async fn run(self) -> anyhow::Result<()> {
        let tracker = TaskTracker::new();
        let mut delay = Duration::from_millis(500);
        loop {
            match self.session(&tracker).await {
                // The session drained its jobs before it ended.
                Ok(SessionEnd::Shutdown) => return Ok(()),
                Ok(SessionEnd::AccountRefused) => {
                    self.gate
                        .probe_until_accepted(&self.client, &self.shutdown)
                        .await;
                }
                Err(error) => {
                    self.health.set_broker(false);
                    tracing::warn!(error = %format!("{error:#}"), retry_in = ?delay, "broker session ended; reconnecting");
                    if !self.health.idle(delay, &self.shutdown).await {
                        break;
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
            if self.shutdown.is_cancelled() {
                break;
            }
            delay = Duration::from_millis(500);
        }
        // Shutdown came while no session was open: drain the jobs of the lost one.
        self.drain(&tracker).await;
        Ok(())
    }

    /// Waits for the jobs in flight to finish or return, up to the shutdown deadline.
    async fn drain(&self, tracker: &TaskTracker) {
        tracker.close();
        if tokio::time::timeout(self.shutdown_deadline, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = tracker.len(),
                "shutdown deadline passed; unfinished jobs return to the queue"
            );
        }
    }

    /// One connection: consume until shutdown, an account refusal or a broker error.
    async fn session(&self, tracker: &TaskTracker) -> anyhow::Result<SessionEnd> {
        let connection = queue::connect(&self.amqp_url, "id2meta worker").await?;
        let channel = connection
            .create_channel()
            .await
            .context("opening the consuming channel")?;
        // Prefetch = jobs in flight: the broker never hands this replica more than it
        // works on, so the rest of the backlog stays available to other replicas.
        // Quorum queues reject global QoS, so it is per consumer.
        channel
            .basic_qos(self.concurrency, BasicQosOptions { global: false })
            .await
            .context("setting the prefetch")?;
        queue::declare(&connection, &self.topology).await?;
        let publisher = Publisher::open(
            &connection,
            &self.topology.results_exchange,
            &self.topology.dead_letter_queue,
        )
        .await?
        .sealing(self.dead_letters.clone());
        let mut deliveries = channel
            .basic_consume(
                self.topology.jobs_queue.as_str().into(),
                "".into(),
                // Manual acks: a job is acknowledged only once its result is stored and published.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("starting the consumer")?;
        self.health.set_broker(true);
        tracing::info!(queue = %self.topology.jobs_queue, prefetch = self.concurrency, "consuming");
        let mut refused = self.gate.subscribe();
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        let end = loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break SessionEnd::Shutdown,
                changed = refused.changed() => {
                    if changed.is_ok() && *refused.borrow() {
                        break SessionEnd::AccountRefused;
                    }
                }
                _ = beat.tick() => {
                    self.health.beat();
                    if !connection.status().connected() {
                        return Err(anyhow!("the broker connection closed"));
                    }
                }
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => self.spawn(tracker, delivery, publisher.clone()),
                    Some(Err(error)) => return Err(error).context("consuming"),
                    None => return Err(anyhow!("the broker cancelled the consumer")),
                },
            }
        };
        // Stop the flow, and hand back what was delivered but not started.
        let tag = deliveries.tag();
        if let Err(error) = channel
            .basic_cancel(tag, BasicCancelOptions::default())
            .await
        {
            tracing::debug!(%error, "cancelling the consumer");
        }
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(Duration::from_millis(200), deliveries.next()).await
        {
            let _ = delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await;
        }
        // Jobs in flight keep using this connection to publish and acknowledge.
        if matches!(end, SessionEnd::Shutdown) {
            self.drain(tracker).await;
        } else {
            // `TaskTracker::wait` only returns once the tracker is closed (and empty):
            // without the close this waited forever and the worker never probed again.
            // Reopened for the next session's jobs.
            tracker.close();
            tracker.wait().await;
            tracker.reopen();
        }
        // Closing after channels were dropped can fail harmlessly ("invalid channel state").
        let _ = connection.close(200, "bye".into()).await;
        Ok(end)
    }

    fn spawn(&self, tracker: &TaskTracker, delivery: Delivery, publisher: Publisher) {
        let processor = self.processor.clone();
        metrics::gauge!(crate::instrumentation::IN_FLIGHT).increment(1.0);
        tracker.spawn(async move {
            let message_id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_string());
            let disposition = processor
                .process(&delivery.data, message_id.as_deref(), &publisher)
                .await;
            apply(&delivery, disposition, &publisher).await;
            metrics::gauge!(crate::instrumentation::IN_FLIGHT).decrement(1.0);
        });
    }
}

/// The only place a delivery is acknowledged, returned or dead-lettered.
async fn apply(delivery: &Delivery, disposition: Disposition, publisher: &Publisher) {
    let requeue = BasicNackOptions {
        requeue: true,
        multiple: false,
    };
    let result = match disposition {
        Disposition::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Disposition::Requeue => delivery.acker.nack(requeue).await,
        Disposition::DeadLetter(reason) => {
            match publisher
                .dead_letter(&delivery.data, &delivery.properties, &reason)
                .await
            {
                Ok(()) => {
                    metrics::counter!(crate::instrumentation::DEAD_LETTERED, "reason" => reason)
                        .increment(1);
                    delivery.acker.ack(BasicAckOptions::default()).await
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "dead-lettering failed; returning the message");
                    delivery.acker.nack(requeue).await
                }
            }
        }
    };
    if let Err(error) = result {
        // The channel is gone: the broker has already returned the message to the queue.
        tracing::debug!(%error, "acknowledgement not delivered");
    }
}

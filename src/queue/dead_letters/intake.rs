//! The drain-and-seal task: nothing the broker dead-letters rests in plaintext.
//!
//! It consumes `<jobs>.dead.intake` (where today's job queues dead-letter to,
//! e.g. at the delivery limit) and moves each message, sealed, to
//! `<jobs>.dead`: publish with a confirm, then acknowledge, so a crash between
//! the two leaves a duplicate sealed letter, never a lost one.
//!
//! On a broker whose jobs queue was declared by the first release (it
//! dead-letters straight to `<jobs>.dead`, and its arguments cannot change),
//! it also sweeps `<jobs>.dead` every `sweep_every`: any letter there that does
//! not open with this worker's key is sealed in place (republished sealed, then
//! acknowledged), whatever its headers claim (a producer can publish a job with
//! `x-id2meta-sealed`); letters that open are held and returned untouched.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::letter::Sealer;
use super::scan;
use crate::queue::{self, DeadLetterRoute, Frames, Publisher, Topology};

/// Messages in flight from the intake: sealing is quick, the confirm is the wait.
const PREFETCH: u16 = 32;
/// A sweep runs at least this often (in sweep periods) even if the queue's
/// length did not change: an arrival and an expiry can cancel out.
const FORCED_SWEEP_EVERY: u32 = 10;

/// The intake task's settings.
pub struct Intake {
    pub amqp_url: String,
    pub topology: Topology,
    pub sealer: Arc<Sealer>,
    /// How often `<jobs>.dead` is swept on a first-release topology.
    pub sweep_every: Duration,
    pub shutdown: CancellationToken,
}

impl Intake {
    /// Runs until `shutdown`, reconnecting after broker errors.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            // Wide after a letter whose properties did not fit (`queue::Frames`):
            // the intake has no delivery limit, so it must be able to read anything.
            let mut frames = Frames::Narrow;
            while !self.shutdown.is_cancelled() {
                match self.session(frames).await {
                    Ok(()) => break,
                    Err(error) => {
                        frames = frames.after(&error, "dead-letter intake");
                        tracing::warn!(error = %format!("{error:#}"), retry_in = ?delay, "dead-letter intake stopped; reconnecting");
                        tokio::select! {
                            _ = self.shutdown.cancelled() => break,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })
    }

    async fn session(&self, frames: Frames) -> anyhow::Result<()> {
        let connection =
            queue::connect_with(&self.amqp_url, "id2meta dead-letter intake", frames).await?;
        let route = queue::declare(&connection, &self.topology).await?;
        let publisher = Publisher::open(
            &connection,
            &self.topology.results_exchange,
            &self.topology.dead_letter_queue,
        )
        .await?;
        let channel = connection
            .create_channel()
            .await
            .context("opening the intake channel")?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions { global: false })
            .await
            .context("setting the intake prefetch")?;
        let mut deliveries = channel
            .basic_consume(
                self.topology.dead_letter_intake_queue.as_str().into(),
                "".into(),
                // Manual acks: a message leaves the intake only once its sealed copy is confirmed.
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .context("consuming the dead-letter intake")?;
        if route == DeadLetterRoute::Legacy {
            tracing::warn!(
                queue = %self.topology.jobs_queue,
                "the jobs queue dead-letters straight to the dead-letter queue (first-release arguments); sweeping it"
            );
        }
        let mut sweep = Sweep::default();
        let mut tick = tokio::time::interval(self.sweep_every);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick(), if route == DeadLetterRoute::Legacy => {
                    sweep.run(&connection, &self.topology, &self.sealer, &publisher).await?;
                }
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => self.seal_one(&delivery, &publisher).await?,
                    Some(Err(error)) => return Err(error).context("consuming the intake"),
                    None => return Err(anyhow!("the broker cancelled the intake consumer")),
                },
            }
        }
        let _ = connection.close(200, "bye".into()).await;
        Ok(())
    }

    async fn seal_one(&self, delivery: &Delivery, publisher: &Publisher) -> anyhow::Result<()> {
        let sealed = self.sealer.seal_found(
            &delivery.data,
            &delivery.properties,
            &self.topology.jobs_queue,
        );
        let reason = reason_of(&sealed.properties);
        if let Err(error) = publisher.publish_dead_letter(sealed).await {
            let _ = delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await;
            return Err(error);
        }
        metrics::counter!(crate::instrumentation::DEAD_LETTERED, "reason" => reason).increment(1);
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .context("acknowledging a sealed intake message")
    }
}

fn reason_of(properties: &lapin::BasicProperties) -> String {
    properties
        .headers()
        .as_ref()
        .and_then(|h| super::headers::text(h, super::headers::REASON))
        .unwrap_or_default()
}

/// The sweep of a first-release `<jobs>.dead`, skipped while its length stays put.
#[derive(Default)]
struct Sweep {
    length_after_last: Option<u32>,
    skipped: u32,
}

impl Sweep {
    async fn run(
        &mut self,
        connection: &Connection,
        topology: &Topology,
        sealer: &Sealer,
        publisher: &Publisher,
    ) -> anyhow::Result<()> {
        let queue = &topology.dead_letter_queue;
        let length = scan::ready(connection, queue).await?;
        if Some(length) == self.length_after_last && self.skipped < FORCED_SWEEP_EVERY {
            self.skipped += 1;
            return Ok(());
        }
        self.skipped = 0;
        let held = scan::hold(connection, queue, scan::MAX_SCAN).await?;
        let mut sealed_now = 0usize;
        let unsealed = held
            .deliveries
            .iter()
            .filter(|d| !sealer.opens(&d.data, &d.properties));
        for delivery in unsealed {
            let sealed =
                sealer.seal_found(&delivery.data, &delivery.properties, &topology.jobs_queue);
            publisher.publish_dead_letter(sealed).await?;
            held.remove(delivery).await?;
            sealed_now += 1;
        }
        held.release(connection).await;
        if sealed_now > 0 {
            tracing::info!(queue = %queue, sealed = sealed_now, "sealed plaintext dead letters in place");
        }
        self.length_after_last = Some(scan::ready(connection, queue).await?);
        Ok(())
    }
}

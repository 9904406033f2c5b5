//! Publishing with publisher confirms: completions, dead letters and (for
//! `enqueue`) jobs. Each publish waits for its own confirm, but many tasks
//! publish at once on one channel, so confirms are pipelined, not serial
//! (serial waiting caps near 1.1-1.5k msg/s here; pipelined 17-21k).

use std::sync::Arc;

use anyhow::{bail, Context};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use super::dead_letters::{Sealed, Sealer};
use super::Completion;
use crate::store::ResultRow;

/// The header a quorum queue adds to a redelivered message.
const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// A confirm-mode channel; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
    results_exchange: String,
    dead_letter_queue: String,
    /// Seals dead letters; without it [`Publisher::dead_letter`] refuses, as a
    /// plaintext dead letter must never be published.
    sealer: Option<Arc<DeadLetterSealing>>,
}

/// What the publisher needs to seal the worker's own dead letters.
pub struct DeadLetterSealing {
    pub sealer: Sealer,
    /// The queue the consumer takes jobs from, named in each letter for replay.
    pub source_queue: String,
}

impl Publisher {
    pub async fn open(
        connection: &Connection,
        results_exchange: &str,
        dead_letter_queue: &str,
    ) -> anyhow::Result<Self> {
        let channel = connection
            .create_channel()
            .await
            .context("opening the publishing channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enabling publisher confirms")?;
        Ok(Self {
            channel,
            results_exchange: results_exchange.to_string(),
            dead_letter_queue: dead_letter_queue.to_string(),
            sealer: None,
        })
    }

    /// This publisher seals the dead letters it publishes (the worker's does).
    pub fn sealing(mut self, sealing: Arc<DeadLetterSealing>) -> Self {
        self.sealer = Some(sealing);
        self
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes the completion of a stored row and waits for the broker's confirm.
    pub async fn publish_completion(&self, row: &ResultRow) -> anyhow::Result<()> {
        let completion = Completion::from(row);
        let body = serde_json::to_vec(&completion).context("serialising a completion")?;
        let properties = BasicProperties::default()
            .with_message_id(short_string(&row.job_id, "the job_id (message_id)")?)
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT);
        self.publish(
            &self.results_exchange,
            &completion.routing_key(),
            &body,
            properties,
        )
        .await
        .context("publishing a completion")
    }

    /// Seals a message the worker refused (not a job, a job_id conflict) into
    /// the dead-letter queue with the reason in a header; waits for the confirm.
    /// Its source queue is the jobs queue.
    pub async fn dead_letter(
        &self,
        body: &[u8],
        properties: &BasicProperties,
        reason: &str,
    ) -> anyhow::Result<()> {
        self.dead_letter_from(None, body, properties, reason).await
    }

    /// [`Publisher::dead_letter`] for a message from another job queue (e.g.
    /// `<jobs>.interactive`), which `replay` then restores it to.
    pub async fn dead_letter_from(
        &self,
        source_queue: Option<&str>,
        body: &[u8],
        properties: &BasicProperties,
        reason: &str,
    ) -> anyhow::Result<()> {
        let sealing = self
            .sealer
            .as_ref()
            .context("this publisher has no sealing key; refusing a plaintext dead letter")?;
        let source = source_queue.unwrap_or(&sealing.source_queue);
        let sealed = sealing.sealer.seal(body, properties, reason, source);
        self.publish_dead_letter(sealed).await
    }

    /// Publishes a sealed letter to the dead-letter queue; waits for the confirm.
    pub async fn publish_dead_letter(&self, sealed: Sealed) -> anyhow::Result<()> {
        self.publish("", &self.dead_letter_queue, &sealed.body, sealed.properties)
            .await
            .context("dead-lettering a message")
    }

    /// Puts a delivered job back at the end of `queue` as it came (body and
    /// properties), for a pause: the broker sees a new message, so the job's delivery
    /// count starts again instead of growing towards the delivery limit. The
    /// broker's own `x-delivery-count` header is dropped (it describes the old copy),
    /// and so is every `x-id2meta-*` header: only the worker writes those, and only
    /// on dead letters, so on a job they are a producer's claim (e.g. "sealed").
    /// Waits for the confirm: the caller acknowledges the old copy only after it.
    pub async fn republish(
        &self,
        queue: &str,
        body: &[u8],
        properties: &BasicProperties,
    ) -> anyhow::Result<()> {
        let mut properties = properties.clone();
        if let Some(headers) = properties.headers() {
            let mut kept = FieldTable::default();
            for (name, value) in headers.inner() {
                let ours = name.as_str().starts_with("x-id2meta-");
                if name.as_str() != DELIVERY_COUNT_HEADER && !ours {
                    kept.insert(name.clone(), value.clone());
                }
            }
            properties = properties.with_headers(kept);
        }
        self.publish("", queue, body, properties)
            .await
            .context("returning a job to its queue")
    }

    /// Publishes a message to a queue through the default exchange; waits for the confirm.
    pub async fn publish_to_queue(
        &self,
        queue: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> anyhow::Result<()> {
        self.publish("", queue, body, properties).await
    }

    /// Publishes a job body to a queue through the default exchange (for `enqueue`).
    pub async fn publish_job(&self, queue: &str, job_id: &str, body: &[u8]) -> anyhow::Result<()> {
        let properties = BasicProperties::default()
            .with_message_id(short_string(job_id, "the job_id (message_id)")?)
            .with_content_type("application/json".into())
            .with_delivery_mode(PERSISTENT)
            .with_headers(FieldTable::default());
        self.publish("", queue, body, properties)
            .await
            .context("publishing a job")
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> anyhow::Result<()> {
        // mandatory: an unroutable message comes back instead of vanishing.
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = self
            .channel
            .basic_publish(
                short_string(exchange, "the exchange name")?,
                short_string(routing_key, "the routing key")?,
                options,
                body,
                properties,
            )
            .await?
            .await?;
        if !confirm.is_ack() {
            bail!("the broker refused the message (nack)");
        }
        if confirm.take_message().is_some() {
            bail!("the message could not be routed to {routing_key}");
        }
        Ok(())
    }
}

/// An AMQP short string (at most 255 bytes), or an error naming what was too
/// long: lapin's `From` conversions panic on a longer one.
pub fn short_string(value: &str, what: &str) -> anyhow::Result<ShortString> {
    ShortString::try_new(value)
        .map_err(|_| anyhow::anyhow!("{what} is over 255 bytes ({} bytes)", value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_string_over_255_bytes_is_an_error_not_a_panic() {
        assert!(short_string(&"a".repeat(255), "x").is_ok());
        let error = short_string(&"身".repeat(128), "the job_id").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the job_id is over 255 bytes (384 bytes)"
        );
    }
}

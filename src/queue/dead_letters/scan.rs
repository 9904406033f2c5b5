//! Holding a queue's messages without taking them: the one way both the sweep
//! and the dead-letter tools read `<jobs>.dead`.
//!
//! A private channel consumes with manual acks and a prefetch as large as the
//! scan; what the caller acknowledges is removed, and closing the channel
//! returns everything else to the queue. Nothing is lost if the process dies
//! half-way: unacknowledged messages return when the connection goes. The
//! queue must not drop what is returned often (each return counts as a delivery
//! on a quorum queue): ours sets an unlimited `x-delivery-limit`, since RabbitMQ
//! 4.x gives a queue without one a limit of 20 (`queue::declare`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};

/// The most messages one scan holds (the AMQP prefetch is a 16-bit count).
pub const MAX_SCAN: usize = u16::MAX as usize;
/// A scan that has fewer than the queue's length ends when no message came
/// for this long (others hold the rest).
const IDLE: Duration = Duration::from_millis(1500);
/// How long a release waits for its returns to be counted again.
const RETURNED_WITHIN: Duration = Duration::from_secs(2);

/// Messages held unacknowledged on a private channel.
pub struct Held {
    channel: Channel,
    queue: String,
    removed: AtomicUsize,
    pub deliveries: Vec<Delivery>,
}

/// Messages ready in `queue` now (held and unacknowledged ones are not counted).
pub async fn ready(connection: &Connection, queue: &str) -> anyhow::Result<u32> {
    let channel = connection
        .create_channel()
        .await
        .context("opening a channel")?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let count = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .with_context(|| format!("reading the length of queue {queue}"))?
        .message_count();
    let _ = channel.close(200, "counted".into()).await;
    Ok(count)
}

/// Holds up to `limit` of the messages ready in `queue`, oldest first.
pub async fn hold(connection: &Connection, queue: &str, limit: usize) -> anyhow::Result<Held> {
    let limit = limit.clamp(1, MAX_SCAN);
    let want = (ready(connection, queue).await? as usize).min(limit);
    let channel = connection
        .create_channel()
        .await
        .context("opening a scan channel")?;
    let mut held = Held {
        channel,
        queue: queue.to_string(),
        removed: AtomicUsize::new(0),
        deliveries: Vec::with_capacity(want),
    };
    if want == 0 {
        return Ok(held);
    }
    held.channel
        .basic_qos(
            u16::try_from(limit).unwrap_or(u16::MAX),
            BasicQosOptions { global: false },
        )
        .await
        .context("setting the scan prefetch")?;
    let mut consumer = held
        .channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("scanning queue {queue}"))?;
    while held.deliveries.len() < want {
        match tokio::time::timeout(IDLE, consumer.next()).await {
            Ok(Some(Ok(delivery))) => held.deliveries.push(delivery),
            Ok(Some(Err(error))) => return Err(error).context("scanning"),
            Ok(None) | Err(_) => break,
        }
    }
    // Stop the flow; anything delivered after this is returned with the channel.
    let _ = held
        .channel
        .basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await;
    Ok(held)
}

impl Held {
    /// Removes one held message from the queue.
    pub async fn remove(&self, delivery: &Delivery) -> anyhow::Result<()> {
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .context("acknowledging a held message")?;
        self.removed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Returns every message not removed to the queue, and waits (briefly)
    /// until the queue counts them again: a quorum queue applies a return
    /// through its log, and the next scan sizes itself by that count.
    pub async fn release(self, connection: &Connection) {
        let returned = self.deliveries.len() - self.removed.load(Ordering::Relaxed);
        let before = ready(connection, &self.queue).await.unwrap_or(0) as usize;
        // Closing the channel is what returns them; a failure means the channel
        // (or connection) is already gone, which returns them too.
        let _ = self.channel.close(200, "scan done".into()).await;
        if returned == 0 {
            return;
        }
        let deadline = tokio::time::Instant::now() + RETURNED_WITHIN;
        while tokio::time::Instant::now() < deadline {
            match ready(connection, &self.queue).await {
                Ok(now) if now as usize >= before + returned => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => return,
            }
        }
    }
}

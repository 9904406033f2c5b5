//! Reading queues from a test, shared by both harnesses (`support::World` and
//! `worker/helpers.rs::TestEnv`).

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::{BasicProperties, Channel};

/// Takes every message from a queue (acknowledging each) with its properties.
pub async fn drain(channel: &Channel, queue: &str) -> Vec<(Vec<u8>, BasicProperties)> {
    let mut out = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), BasicGetOptions::default())
        .await
        .expect("basic_get")
    {
        message
            .delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .expect("ack");
        out.push((message.delivery.data, message.delivery.properties));
    }
    out
}

/// Messages ready in a queue (unacknowledged ones are not counted).
pub async fn ready(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .expect("passive declare")
        .message_count()
}

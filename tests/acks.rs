//! The coalesced acknowledgements (`pipeline::acks`) against a real broker: what
//! the broker still holds after a channel closes is the proof of what was acked.

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use id2meta::mock::MockConfig;
use id2meta::pipeline::acks::Acks;
use id2meta::queue;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};

use support::World;

/// Five jobs consumed on a fresh channel: job_id by delivery tag (1..=5).
async fn five_deliveries(world: &World) -> (Connection, Channel, HashMap<u64, String>) {
    world.publish_people(5).await;
    let connection = queue::connect(&world.config.amqp_url, "acks test")
        .await
        .expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .basic_qos(16, BasicQosOptions { global: false })
        .await
        .expect("qos");
    let mut consumer = channel
        .basic_consume(
            world.config.jobs_queue.as_str().into(),
            "acks-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut by_tag = HashMap::new();
    while by_tag.len() < 5 {
        let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("a delivery within 10 s")
            .expect("the consumer is open")
            .expect("a delivery");
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string())
            .expect("a message_id");
        by_tag.insert(delivery.delivery_tag, id);
    }
    assert_eq!(
        by_tag.keys().copied().max(),
        Some(5),
        "tags 1..5 on a fresh channel"
    );
    (connection, channel, by_tag)
}

/// What the jobs queue holds once the consuming channel has closed (unacked deliveries return).
async fn left_in_queue(world: &World, connection: Connection, channel: Channel) -> Vec<String> {
    let _ = channel.close(200, "done".into()).await;
    let _ = connection.close(200, "done".into()).await;
    let connection = queue::connect(&world.config.amqp_url, "acks test reader")
        .await
        .expect("broker");
    let reader = connection.create_channel().await.expect("channel");
    let mut left: Vec<String> = support::queues::drain(&reader, &world.config.jobs_queue)
        .await
        .into_iter()
        .filter_map(|(_, properties)| properties.message_id().as_ref().map(|id| id.to_string()))
        .collect();
    left.sort();
    let _ = connection.close(200, "done".into()).await;
    left
}

#[tokio::test]
async fn every_ack_decided_before_the_session_ends_reaches_the_broker() {
    let world = World::new(MockConfig::default()).await;
    let (connection, channel, _) = five_deliveries(&world).await;
    let acks = Acks::spawn(channel.clone(), 64);
    // Out of order, and fewer than a run: only the final flush can send them.
    for tag in [2, 3, 4, 5, 1] {
        acks.ack(tag);
    }
    acks.close().await;
    let left = left_in_queue(&world, connection, channel).await;
    assert!(left.is_empty(), "returned to the queue unacked: {left:?}");
    world.cleanup().await;
}

#[tokio::test]
async fn a_requeued_delivery_is_not_acked_by_a_later_multiple_ack() {
    let world = World::new(MockConfig::default()).await;
    let (connection, channel, by_tag) = five_deliveries(&world).await;
    let acks = Acks::spawn(channel.clone(), 4);
    // 4 and 5 wait behind 3; then 3 is requeued and the run 4..5 goes as one multiple ack.
    for tag in [1, 2, 4, 5] {
        acks.ack(tag);
    }
    acks.requeue(3);
    acks.close().await;
    assert!(
        channel.status().connected(),
        "the broker accepted every frame (a nack of an acked tag closes the channel)"
    );
    let left = left_in_queue(&world, connection, channel).await;
    assert_eq!(
        left,
        vec![by_tag[&3].clone()],
        "only the requeued job is back"
    );
    world.cleanup().await;
}

#[tokio::test]
async fn an_ack_behind_an_undecided_delivery_never_acks_it() {
    let world = World::new(MockConfig::default()).await;
    let (connection, channel, by_tag) = five_deliveries(&world).await;
    let acks = Acks::spawn(channel.clone(), 4);
    // 1 is never decided (a job abandoned at the drain deadline): 2..5 must not go as
    // a multiple ack (it would ack 1); they go one by one, at the latest at the close.
    for tag in [2, 3, 4, 5] {
        acks.ack(tag);
    }
    acks.close().await;
    let left = left_in_queue(&world, connection, channel).await;
    assert_eq!(
        left,
        vec![by_tag[&1].clone()],
        "only the undecided job is back"
    );
    world.cleanup().await;
}

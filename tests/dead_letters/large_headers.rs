//! A message whose headers do not fit the worker's small frames (8 KiB) (RabbitMQ
//! delivers properties in one frame whatever was negotiated, and lapin closes
//! the connection on a larger one) neither wedges the replica nor the intake.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;

use id2meta::mock::MockConfig;
use id2meta::queue::dead_letters::DeadLetterQueue;
use id2meta::queue::{self, Frames, FRAME_MAX};

use crate::helpers;
use crate::helpers::{person_job, TestEnv};
use crate::letters::*;

/// Publishes `body` to `queue` with a header of `header_bytes`, over a
/// connection whose frames can carry it (as any client's default can).
async fn publish_with_large_headers(env: &TestEnv, queue: &str, body: &[u8], header_bytes: usize) {
    let connection = queue::connect_with(&env.config.amqp_url, "test wide publisher", Frames::Wide)
        .await
        .expect("broker");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let mut headers = FieldTable::default();
    headers.insert(
        "x-pipeline-trace".into(),
        AMQPValue::LongString(LongString::from("t".repeat(header_bytes))),
    );
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await
        .expect("publish")
        .await
        .expect("confirmed");
    let _ = connection.close(200, "bye".into()).await;
}

#[tokio::test]
async fn a_job_with_40_kib_of_headers_is_verified_once_with_the_jobs_around_it() {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    env.publish_jobs(&helpers::person_jobs("before", 10)).await;
    env.wait_for_rows(10, WITHIN).await;
    let big = serde_json::to_vec(&person_job("traced", 10)).expect("json");
    publish_with_large_headers(&env, &env.config.jobs_queue, &big, 5 * FRAME_MAX as usize).await;
    env.publish_jobs(&helpers::person_jobs("after", 10)).await;

    let rows = env.wait_for_rows(21, WITHIN).await;
    worker.stop().await;
    assert_eq!(rows.iter().filter(|r| r.job_id == "traced").count(), 1);
    assert_eq!(env.mock.stats().calls, 21, "one call per job");
    env.cleanup().await;
}

#[tokio::test]
async fn a_broker_dead_letter_with_40_kib_of_headers_is_sealed_by_the_intake() {
    let env = TestEnv::new(MockConfig::default()).await;
    let intake = format!("{}.intake", env.config.dead_letter_queue());
    let body = serde_json::to_vec(&person_job("spent", 3)).expect("json");
    publish_with_large_headers(&env, &intake, &body, 5 * FRAME_MAX as usize).await;
    let worker = env.start_worker().await;

    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 1).await;
    assert_eq!(letters[0].job_id.as_deref(), Some("spent"));
    // It opens back into the job, and a replay verifies it (the consumer goes wide too).
    replay_one(&queue, &letters[0]).await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    worker.stop().await;
    assert_eq!(rows[0].job_id, "spent");
    env.cleanup().await;
}

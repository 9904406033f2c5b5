//! A broker declared by the first release keeps its topology, and its
//! plaintext dead letters are sealed in place.

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::queue::dead_letters::{headers, DeadLetterQueue};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use crate::helpers::{eventually, person_job, TestEnv};
use crate::letters::*;

/// The jobs queue exactly as the first release declared it.
fn first_release_arguments(env: &TestEnv) -> FieldTable {
    let text = |v: &str| AMQPValue::LongString(LongString::from(v));
    let mut jobs = FieldTable::default();
    jobs.insert("x-queue-type".into(), text("quorum"));
    jobs.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(env.config.delivery_limit as i32),
    );
    jobs.insert("x-dead-letter-exchange".into(), text(""));
    jobs.insert(
        "x-dead-letter-routing-key".into(),
        text(&env.config.dead_letter_queue()),
    );
    jobs.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    jobs.insert("x-overflow".into(), text("reject-publish"));
    jobs
}

/// Re-declares the jobs queue as the first release did: it dead-letters
/// straight to `<jobs>.dead`, where the broker writes plaintext.
async fn declare_first_release(env: &TestEnv) {
    let channel = env.publisher.channel();
    let jobs = env.config.jobs_queue.as_str();
    channel
        .queue_delete(jobs.into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(jobs.into(), durable, first_release_arguments(env))
        .await
        .expect("the first release's jobs queue");
}

#[tokio::test]
async fn a_first_release_topology_is_kept_and_its_plaintext_dead_letters_are_sealed_in_place() {
    let env = TestEnv::new(MockConfig::default()).await;
    declare_first_release(&env).await;
    let jobs = env.config.jobs_queue.as_str();
    // The broker writes this one to `<jobs>.dead` in plaintext.
    env.publish_jobs(&[person_job("legacy", 6)]).await;
    env.exhaust_delivery_limit().await;

    let mut config = env.config.clone();
    config.dead_letter_sweep = Duration::from_secs(1);
    let worker = env.start_worker_with(config).await;
    // The worker's own (sealed) dead letter, which the sweep must leave alone.
    env.publish_raw(b"not json").await;
    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 2).await;
    let mine = letters
        .iter()
        .find(|l| l.reason.as_deref() == Some("not_json"))
        .unwrap();
    let swept = letters
        .iter()
        .find(|l| l.reason.as_deref() == Some("delivery_limit"))
        .unwrap();
    assert_eq!(swept.job_id.as_deref(), Some("legacy"));
    assert_eq!(swept.source_queue.as_deref(), Some(jobs));

    // The raw bytes at rest hold no plaintext.
    let raw = eventually("the letters, unheld", WITHIN, || async {
        let raw = env.dead_letter_messages().await;
        (raw.len() == 2).then_some(raw)
    })
    .await;
    for (body, properties) in &raw {
        for secret in plaintext_of(6) {
            assert!(!contains(body, &secret) && !contains(&property_bytes(properties), &secret));
        }
    }
    let ids: Vec<_> = raw
        .iter()
        .filter_map(|(_, p)| header(p, headers::DEAD_LETTER_ID))
        .collect();
    assert!(
        ids.contains(mine.id.as_ref().unwrap()),
        "a sealed letter keeps its id"
    );
    // Put them back (the drain took them) and replay the swept one: it completes.
    for (body, properties) in raw {
        env.publisher
            .publish_to_queue(&env.config.dead_letter_queue(), &body, properties)
            .await
            .expect("restore");
    }
    replay_one(&queue, swept).await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    assert_eq!(rows[0].job_id, "legacy");
    worker.stop().await;
    assert_eq!(env.mock.stats().calls, 1);
    env.cleanup().await;
}

#[tokio::test]
async fn a_job_published_with_the_seal_header_is_sealed_by_the_sweep_all_the_same() {
    let env = TestEnv::new(MockConfig::default()).await;
    declare_first_release(&env).await;
    // A producer's job that claims to be a sealed letter, its plaintext name in a
    // "mask" header; the broker dead-letters it as it came.
    let (name, _, _) = id2meta::mock::population::person(7);
    let mut claims = FieldTable::default();
    for (header, value) in [
        (headers::SEALED, "xchacha20poly1305-v1"),
        (headers::DEAD_LETTER_ID, "forged"),
        (headers::NAME_MASKED, name.as_str()),
        (headers::REASON, name.as_str()),
    ] {
        headers::insert_text(&mut claims, header, value);
    }
    let body = person_job("claims-sealed", 7).to_string();
    let properties = lapin::BasicProperties::default().with_headers(claims);
    env.publisher
        .publish_to_queue(&env.config.jobs_queue, body.as_bytes(), properties)
        .await
        .expect("published");
    env.exhaust_delivery_limit().await;

    let mut config = env.config.clone();
    config.dead_letter_sweep = Duration::from_secs(1);
    let worker = env.start_worker_with(config).await;
    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 1).await;
    assert_eq!(letters[0].job_id.as_deref(), Some("claims-sealed"));
    assert_ne!(
        letters[0].id.as_deref(),
        Some("forged"),
        "sealed anew, with its own id"
    );
    worker.stop().await;
    let raw = env.dead_letter_messages().await;
    assert_eq!(raw.len(), 1);
    for (body, properties) in &raw {
        for secret in plaintext_of(7) {
            assert!(
                !contains(body, &secret) && !contains(&property_bytes(properties), &secret),
                "plaintext at rest in the dead-letter queue"
            );
        }
    }
    env.cleanup().await;
}

/// The dead-letter, intake and results queues exactly as releases before the
/// RabbitMQ 4.x review declared them: quorum, no delivery limit.
fn plain_quorum() -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    arguments
}

#[tokio::test]
async fn queues_an_earlier_release_declared_without_a_delivery_limit_are_kept_as_they_are() {
    let env = TestEnv::new(MockConfig::default()).await;
    let channel = env.publisher.channel();
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dead = env.config.dead_letter_queue();
    let kept = [
        dead.clone(),
        format!("{dead}.intake"),
        env.config.results_queue(),
    ];
    for queue in &kept {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .expect("delete");
        channel
            .queue_declare(queue.as_str().into(), durable, plain_quorum())
            .await
            .expect("the earlier release's queue");
    }
    // Today's arguments differ (an explicit unlimited delivery limit): the broker
    // refuses them for these queues, and the worker must start all the same.
    let worker = env.start_worker().await;
    env.publish_jobs(&[person_job("kept", 3)]).await;
    env.publish_raw(b"not json").await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    assert_eq!(rows[0].job_id, "kept");
    let completions = env.completions_until(1, WITHIN).await;
    assert_eq!(completions[0].job_id, "kept");
    let letters = env.dead_letters_until(1, WITHIN).await;
    assert_eq!(letters.len(), 1);
    worker.stop().await;
    env.cleanup().await;
}

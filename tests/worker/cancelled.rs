//! A consumer the broker cancels (`basic.cancel`: RabbitMQ 4.x's consumer
//! timeout, or the queue deleted) is consumed again within the session.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::queue;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;

use crate::helpers::{eventually, person_job, TestEnv};

const WITHIN: Duration = Duration::from_secs(30);

/// How many consumers `queue` has, or `None` while it does not exist (a passive
/// declare of a missing queue closes its channel: one channel per probe).
async fn consumers(connection: &lapin::Connection, queue: &str) -> Option<u32> {
    let channel = connection.create_channel().await.ok()?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .ok()?;
    let _ = channel.close(200, "probed".into()).await;
    Some(declared.consumer_count())
}

#[tokio::test]
async fn a_consumer_the_broker_cancels_is_consumed_again_and_the_worker_stays_ready() {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let probe = queue::connect(&env.config.amqp_url, "test probe")
        .await
        .expect("broker");
    let jobs = env.config.jobs_queue.clone();
    eventually("the worker consumes", WITHIN, || async {
        (worker.readyz().await.0 == 200 && consumers(&probe, &jobs).await == Some(1)).then_some(())
    })
    .await;

    // Readiness, watched from now on: ending the session to reconnect (what a
    // cancel did before) reports the broker not ready while it waits to reconnect.
    let stop = Arc::new(AtomicBool::new(false));
    let http = id2meta::tls::http_client().build().expect("an HTTP client");
    let url = format!("http://{}/readyz", worker.running.http_addr);
    let watcher = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut not_ready = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(answer) = http.get(&url).send().await {
                    let body = answer.text().await.unwrap_or_default();
                    if body.contains("broker") {
                        not_ready.push(body);
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            not_ready
        }
    });

    // Deleting the queue makes the broker send the worker's consumer a basic.cancel.
    env.publisher
        .channel()
        .queue_delete(jobs.as_str().into(), QueueDeleteOptions::default())
        .await
        .expect("delete");
    // The worker declares it again and consumes it again.
    eventually("the worker consumes again", WITHIN, || async {
        (consumers(&probe, &jobs).await == Some(1)).then_some(())
    })
    .await;
    env.publish_jobs(&[person_job("after-cancel", 1)]).await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    assert_eq!(rows[0].job_id, "after-cancel");

    stop.store(true, Ordering::SeqCst);
    let not_ready = watcher.await.expect("the watcher");
    assert!(
        not_ready.is_empty(),
        "the worker reported its broker not ready after a consumer cancel: {not_ready:?}"
    );
    worker.stop().await;
    let _ = probe.close(200, "bye".into()).await;
    env.cleanup().await;
}

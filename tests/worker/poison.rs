//! Messages that are not jobs go to the dead-letter queue with their reason in a
//! header, and the worker keeps going. (The hostile corpus runs through the real
//! worker in `tests/hostile_corpus.rs`.)

use std::time::Duration;

use id2meta::mock::MockConfig;
use serde_json::json;

use crate::helpers::{person_job, TestEnv};

const WITHIN: Duration = Duration::from_secs(60);

/// (body, reason) pairs, sorted, so two lists compare regardless of order.
fn sorted(mut pairs: Vec<(Vec<u8>, Option<String>)>) -> Vec<(Vec<u8>, Option<String>)> {
    pairs.sort();
    pairs
}

#[tokio::test]
async fn messages_that_are_not_jobs_are_dead_lettered_with_their_reason_and_the_worker_keeps_going()
{
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let job = |id: &str| person_job(id, 0);
    let mut oversized = job("big");
    oversized["metadata"] = json!({ "pad": "x".repeat(17 * 1024) });
    let mut no_job_id = job("x");
    no_job_id.as_object_mut().unwrap().remove("job_id");
    let mut wrong_type = job("typed");
    wrong_type["name"] = json!(12345);
    let long_id = job(&"j".repeat(129));
    let text = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
    let poison: Vec<(Vec<u8>, &str)> = vec![
        (b"this is not json".to_vec(), "not_json"),
        (
            b"{\"job_id\":\"utf8\",\"name\":\"\xff\xfe\"}".to_vec(),
            "not_utf8",
        ),
        (text(&no_job_id), "missing_job_id"),
        (text(&wrong_type), "wrong_type"),
        (text(&oversized), "too_large"),
        (text(&long_id), "invalid_job_id"),
        (
            br#"{"job_id":"a","job_id":"b","name":"x","id_number":"y"}"#.to_vec(),
            "duplicate_key",
        ),
    ];
    for (body, _) in &poison {
        env.publish_raw(body).await;
    }
    // Published after the poison: they settle only if the worker kept going.
    let good: Vec<_> = (1..6)
        .map(|i| person_job(&format!("after-{i}"), i))
        .collect();
    env.publish_jobs(&good).await;

    let dead = env.dead_letters_until(poison.len(), WITHIN).await;
    let rows = env.wait_for_rows(good.len(), WITHIN).await;
    worker.stop().await;

    let expected = poison
        .iter()
        .map(|(body, reason)| (body.clone(), Some(reason.to_string())))
        .collect();
    assert_eq!(sorted(dead), sorted(expected));
    assert_eq!(
        rows.len(),
        good.len(),
        "no row for a message that is not a job"
    );
    assert_eq!(env.mock.stats().calls, good.len() as u64);
    assert_eq!(env.jobs_ready().await, 0);
    env.cleanup().await;
}

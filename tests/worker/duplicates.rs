//! Idempotency by job_id: duplicates on two workers, a job re-published after it
//! settled, and a job_id reused for another identity. Every verdict is billed, so
//! the upstream call counts are the point of these tests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use id2meta::mock::MockConfig;

use crate::helpers::{person_job, TestEnv};

const WITHIN: Duration = Duration::from_secs(60);

/// A mock slow enough that two copies of one job are in flight together.
fn slow_mock() -> MockConfig {
    MockConfig {
        latency: Duration::from_millis(50),
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn each_job_published_twice_to_two_workers_makes_one_row_and_one_upstream_call() {
    let env = TestEnv::new(slow_mock()).await;
    let first = env.start_worker().await;
    let second = env.start_worker().await;
    let jobs: Vec<_> = (0..50)
        .map(|i| person_job(&format!("dup-{i}"), i))
        .collect();
    // Both copies of every job side by side, published concurrently (the helper
    // publishes in parallel), so the broker tends to hand twins to different workers.
    let twice: Vec<_> = jobs.iter().flat_map(|j| [j.clone(), j.clone()]).collect();
    env.publish_jobs(&twice).await;

    // Every delivery ends in a completion: the first settles, its twin re-publishes.
    let completions = env.completions_until(100, WITHIN).await;
    first.stop().await;
    second.stop().await;

    let rows = env.rows().await;
    assert_eq!(rows.len(), 50, "one row per job");
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.job_id.as_str()).collect();
    assert_eq!(ids.len(), 50);
    assert!(
        rows.iter().all(|r| r.attempts == 1),
        "no job took two calls"
    );
    assert_eq!(env.mock.stats().calls, 50, "one upstream call per job");
    let mut per_job: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &completions {
        *per_job.entry(c.job_id.as_str()).or_default() += 1;
    }
    assert_eq!(per_job.len(), 50);
    assert!(per_job.values().all(|n| *n == 2), "{per_job:?}");
    assert_eq!(env.jobs_ready().await, 0, "nothing left in the jobs queue");
    env.cleanup().await;
}

#[tokio::test]
async fn a_job_republished_after_it_settled_is_not_called_again_and_its_completion_is_republished()
{
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    let job = person_job("again-1", 4);
    env.publish_jobs(std::slice::from_ref(&job)).await;
    let settled = env.wait_for_rows(1, WITHIN).await;
    let first = env.completions_until(1, WITHIN).await;
    assert_eq!(env.mock.stats().calls, 1);

    env.publish_jobs(std::slice::from_ref(&job)).await;
    let again = env.completions_until(1, WITHIN).await;
    worker.stop().await;

    let all: Vec<_> = first.iter().chain(again.iter()).collect();
    assert!(all.iter().all(|c| c.job_id == "again-1"));
    assert!(all.len() >= 2, "the completion was published again");
    assert_eq!(first[0], again[0], "the same completion, from the same row");
    assert_eq!(env.mock.stats().calls, 1, "no second upstream call");
    assert_eq!(env.rows().await, settled, "the row is unchanged");
    env.cleanup().await;
}

#[tokio::test]
async fn the_same_job_id_with_another_identity_is_dead_lettered_as_a_conflict_and_the_row_is_unchanged(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let worker = env.start_worker().await;
    env.publish_jobs(&[person_job("reused", 0)]).await;
    let settled = env.wait_for_rows(1, WITHIN).await;

    let impostor = person_job("reused", 1);
    env.publish_jobs(std::slice::from_ref(&impostor)).await;
    let dead = env.dead_letters_until(1, WITHIN).await;
    worker.stop().await;

    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1.as_deref(), Some("job_id_conflict"));
    let body: serde_json::Value = serde_json::from_slice(&dead[0].0).expect("the body, intact");
    assert_eq!(body, impostor);
    assert_eq!(env.rows().await, settled, "the stored row is unchanged");
    assert_eq!(
        env.mock.stats().calls,
        1,
        "the impostor made no upstream call"
    );
    assert_eq!(env.completions().await.len(), 1, "no completion for it");
    env.cleanup().await;
}

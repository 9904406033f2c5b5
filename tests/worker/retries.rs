//! Transient upstream answers are retried (each attempt counted, each paced), a
//! job that never succeeds stops at exactly MAX_ATTEMPTS calls, and throttling
//! answers slow the job down without failing it.

use std::time::Duration;

use id2meta::mock::{MockConfig, ScriptStep};
use id2meta::upstream::Verdict;

use crate::helpers::{id_number_of, people_with, person_job, TestEnv};

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn transient_errors_then_success_store_the_verdict_after_three_attempts() {
    let env = TestEnv::new(MockConfig::default()).await;
    let person = people_with(Verdict::Match).next().unwrap();
    env.mock.script(
        &id_number_of(person),
        ["InternalError", "Forbidden.ExceptionDataSource"],
    );
    let worker = env.start_worker().await;
    env.publish_jobs(&[person_job("flaky", person)]).await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    worker.stop().await;

    assert_eq!(rows[0].status, "match");
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].upstream_code.as_deref(), Some("Success"));
    let stats = env.mock.stats();
    assert_eq!(stats.calls, 3);
    assert_eq!(stats.by_code.get("InternalError"), Some(&1));
    assert_eq!(stats.by_code.get("Forbidden.ExceptionDataSource"), Some(&1));
    let completions = env.completions().await;
    assert_eq!(completions.len(), 1);
    assert_eq!(completions[0].attempts, 3);
    env.cleanup().await;
}

#[tokio::test]
async fn a_job_that_never_succeeds_ends_failed_after_exactly_max_attempts_calls() {
    let env = TestEnv::new(MockConfig::default()).await;
    let person = people_with(Verdict::Match).next().unwrap();
    // More errors scripted than attempts allowed: a fifth call would still fail.
    env.mock
        .script(&id_number_of(person), vec!["InternalError"; 10]);
    let mut config = env.config.clone();
    config.max_attempts = 4;
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&[person_job("hopeless", person)]).await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    // The completion is published after the row: once it is there the job is done.
    let completions = env.completions_until(1, WITHIN).await;
    worker.stop().await;

    assert_eq!(rows[0].status, "failed");
    assert_eq!(rows[0].attempts, 4);
    assert_eq!(rows[0].upstream_code.as_deref(), Some("InternalError"));
    assert!(
        rows[0].upstream_message.is_some(),
        "the last message is kept"
    );
    assert_eq!(completions[0].status, "failed");
    assert_eq!(env.mock.stats().calls, 4, "exactly MAX_ATTEMPTS calls");
    env.cleanup().await;
}

#[tokio::test]
async fn throttling_answers_are_retried_and_the_job_settles() {
    let env = TestEnv::new(MockConfig::default()).await;
    let person = people_with(Verdict::Mismatch).next().unwrap();
    // Alibaba's gateway throttles as 400 or 429 depending on the path: both count.
    let throttled_as_429 = ScriptStep {
        http_status: Some(429),
        ..ScriptStep::code("Throttling.Api")
    };
    env.mock.script(
        &id_number_of(person),
        [ScriptStep::code("Throttling.User"), throttled_as_429],
    );
    let worker = env.start_worker().await;
    env.publish_jobs(&[person_job("throttled", person)]).await;
    let rows = env.wait_for_rows(1, WITHIN).await;
    worker.stop().await;

    assert_eq!(rows[0].status, "mismatch");
    assert_eq!(rows[0].attempts, 3);
    let stats = env.mock.stats();
    assert_eq!(stats.calls, 3);
    assert_eq!(stats.by_code.get("Throttling.User"), Some(&1));
    assert_eq!(stats.by_code.get("Throttling.Api"), Some(&1));
    env.cleanup().await;
}

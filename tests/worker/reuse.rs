//! Verdict reuse (`ID2META_REUSE_WITHIN`): a second job for an identity with a
//! recent paid `match`/`mismatch` settles without a call; `not_found` is called
//! again; nothing is reused when the setting is off; a duplicate of a job_id is
//! not a reuse.

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::queue::Completion;
use id2meta::upstream::Verdict;

use crate::helpers::{people_with, person_job, TestEnv};

const WAIT: Duration = Duration::from_secs(30);

/// Runs `first`, waits for its row, then runs `then`; returns the env for checks.
async fn two_rounds(
    reuse_within: Option<Duration>,
    first: Vec<serde_json::Value>,
    then: Vec<serde_json::Value>,
) -> (TestEnv, Vec<id2meta::store::ResultRow>, Vec<Completion>) {
    let env = TestEnv::new(MockConfig::default()).await;
    let mut config = env.config.clone();
    config.reuse_within = reuse_within;
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&first).await;
    env.wait_for_rows(first.len(), WAIT).await;
    env.publish_jobs(&then).await;
    let mut job_ids: Vec<&serde_json::Value> =
        first.iter().chain(&then).map(|j| &j["job_id"]).collect();
    job_ids.sort_by_key(|id| id.to_string());
    job_ids.dedup();
    let rows = env.wait_for_rows(job_ids.len(), WAIT).await;
    // The duplicate is acknowledged once its completion is published again.
    let completions = env.completions_until(first.len() + then.len(), WAIT).await;
    worker.stop().await;
    (env, rows, completions)
}

fn row<'a>(rows: &'a [id2meta::store::ResultRow], job_id: &str) -> &'a id2meta::store::ResultRow {
    rows.iter()
        .find(|r| r.job_id == job_id)
        .expect("a row for the job")
}

#[tokio::test]
async fn a_second_job_for_a_verified_identity_settles_with_its_verdict_and_no_call() {
    let matched = people_with(Verdict::Match).next().expect("a match");
    let mismatched = people_with(Verdict::Mismatch).next().expect("a mismatch");
    let (env, rows, completions) = two_rounds(
        Some(Duration::from_secs(3600)),
        vec![
            person_job("first-m", matched),
            person_job("first-x", mismatched),
        ],
        vec![
            person_job("again-m", matched),
            person_job("again-x", mismatched),
            // A duplicate of a settled job_id gets its stored row again, not a reuse.
            person_job("first-m", matched),
        ],
    )
    .await;
    assert_eq!(
        env.mock.stats().verdict_calls,
        2,
        "only the first round was called"
    );
    for (again, first, status, biz) in [
        ("again-m", "first-m", "match", "1"),
        ("again-x", "first-x", "mismatch", "2"),
    ] {
        let r = row(&rows, again);
        assert_eq!(r.status, status);
        assert_eq!(r.biz_code.as_deref(), Some(biz));
        assert_eq!(r.attempts, 0);
        assert_eq!(r.reused_from_job_id.as_deref(), Some(first));
        assert_eq!(
            (&r.upstream_code, &r.upstream_message, &r.request_id),
            (&None, &None, &None)
        );
        assert_eq!(r.identity_digest, row(&rows, first).identity_digest);
        assert!(r.name_masked.is_some() && r.id_number_masked.is_some());
        assert_eq!(r.queue.as_deref(), Some(env.config.jobs_queue.as_str()));
    }
    let original = row(&rows, "first-m");
    assert_eq!(
        (original.attempts, &original.reused_from_job_id),
        (1, &None)
    );
    let reused = completions
        .iter()
        .find(|c| c.job_id == "again-m")
        .expect("a completion");
    assert_eq!(reused.reused_from_job_id.as_deref(), Some("first-m"));
    assert_eq!(
        reused.queue.as_deref(),
        Some(env.config.jobs_queue.as_str())
    );
    assert!(completions
        .iter()
        .filter(|c| c.job_id == "first-m")
        .all(|c| c.reused_from_job_id.is_none() && c.attempts == 1));
    env.cleanup().await;
}

#[tokio::test]
async fn a_not_found_is_called_again_and_nothing_is_reused_when_reuse_is_off() {
    let unknown = people_with(Verdict::NotFound).next().expect("a not_found");
    let (env, rows, _) = two_rounds(
        Some(Duration::from_secs(3600)),
        vec![person_job("nf-1", unknown)],
        vec![person_job("nf-2", unknown)],
    )
    .await;
    assert_eq!(env.mock.stats().verdict_calls, 2);
    assert_eq!(row(&rows, "nf-2").reused_from_job_id, None);
    assert_eq!(row(&rows, "nf-2").attempts, 1);
    env.cleanup().await;

    let matched = people_with(Verdict::Match).next().expect("a match");
    let (env, rows, _) = two_rounds(
        None,
        vec![person_job("off-1", matched)],
        vec![person_job("off-2", matched)],
    )
    .await;
    assert_eq!(
        env.mock.stats().verdict_calls,
        2,
        "off by default: called again"
    );
    assert_eq!(row(&rows, "off-2").reused_from_job_id, None);
    env.cleanup().await;
}

#[tokio::test]
async fn a_verdict_older_than_the_window_is_not_reused() {
    let matched = people_with(Verdict::Match).next().expect("a match");
    let env = TestEnv::new(MockConfig::default()).await;
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(60));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&[person_job("old-1", matched)]).await;
    env.wait_for_rows(1, WAIT).await;
    // Age the verdict past the window (the table refuses updates: recreate the row).
    sqlx::query("ALTER TABLE verification_results DISABLE TRIGGER verification_results_no_update")
        .execute(env.store.pool())
        .await
        .expect("disabling the append-only trigger");
    sqlx::query("UPDATE verification_results SET completed_at = now() - interval '2 minutes'")
        .execute(env.store.pool())
        .await
        .expect("ageing the row");
    env.publish_jobs(&[person_job("old-2", matched)]).await;
    let rows = env.wait_for_rows(2, WAIT).await;
    worker.stop().await;
    assert_eq!(row(&rows, "old-2").reused_from_job_id, None);
    assert_eq!(env.mock.stats().verdict_calls, 2);
    env.cleanup().await;
}

#[tokio::test]
async fn a_job_of_a_cancelled_batch_settles_cancelled_even_when_a_verdict_could_be_reused() {
    let matched = people_with(Verdict::Match).next().expect("a match");
    let env = TestEnv::new(MockConfig::default()).await;
    // Cancelled before the worker starts: its first read of the table sees it.
    env.store
        .cancel_batch("withdrawn", "test")
        .await
        .expect("cancelled");
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(3600));
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&[person_job("first-m", matched)]).await;
    env.wait_for_rows(1, WAIT).await;
    let mut again = person_job("again-m", matched);
    again["batch_id"] = "withdrawn".into();
    env.publish_jobs(&[again]).await;
    let rows = env.wait_for_rows(2, WAIT).await;
    worker.stop().await;
    let r = row(&rows, "again-m");
    assert_eq!(r.status, "cancelled", "a cancel wins over a reuse");
    assert_eq!(r.attempts, 0);
    assert_eq!(r.reused_from_job_id, None);
    assert_eq!(
        env.mock.stats().verdict_calls,
        1,
        "no call for the cancelled job"
    );
    env.cleanup().await;
}

//! Account-level refusals are not the jobs' fault: nothing is stored, the jobs
//! stay queued, the worker reports not-ready; when the upstream relents the
//! worker finds out by itself and every job settles with a verdict.

use std::time::Duration;

use id2meta::mock::MockConfig;

use crate::helpers::{eventually, person_job, TestEnv};

const JOBS: usize = 20;

#[tokio::test]
async fn a_refused_account_pauses_the_worker_without_harm_and_it_recovers_when_the_upstream_relents(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    let worker = env.start_worker().await;
    let jobs: Vec<_> = (0..JOBS as u64)
        .map(|i| person_job(&format!("acct-{i}"), i))
        .collect();
    env.publish_jobs(&jobs).await;

    // Paused: /readyz says so, and every job is handed back to the queue.
    eventually(
        "not ready for the account",
        Duration::from_secs(20),
        || async {
            let (status, reason) = worker.readyz().await;
            (status == 503 && reason.contains("account")).then_some(())
        },
    )
    .await;
    eventually(
        "the jobs back in the queue",
        Duration::from_secs(20),
        || async { (env.jobs_ready().await == JOBS as u32).then_some(()) },
    )
    .await;
    assert!(worker.running.health.account_refused());
    assert!(env.rows().await.is_empty(), "nothing stored while refused");
    let denied = env.mock.stats();
    assert_eq!(denied.verdict_calls, 0, "no billed call while refused");
    assert!(denied.calls >= 1, "the refusal was seen");

    env.mock.set_account_denied(None);
    // The probe backs off from 1 s, doubling: allow a few of its turns.
    eventually("readiness back", Duration::from_secs(20), || async {
        (worker.readyz().await.0 == 200).then_some(())
    })
    .await;
    let rows = env.wait_for_rows(JOBS, Duration::from_secs(30)).await;
    worker.stop().await;

    assert_eq!(rows.len(), JOBS);
    for row in &rows {
        assert!(
            ["match", "mismatch", "not_found"].contains(&row.status.as_str()),
            "{}: {}",
            row.job_id,
            row.status
        );
        // The refused attempt is not counted against the job.
        assert_eq!(row.attempts, 1, "{}", row.job_id);
    }
    assert_eq!(env.mock.stats().verdict_calls, JOBS as u64);
    assert_eq!(env.jobs_ready().await, 0);
    env.cleanup().await;
}

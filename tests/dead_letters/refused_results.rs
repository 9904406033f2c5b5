//! A result the database refuses rests sealed, and its replay stores the row
//! without a second upstream call.

use id2meta::mock::MockConfig;
use id2meta::queue::dead_letters::DeadLetterQueue;

use crate::helpers;
use crate::helpers::{eventually, person_job, TestEnv};
use crate::letters::*;

/// Whether `job_id`'s claim is still held by a live lease (a replay during it
/// would only wait).
async fn lease_live(env: &TestEnv, job_id: &str) -> bool {
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_claims WHERE job_id = $1 AND state = 'active' AND lease_until > now()",
    )
    .bind(job_id)
    .fetch_one(env.store.pool())
    .await
    .expect("claims");
    live > 0
}

/// When `job_id`'s claim last sent it to the dead letters (`kept_at`).
async fn kept_at(env: &TestEnv, job_id: &str) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("SELECT kept_at FROM job_claims WHERE job_id = $1 AND state = 'unstorable'")
        .bind(job_id)
        .fetch_one(env.store.pool())
        .await
        .expect("an unstorable claim with kept_at")
}

#[tokio::test]
async fn a_result_the_database_refuses_rests_sealed_and_its_replay_stores_the_row_without_a_second_call(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    // The database refuses one job's row for its data (SQLSTATE 23514), as it
    // would a value the contract let through but PostgreSQL cannot hold.
    sqlx::query(
        "ALTER TABLE verification_results ADD CONSTRAINT test_refuses_one CHECK (job_id <> 'refused')",
    )
    .execute(env.store.pool())
    .await
    .expect("constraint");
    let mut jobs = helpers::person_jobs("stored", 20);
    jobs.push(person_job("refused", 20));
    let worker = env.start_worker().await;
    env.publish_jobs(&jobs).await;

    let queue = DeadLetterQueue::from_config(&env.config)
        .await
        .expect("connect");
    let letters = sealed_letters(&queue, 1).await;
    assert_eq!(letters[0].job_id.as_deref(), Some("refused"));
    assert_eq!(letters[0].reason.as_deref(), Some("unstorable_result"));
    let rows = env.wait_for_rows(20, WITHIN).await;
    assert!(rows.iter().all(|r| r.job_id.starts_with("stored")));
    assert_eq!(env.mock.stats().calls, 21, "every job called once");
    let first_kept = kept_at(&env, "refused").await;
    // A replay once the claim's lease is over (the moment a claim left active
    // would be taken over and called again) while the row is still refused:
    // dead-lettered again, no call.
    eventually("the refused job's lease over", WITHIN, || async {
        (!lease_live(&env, "refused").await).then_some(())
    })
    .await;
    replay_one(&queue, &letters[0]).await;
    let again = sealed_letters(&queue, 1).await;
    assert_eq!(again[0].reason.as_deref(), Some("unstorable_result"));
    assert_eq!(env.mock.stats().calls, 21, "the replay made no call");
    // The new letter has a new TTL: the claim (and its paid outcome) must outlive it.
    assert!(
        kept_at(&env, "refused").await > first_kept,
        "a refusal of the replay moves kept_at"
    );

    // Now the database takes it: the replay stores the kept outcome, still no call.
    sqlx::query("ALTER TABLE verification_results DROP CONSTRAINT test_refuses_one")
        .execute(env.store.pool())
        .await
        .expect("drop constraint");
    replay_one(&queue, &again[0]).await;
    let rows = env.wait_for_rows(21, WITHIN).await;
    env.completions_until(21, WITHIN).await;
    worker.stop().await;

    let refused: Vec<_> = rows.iter().filter(|r| r.job_id == "refused").collect();
    assert_eq!(refused.len(), 1, "one row for the replayed job");
    assert!(
        refused[0].request_id.is_some(),
        "the kept verdict's request id"
    );
    assert_eq!(refused[0].attempts, 1);
    assert_eq!(env.mock.stats().calls, 21, "one upstream call per job");
    let state: String = sqlx::query_scalar("SELECT state FROM job_claims WHERE job_id = 'refused'")
        .fetch_one(env.store.pool())
        .await
        .expect("claim");
    assert_eq!(state, "done");
    assert!(queue.list(100).await.expect("list").is_empty());
    env.cleanup().await;
}

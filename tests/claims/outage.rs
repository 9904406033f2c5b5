//! Item 4: "a database away for twice the lease with a duplicate delivery waiting:
//! one call". The first delivery's call is in flight when the database goes away
//! (for both workers); a duplicate is published meanwhile and reaches the second
//! worker. The database comes back first for the duplicate: its claim finds the
//! lease long ended. Without the grace after a seen expiry it takes the claim over
//! and calls again; with it, the owner renews as soon as it reaches the database,
//! stores its row, and the duplicate republishes that row.

use std::time::Duration;

use id2meta::mock::MockConfig;

use crate::helpers::{eventually, person_job, TestEnv};
use crate::{claim_of, through_database_proxy};

/// The mock's answer time: the call is in flight when the database goes away.
const CALL: Duration = Duration::from_secs(3);
const LEASE: Duration = Duration::from_secs(8);
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_database_away_for_twice_the_lease_with_a_duplicate_delivery_waiting_makes_one_call() {
    let env = TestEnv::new(MockConfig {
        latency: CALL,
        ..MockConfig::default()
    })
    .await;
    let mut base = env.config.clone();
    base.request_timeout = CALL + Duration::from_secs(1);
    base.lease = LEASE;
    let (first_proxy, mut first_config) = through_database_proxy(&base).await;
    // One job at a time: the duplicate cannot be prefetched by the first worker.
    first_config.concurrency = 1;
    let (second_proxy, second_config) = through_database_proxy(&base).await;

    let first = env.start_worker_with(first_config).await;
    let job = person_job("outage-1", 1);
    env.publish_jobs(std::slice::from_ref(&job)).await;
    eventually("the first delivery's claim", WAIT, || {
        claim_of(&env, "outage-1")
    })
    .await;
    let second = env.start_worker_with(second_config).await;

    // The call is in flight: the database goes away for everyone, and the duplicate
    // arrives.
    first_proxy.cut();
    second_proxy.cut();
    env.publish_jobs(std::slice::from_ref(&job)).await;
    let (_, before) = claim_of(&env, "outage-1").await.expect("the claim");
    tokio::time::sleep(LEASE * 2).await;

    // Back for the duplicate first: it finds the lease ended.
    second_proxy.restore();
    eventually("the duplicate's claim statement", WAIT, || async {
        let (_, now) = claim_of(&env, "outage-1").await?;
        (now != before).then_some(())
    })
    .await;
    first_proxy.restore();

    // Both deliveries complete: the verdict's row, then the duplicate's republish.
    let completions = env.completions_until(2, WAIT).await;
    first.stop().await;
    second.stop().await;
    assert!(completions.iter().all(|c| c.job_id == "outage-1"));
    let rows = env.rows().await;
    assert_eq!(rows.len(), 1, "one row");
    assert_eq!(rows[0].attempts, 1, "one attempt");
    assert_eq!(env.mock.stats().calls, 1, "the job was called twice");
    env.cleanup().await;
}

//! Item 9: "an interrupted reuse lookup keeps the counted first attempt, so the
//! redelivery skips reuse and pays". The claim used to count the first attempt
//! before the lookup ran; whatever came between (a lost reply, a shutdown through
//! an outage) left a counted attempt with no call behind it, and the next claim of
//! the job saw "already called" and paid. Here the claim's reply is lost: the
//! database answers only after the claim committed, and the connection is cut.

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::upstream::Verdict;

use crate::helpers::{eventually, people_with, person_job, TestEnv};
use crate::{claim_of, through_database_proxy};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_claim_whose_lookup_never_answered_still_reuses_the_verdict_on_its_next_claim() {
    let env = TestEnv::new(MockConfig::default()).await;
    let mut config = env.config.clone();
    config.reuse_within = Some(Duration::from_secs(3600));
    let (proxy, config) = through_database_proxy(&config).await;
    let worker = env.start_worker_with(config).await;
    let person = people_with(Verdict::Match).next().expect("a match");
    env.publish_jobs(&[person_job("paid", person)]).await;
    env.wait_for_rows(1, WAIT).await;

    // Answers from the database now take a second: the claim commits, and the
    // connection is cut before its reply (and anything after it) gets back.
    proxy.set_answer_latency(Duration::from_secs(1));
    env.publish_jobs(&[person_job("again", person)]).await;
    eventually("the second job's claim", WAIT, || claim_of(&env, "again")).await;
    proxy.cut();
    proxy.restore();

    let rows = env.wait_for_rows(2, WAIT).await;
    worker.stop().await;
    let again = rows
        .iter()
        .find(|r| r.job_id == "again")
        .expect("a row for the second job");
    assert_eq!(
        again.reused_from_job_id.as_deref(),
        Some("paid"),
        "not reused"
    );
    assert_eq!(again.attempts, 0);
    assert_eq!(env.mock.stats().calls, 1, "the second job was called");
    env.cleanup().await;
}

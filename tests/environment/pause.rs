//! The pause itself: across a reconnect, during its drain, and at its end.

use std::net::SocketAddr;
use std::time::Duration;

use id2meta::mock::{MockConfig, ScriptStep};

use crate::fault_proxy::FaultProxy;
use crate::helpers::{eventually, person_job, person_jobs, TestEnv};
use crate::{endpoint, JOBS, WITHIN};

#[tokio::test]
async fn a_session_opened_after_the_gate_tripped_takes_no_jobs_and_the_probe_still_resumes() {
    // A slow budget keeps jobs waiting for a token: after the broker connection is
    // cut they still call, and meet the refusal while the worker is away.
    let env = TestEnv::new(MockConfig::default()).await;
    let broker = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5672))).await;
    let mut config = env.config.clone();
    config.amqp_url = config
        .amqp_url
        .replace("127.0.0.1:5672", &broker.addr().to_string());
    config.concurrency = 4;
    config.qps = 4.0;
    let worker = env.start_worker_with(config).await;
    let jobs = person_jobs("reconnect", JOBS);
    env.publish_jobs(&jobs).await;
    eventually("calls under way", WITHIN, || async {
        (env.mock.stats().calls >= 2).then_some(())
    })
    .await;

    // The connection goes, and while the worker is away the jobs it still holds
    // meet the refusal: the gate trips between two sessions.
    broker.cut();
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    eventually("the gate tripped while disconnected", WITHIN, || async {
        worker.running.health.account_refused().then_some(())
    })
    .await;
    broker.restore();

    // No session takes jobs while paused: every job not stored waits in the queue,
    // and the probe keeps going (it is what ends the pause).
    eventually("the jobs queued", WITHIN, || async {
        let stored = env.rows().await.len() as u32;
        (env.jobs_ready().await + stored >= JOBS as u32).then_some(())
    })
    .await;
    let refused = env.mock.stats().calls;
    eventually("a probe after the reconnect", WITHIN, || async {
        (env.mock.stats().calls > refused).then_some(())
    })
    .await;
    env.mock.set_account_denied(None);
    env.wait_for_rows(JOBS as usize, WITHIN).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert_eq!(batch.rows.len(), JOBS as usize);
    assert_eq!(
        env.mock.stats().verdict_calls,
        JOBS,
        "one billed call per job"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn the_worker_stays_alive_while_a_pause_waits_for_a_slow_call() {
    let env = TestEnv::new(MockConfig::default()).await;
    // One call that outlasts /healthz's 10 s of grace, and a client that waits for it.
    let slow = person_job("slow", 0);
    let slow_number = slow["id_number"].as_str().expect("a number").to_string();
    env.mock.script(
        &slow_number,
        [ScriptStep {
            latency_ms: Some(14_000),
            ..ScriptStep::code("Success")
        }],
    );
    let mut config = env.config.clone();
    config.request_timeout = Duration::from_secs(30);
    config.lease = Duration::from_secs(60);
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(std::slice::from_ref(&slow)).await;
    eventually("the slow call under way", WITHIN, || async {
        (env.mock.stats().calls == 1).then_some(())
    })
    .await;

    // A refusal pauses the worker while the slow call is in flight.
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    env.publish_jobs(&[person_job("refused", 1)]).await;
    eventually("paused", WITHIN, || async {
        worker.running.health.account_refused().then_some(())
    })
    .await;
    // The drain waits for the slow job; the worker must stay alive all along.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while env.rows().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow job never settled"
        );
        let (status, body) = endpoint(&worker, "/healthz").await;
        assert_eq!(status, 200, "not alive during the pause's drain: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rows = env.rows().await;
    assert_eq!(rows.len(), 1, "only the slow job's verdict is stored");
    assert_eq!(rows[0].job_id, "slow");
    env.mock.set_account_denied(None);
    env.wait_for_rows(2, WITHIN).await;
    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn after_a_pause_the_worker_resumes_with_one_job_before_the_rest() {
    const BATCH: u64 = 10;
    let env = TestEnv::new(MockConfig::default()).await;
    env.mock
        .set_account_denied(Some("Forbidden.AccountAccessDenied"));
    let jobs = person_jobs("probation", BATCH);
    // Every verdict takes 3 s (the refusals before it are answered at once).
    for job in &jobs {
        let number = job["id_number"].as_str().expect("a number");
        env.mock.script(
            number,
            [ScriptStep {
                latency_ms: Some(3_000),
                ..ScriptStep::code("Success")
            }],
        );
    }
    let mut config = env.config.clone();
    config.request_timeout = Duration::from_secs(15);
    config.lease = Duration::from_secs(30);
    let worker = env.start_worker_with(config).await;
    env.publish_jobs(&jobs).await;
    eventually("paused with the jobs queued", WITHIN, || async {
        (worker.running.health.account_refused() && env.jobs_ready().await == BATCH as u32)
            .then_some(())
    })
    .await;

    env.mock.set_account_denied(None);
    let verdicts = || {
        env.mock
            .stats()
            .by_code
            .get("Success")
            .copied()
            .unwrap_or(0)
    };
    eventually("the first call after the pause", WITHIN, || async {
        (verdicts() >= 1).then_some(())
    })
    .await;
    // While that first job is under way, the rest stay in the queue.
    assert_eq!(
        env.jobs_ready().await,
        BATCH as u32 - 1,
        "more than one job taken"
    );
    assert_eq!(verdicts(), 1, "more than one call after the pause");

    env.wait_for_rows(BATCH as usize, WITHIN).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert!(batch.rows.iter().all(|r| r.attempts == 1));
    assert_eq!(env.mock.stats().verdict_calls, BATCH);
    env.cleanup().await;
}

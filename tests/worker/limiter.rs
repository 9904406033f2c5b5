//! The pacer: a worker at QPS Q against an upstream that throttles above Q never
//! draws a throttling error. The second test shows the mock's limit does bite an
//! unpaced worker, so the first cannot pass by accident.

use std::time::{Duration, Instant};

use id2meta::mock::MockConfig;

use crate::helpers::{eventually, person_job, TestEnv};

const Q: u32 = 20;
const JOBS: u64 = 100;

fn limited_mock() -> MockConfig {
    MockConfig {
        qps_limit: Some(Q),
        ..MockConfig::default()
    }
}

fn batch() -> Vec<serde_json::Value> {
    (0..JOBS)
        .map(|i| person_job(&format!("paced-{i}"), i))
        .collect()
}

#[tokio::test]
async fn a_worker_at_the_upstream_qps_limit_never_draws_a_throttling_error() {
    let env = TestEnv::new(limited_mock()).await;
    let mut config = env.config.clone();
    config.qps = f64::from(Q);
    let worker = env.start_worker_with(config).await;
    let started = Instant::now();
    env.publish_jobs(&batch()).await;
    let rows = env
        .wait_for_rows(JOBS as usize, Duration::from_secs(30))
        .await;
    let took = started.elapsed();
    worker.stop().await;

    let stats = env.mock.stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert_eq!(stats.calls, JOBS, "one call per job, no retries");
    assert!(rows.iter().all(|r| r.attempts == 1));
    // Paced, not merely lucky: 100 calls at 20/s with a burst of 1 take about 5 s.
    assert!(took >= Duration::from_secs(4), "took {took:?}");
    env.cleanup().await;
}

#[tokio::test]
async fn an_unpaced_worker_against_the_same_upstream_is_throttled() {
    let env = TestEnv::new(limited_mock()).await;
    // The test configuration allows 500 calls per second: far above the mock's 20.
    let worker = env.start_worker().await;
    env.publish_jobs(&batch()).await;
    eventually("a throttling error", Duration::from_secs(20), || async {
        (env.mock.stats().throttled > 0).then_some(())
    })
    .await;
    worker.stop().await;
    env.cleanup().await;
}

//! The rate-limit token is the last thing before the request (issue 9).
//!
//! A database step between the token and the call (the lease renewal after a long
//! wait, as it was) lets a slow or stalled database hold granted tokens back and
//! release them together: calls late and bunched, above the budget. Here the
//! database stalls while jobs wait for tokens; every token handed out during the
//! stall must have become a call.
//!
//! Its own test binary: it reads the process-wide metrics (tokens handed out).

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "worker/helpers.rs"]
mod helpers;

use std::net::SocketAddr;
use std::time::Duration;

use fault_proxy::FaultProxy;
use helpers::{eventually, person_jobs, TestEnv, Worker};
use id2meta::mock::MockConfig;

const JOBS: u64 = 30;
const WITHIN: Duration = Duration::from_secs(60);

/// Rate-limit tokens handed out so far (one per recorded limiter wait).
async fn tokens_taken(worker: &Worker) -> u64 {
    let url = format!("http://{}/metrics", worker.running.http_addr);
    let text = id2meta::tls::get(url)
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("a body");
    text.lines()
        .find_map(|line| line.strip_prefix("id2meta_limiter_wait_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_stalled_database_cannot_hold_back_a_granted_token() {
    let env = TestEnv::new(MockConfig::default()).await;
    let database = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    let mut config = env.config.clone();
    config.database_url = config
        .database_url
        .replace("127.0.0.1:5432", &database.addr().to_string());
    // Eight jobs share two calls a second: each waits about four seconds for its
    // token, longer than a third of the lease.
    config.qps = 2.0;
    config.concurrency = 8;
    config.lease = Duration::from_secs(3);
    let worker = env.start_worker_with(config).await;
    let jobs = person_jobs("pacing", JOBS);
    env.publish_jobs(&jobs).await;
    env.wait_for_rows(3, WITHIN).await;

    database.stall();
    let before = tokens_taken(&worker).await;
    // One token is enough to show it: the budget keeps granting until its pause
    // deadline (about 1.5 s) and at two calls a window the next may be a window
    // away, so waiting for two made the test fail whenever the stall began just
    // after a window's calls were spent (seen in CI).
    eventually("a token handed out during the stall", WITHIN, || async {
        (tokens_taken(&worker).await > before).then_some(())
    })
    .await;
    // Every token became a call at once: none waits on the stalled database.
    eventually(
        "every token handed out called",
        Duration::from_secs(5),
        || async {
            let tokens = tokens_taken(&worker).await;
            (env.mock.stats().calls == tokens).then_some(())
        },
    )
    .await;
    let tokens = tokens_taken(&worker).await;
    assert_eq!(
        env.mock.stats().calls,
        tokens,
        "a granted token is held back by the stalled database"
    );

    database.release();
    env.wait_for_rows(JOBS as usize, WITHIN).await;
    worker.stop().await;
    let batch = env.assert_batch_settled(&jobs).await;
    assert_eq!(batch.calls, JOBS, "one call per job");
    env.cleanup().await;
}

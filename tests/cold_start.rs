//! A replica with a cold connection pool meets a backlog (issue 19 item 3).
//!
//! Every new connection to the upstream costs a handshake (DNS, TCP, TLS: some
//! 200 ms to Alibaba's public endpoint from far away). When a call took its
//! rate-limit token first and dialed after, the first calls went out one
//! handshake late while the calls after them, on connections freed meanwhile,
//! went out on time: more than the budget in one sliding second, and throttled.
//! A call now holds a ready connection before it takes its token.
//!
//! The mock serves TLS here, as Alibaba does: over plain HTTP a client writes its
//! request before any handshake, and cannot wait for one.

#[path = "worker/helpers.rs"]
mod helpers;

use std::time::Duration;

use helpers::{eventually, person_jobs, TestEnv};
use id2meta::mock::{MockConfig, QpsWindow};

const QPS: u32 = 20;
const JOBS: u64 = 60;

#[tokio::test]
async fn a_cold_replica_meeting_a_backlog_through_slow_handshakes_stays_within_the_budget() {
    // The worker trusts the mock's test CA as an operator trusts a private CA:
    // through `SSL_CERT_FILE`. (This test binary holds this one test.)
    let ca = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(ca.path(), id2meta::mock::TEST_CA_PEM).expect("the CA written");
    std::env::set_var("SSL_CERT_FILE", ca.path());
    let env = TestEnv::new(MockConfig {
        qps_limit: Some(QPS),
        qps_window: QpsWindow::Sliding,
        latency: Duration::from_millis(100),
        // Twice the cadence's eight calls: the first calls' handshakes overlap
        // the calls that follow them on connections already free.
        connect_delay: Duration::from_millis(400),
        tls: true,
        ..MockConfig::default()
    })
    .await;
    let mut config = env.config.clone();
    config.qps = f64::from(QPS);
    // A loaded test machine delays some writes by more than the default 5 ms; a
    // handshake's 400 ms is far beyond this margin either way.
    config.qps_margin = Duration::from_millis(25);
    // Enough calls in flight that every token finds a job waiting for it.
    config.concurrency = 2 * QPS as u16;
    let jobs = person_jobs("cold", JOBS);
    env.publish_jobs(&jobs).await;
    let worker = env.start_worker_with(config).await;
    eventually("every job settled", Duration::from_secs(60), || async {
        (env.rows().await.len() as u64 == JOBS).then_some(())
    })
    .await;
    worker.stop().await;
    let settled = env.assert_batch_settled(&jobs).await;
    let stats = env.mock.stats();
    println!(
        "{JOBS} jobs at {QPS} QPS through 400 ms handshakes: most in a sliding second {}, \
         throttled {}, calls {}",
        stats.max_calls_in_sliding_second, stats.throttled, settled.calls
    );
    assert_eq!(stats.throttled, 0, "calls were throttled: {stats:?}");
    assert!(
        stats.max_calls_in_sliding_second <= u64::from(QPS),
        "{} calls in one sliding second against {QPS}",
        stats.max_calls_in_sliding_second
    );
    assert_eq!(settled.calls, JOBS, "one call per job");
    env.cleanup().await;
}

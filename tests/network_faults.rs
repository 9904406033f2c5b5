//! The worker between fault-injecting proxies for RabbitMQ, PostgreSQL and the
//! upstream: connections reset, a stalled database, latency beyond the client
//! timeout. After each fault every job has one row and a completion, nothing is
//! left in the queue, and the upstream was called once per job except for calls
//! cut in flight, which are counted and bounded by the failed attempts.
//!
//! Each test prints a `REPORT` line (run with `--nocapture`); docs/faults.md
//! records the numbers.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "worker/helpers.rs"]
mod helpers;

use std::net::SocketAddr;
use std::time::Duration;

use fault_proxy::FaultProxy;
use helpers::{person_jobs, SettledBatch, TestEnv};
use id2meta::config::Config;
use id2meta::mock::MockConfig;

/// Jobs per scenario.
const JOBS: u64 = 200;
/// Rows stored before the fault strikes: mid-batch.
const FAULT_AFTER_ROWS: usize = 50;
const SETTLE_WITHIN: Duration = Duration::from_secs(90);

/// A test environment whose worker reaches every service through a proxy.
struct Rig {
    env: TestEnv,
    broker: FaultProxy,
    database: FaultProxy,
    upstream: FaultProxy,
}

impl Rig {
    async fn new() -> Self {
        // Some latency keeps calls in flight when a fault strikes.
        let env = TestEnv::new(MockConfig {
            latency: Duration::from_millis(30),
            ..MockConfig::default()
        })
        .await;
        let broker = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5672))).await;
        let database = FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
        let upstream = FaultProxy::start(env.mock.addr).await;
        Self {
            env,
            broker,
            database,
            upstream,
        }
    }

    /// The environment's configuration with every URL through its proxy, paced so
    /// the batch lasts a few seconds.
    fn worker_config(&self) -> Config {
        let mut config = self.env.config.clone();
        let through = |url: &str, service: &str, proxy: &FaultProxy| {
            assert!(url.contains(service), "{service} not in the test URL");
            url.replace(service, &proxy.addr().to_string())
        };
        config.amqp_url = through(&config.amqp_url, "127.0.0.1:5672", &self.broker);
        config.database_url = through(&config.database_url, "127.0.0.1:5432", &self.database);
        config.endpoint = format!("http://{}", self.upstream.addr());
        config.qps = 100.0;
        config
    }

    /// Runs a batch; `fault` strikes once a quarter of it is stored, and must
    /// leave the proxies healthy again. Returns the settled batch.
    async fn batch_with_fault(
        &self,
        name: &str,
        config: Config,
        fault: impl AsyncFnOnce(&Rig),
    ) -> SettledBatch {
        let worker = self.env.start_worker_with(config).await;
        let jobs = person_jobs(name, JOBS);
        self.env.publish_jobs(&jobs).await;
        self.env
            .wait_for_rows(FAULT_AFTER_ROWS, SETTLE_WITHIN)
            .await;
        fault(self).await;
        self.env.wait_for_rows(jobs.len(), SETTLE_WITHIN).await;
        worker.stop().await;
        self.env.assert_batch_settled(&jobs).await
    }
}

fn report(scenario: &str, batch: &SettledBatch, extra: &str) {
    println!(
        "REPORT {scenario}: jobs {JOBS}, rows {}, completed {}, upstream calls {}, \
         excess calls {}, attempts {}{extra}",
        batch.rows.len(),
        batch.completed,
        batch.calls,
        batch.calls as i64 - JOBS as i64,
        batch.attempts,
    );
}

/// Resets every connection through one proxy mid-batch; returns the rig (for more
/// checks) once the batch is settled with exactly one call per job.
async fn reset_mid_batch(scenario: &str, proxy: fn(&Rig) -> &FaultProxy) -> Rig {
    let rig = Rig::new().await;
    let mut reset = 0;
    let batch = rig
        .batch_with_fault(scenario, rig.worker_config(), async |rig| {
            reset = proxy(rig).reset_all();
        })
        .await;
    report(scenario, &batch, &format!(", connections reset {reset}"));
    assert!(reset >= 1, "the worker had no connection to reset");
    assert_eq!(batch.calls, JOBS, "a job was called twice");
    rig
}

#[tokio::test]
async fn a_broker_connection_reset_mid_batch_is_survived_without_a_second_call() {
    let rig = reset_mid_batch("broker-reset", |rig| &rig.broker).await;
    assert!(
        rig.broker.stats().accepted >= 2,
        "the worker did not reconnect"
    );
    rig.env.cleanup().await;
}

#[tokio::test]
async fn a_database_connection_reset_mid_batch_is_survived_without_a_second_call() {
    let rig = reset_mid_batch("database-reset", |rig| &rig.database).await;
    assert!(
        rig.database.stats().accepted > rig.database.stats().reset,
        "the worker did not reconnect"
    );
    rig.env.cleanup().await;
}

#[tokio::test]
async fn a_database_stalled_for_three_seconds_delays_jobs_but_loses_and_repeats_none() {
    let rig = Rig::new().await;
    let mut stalled_rows = (0, 0);
    let batch = rig
        .batch_with_fault("db-stall", rig.worker_config(), async |rig| {
            rig.database.stall();
            // A commit already past the proxy may still land; after that, nothing.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = rig.env.rows().await.len();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            stalled_rows = (before, rig.env.rows().await.len());
            rig.database.release();
        })
        .await;
    report(
        "database stall 3 s",
        &batch,
        &format!(
            ", rows during the stall {} -> {}",
            stalled_rows.0, stalled_rows.1
        ),
    );
    assert_eq!(
        stalled_rows.0, stalled_rows.1,
        "rows were stored through a stall"
    );
    assert_eq!(batch.calls, JOBS, "a job was called twice");
    rig.env.cleanup().await;
}

/// Attempts beyond the first, one per transient failure (all faults here are such).
fn failed_attempts(batch: &SettledBatch) -> i64 {
    batch.attempts - JOBS as i64
}

/// Extra calls are the failed attempts the mock answered anyway; no job is called
/// again after its verdict, and every job ends with one.
fn assert_excess_bounded_by_failed_attempts(batch: &SettledBatch) {
    let excess = batch.calls as i64 - JOBS as i64;
    assert!(
        (0..=failed_attempts(batch)).contains(&excess),
        "excess calls {excess} beyond the {} failed attempts",
        failed_attempts(batch)
    );
    let verdicts = ["match", "mismatch", "not_found"];
    assert!(
        batch
            .rows
            .iter()
            .all(|r| verdicts.contains(&r.status.as_str())),
        "a job did not end with a verdict"
    );
}

#[tokio::test]
async fn a_latency_spike_beyond_the_timeout_is_retried_and_extra_calls_stay_within_the_timeouts() {
    let rig = Rig::new().await;
    let mut config = rig.worker_config();
    config.request_timeout = Duration::from_secs(1);
    let batch = rig
        .batch_with_fault("latency", config, async |rig| {
            // Answers delayed, not requests: every timed-out call reached the mock
            // and was answered (billed), the worst case for excess calls.
            rig.upstream.set_answer_latency(Duration::from_millis(1500));
            tokio::time::sleep(Duration::from_secs(3)).await;
            rig.upstream.restore();
        })
        .await;
    let timeouts = failed_attempts(&batch);
    report(
        "upstream latency 1.5 s over a 1 s timeout",
        &batch,
        &format!(", timed-out attempts {timeouts}"),
    );
    assert!(timeouts > 0, "no call timed out: the spike did not bite");
    assert_excess_bounded_by_failed_attempts(&batch);
    rig.env.cleanup().await;
}

#[tokio::test]
async fn upstream_connection_resets_are_retried_and_extra_calls_stay_within_the_failures() {
    let rig = Rig::new().await;
    let mut reset = 0;
    let batch = rig
        .batch_with_fault("upstream-reset", rig.worker_config(), async |rig| {
            for _ in 0..3 {
                reset += rig.upstream.reset_all();
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
        .await;
    report(
        "upstream connection resets x3",
        &batch,
        &format!(
            ", connections reset {reset}, failed attempts {}",
            failed_attempts(&batch)
        ),
    );
    assert!(reset >= 1, "the worker had no upstream connection to reset");
    assert_excess_bounded_by_failed_attempts(&batch);
    rig.env.cleanup().await;
}

//! Workers as real processes, stopped the two ways production stops them: SIGKILL
//! (a crash, an OOM kill) and SIGTERM (a deploy, a scale-down). Real PostgreSQL and
//! RabbitMQ, the mock upstream in this process; each test has its own database
//! and queue names.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use id2meta::mock::MockConfig;

use support::{WorkerProcess, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_redelivered_after_a_worker_is_killed_mid_batch_completes_once() {
    const JOBS: u64 = 300;
    const CONCURRENCY: u64 = 16;
    let world = World::new(MockConfig {
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await;
    let job_ids = world.publish_people(JOBS).await;
    // A short lease: the claims the killed worker held are taken over within seconds.
    let concurrency = CONCURRENCY.to_string();
    let settings = [
        ("ID2META_QPS", "400"),
        ("ID2META_CONCURRENCY", concurrency.as_str()),
        ("ID2META_LEASE_SECS", "2"),
        // A lease must be at least twice the request timeout.
        ("ID2META_REQUEST_TIMEOUT_MS", "1000"),
    ];
    let first = WorkerProcess::start(&world, &settings).await;
    let rows_at_kill = world
        .wait_for_rows(JOBS as i64 / 3, Duration::from_secs(30))
        .await;
    first.kill().await;
    let calls_at_kill = world.mock.stats().calls;
    assert!(
        rows_at_kill < JOBS as i64,
        "the batch finished before the kill"
    );

    let second = WorkerProcess::start(&world, &settings).await;
    world
        .wait_for_rows(JOBS as i64, Duration::from_secs(40))
        .await;
    // Stopped, the worker has acknowledged or returned everything it held.
    second.stop(Duration::from_secs(15)).await;

    let calls = world.assert_settled_once(&job_ids).await;
    // Only a job whose call was under way at the kill can be called twice (its
    // answer died with the worker), and no more jobs than the prefetch were under way.
    let excess = calls.saturating_sub(JOBS);
    println!(
        "killed at {rows_at_kill} rows after {calls_at_kill} upstream calls; \
         {calls} calls for {JOBS} jobs: {excess} paid twice"
    );
    assert!(
        excess <= CONCURRENCY,
        "{excess} jobs billed twice, more than the {CONCURRENCY} that can be in flight"
    );
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_batch_exits_zero_within_the_deadline_and_bills_no_job_twice() {
    const JOBS: u64 = 200;
    const DEADLINE_SECS: u64 = 10;
    let world = World::new(MockConfig {
        latency: Duration::from_millis(100),
        ..MockConfig::default()
    })
    .await;
    let job_ids = world.publish_people(JOBS).await;
    let deadline = DEADLINE_SECS.to_string();
    let settings = [
        ("ID2META_QPS", "100"),
        ("ID2META_CONCURRENCY", "20"),
        ("ID2META_SHUTDOWN_DEADLINE_SECS", deadline.as_str()),
        // Long: a job must never be taken over because its claim ran out here.
        ("ID2META_LEASE_SECS", "60"),
    ];
    let mut first = WorkerProcess::start(&world, &settings).await;
    let rows_at_term = world.wait_for_rows(10, Duration::from_secs(30)).await;
    let asked = Instant::now();
    first.terminate().await;
    let status = first
        .wait_exit(Duration::from_secs(DEADLINE_SECS + 2))
        .await;
    let took = asked.elapsed();
    assert!(
        status.success(),
        "SIGTERM ended the worker with {status}:\n{}",
        first.log_tail(30)
    );
    let rows_at_exit = world.row_count().await;
    assert!(
        rows_at_exit < JOBS as i64,
        "the batch finished before the SIGTERM took effect"
    );

    let second = WorkerProcess::start(&world, &settings).await;
    world
        .wait_for_rows(JOBS as i64, Duration::from_secs(40))
        .await;
    second.stop(Duration::from_secs(DEADLINE_SECS + 2)).await;

    let calls = world.assert_settled_once(&job_ids).await;
    println!(
        "SIGTERM at {rows_at_term} rows; exited in {took:?} with {rows_at_exit} rows; \
         {calls} upstream calls for {JOBS} jobs"
    );
    assert_eq!(
        calls, JOBS,
        "upstream calls must equal jobs: none billed twice"
    );
    world.cleanup().await;
}

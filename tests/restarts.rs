//! The worker survives a RabbitMQ restart and a PostgreSQL restart mid-batch
//! without a human: it reports not-ready while disconnected, reconnects, and the
//! batch completes with one row per job and no job billed twice.
//!
//! These tests stop the machine's shared services, so they run only with
//! `ID2META_DISRUPTIVE_TESTS=1`, alone (`cargo test --test restarts`), one at a
//! time, and a guard starts the services again even when a test fails.

#[path = "support/services.rs"]
mod services;
#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use id2meta::mock::MockConfig;
use tokio::sync::Mutex;

use support::{WorkerProcess, World};

const JOBS: u64 = 300;
/// When the disruption starts: well into the batch, well before its end.
const ROWS_BEFORE_DISRUPTION: i64 = 40;

/// One disruption at a time: they share the services.
static SERVICES: Mutex<()> = Mutex::const_new(());

fn disruptive_tests_enabled() -> bool {
    let enabled = std::env::var("ID2META_DISRUPTIVE_TESTS").as_deref() == Ok("1");
    if !enabled {
        println!("skipped: set ID2META_DISRUPTIVE_TESTS=1 to restart RabbitMQ and PostgreSQL");
    }
    enabled
}

/// A world with a batch queued and a worker on it, paced to last about fifteen seconds.
async fn a_batch_under_way() -> (World, Vec<String>, WorkerProcess) {
    let world = World::new(MockConfig {
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await;
    let job_ids = world.publish_people(JOBS).await;
    let worker = WorkerProcess::start(
        &world,
        &[
            ("ID2META_QPS", "20"),
            ("ID2META_CONCURRENCY", "16"),
            ("ID2META_LEASE_SECS", "15"),
            // A lease must be at least twice the request timeout.
            ("ID2META_REQUEST_TIMEOUT_MS", "5000"),
        ],
    )
    .await;
    world
        .wait_for_rows(ROWS_BEFORE_DISRUPTION, Duration::from_secs(30))
        .await;
    (world, job_ids, worker)
}

/// Waits for the batch to complete, stops the worker and checks every job settled
/// once, with one upstream call each.
async fn the_batch_completes(world: World, job_ids: &[String], worker: WorkerProcess, what: &str) {
    world
        .wait_for_rows(JOBS as i64, Duration::from_secs(60))
        .await;
    worker.stop(Duration::from_secs(30)).await;
    let calls = world.assert_settled_once(job_ids).await;
    println!("{what}: {calls} upstream calls for {JOBS} jobs");
    assert_eq!(calls, JOBS, "{what}: a job was billed twice");
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_restart_mid_batch_makes_the_worker_unready_then_the_batch_completes() {
    if !disruptive_tests_enabled() {
        return;
    }
    let _one_at_a_time = SERVICES.lock().await;
    let _restore = services::Restore;
    let (world, job_ids, mut worker) = a_batch_under_way().await;

    services::stop_broker().await;
    worker.wait_readyz(503, Duration::from_secs(15)).await;
    let rows_during = world.row_count().await;
    services::start_broker().await;
    worker.wait_readyz(200, Duration::from_secs(45)).await;
    println!("broker restarted with {rows_during} rows stored");

    the_batch_completes(world, &job_ids, worker, "RabbitMQ restart").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_mid_batch_is_ridden_out_and_the_batch_completes() {
    if !disruptive_tests_enabled() {
        return;
    }
    let _one_at_a_time = SERVICES.lock().await;
    let _restore = services::Restore;
    let (world, job_ids, mut worker) = a_batch_under_way().await;

    services::restart_database().await;
    let rows_after = world.row_count().await;
    worker.wait_readyz(200, Duration::from_secs(30)).await;
    println!("database restarted with {rows_after} rows stored");

    the_batch_completes(world, &job_ids, worker, "PostgreSQL restart").await;
}

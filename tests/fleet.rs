//! The fleet at its edges (issue 19), with worker processes against the mock's
//! strict sliding window: more replicas than calls per second (the newest stand
//! by and take no jobs, every job is processed, the budget is used), and a
//! replica frozen with SIGSTOP while others keep the budget flowing.
//!
//! Quick forms for CI; `ID2META_TEST_FULL=1` runs the sizes (the timings
//! live in `id2meta bench`'s fleet section and `docs/benchmarks.md`).

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use id2meta::mock::{MockConfig, QpsWindow};
use support::{WorkerProcess, World};

fn full() -> bool {
    std::env::var("ID2META_TEST_FULL").is_ok_and(|v| v == "1")
}

fn strict_mock(qps: u32) -> MockConfig {
    MockConfig {
        qps_limit: Some(qps),
        qps_window: QpsWindow::Sliding,
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    }
}

/// A loaded test machine delays some requests by more than the default margin
/// (see tests/replicas.rs).
fn settings(qps: &str) -> [(&str, &str); 4] {
    [
        ("ID2META_QPS", qps),
        ("ID2META_QPS_MARGIN_MS", "25"),
        ("ID2META_LEASE_SECS", "3"),
        ("ID2META_REQUEST_TIMEOUT_MS", "1000"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_replicas_sharing_four_calls_a_second_process_every_job_without_a_throttled_call() {
    let (replicas, jobs) = if full() { (8, 120) } else { (6, 24) };
    let world = World::new(strict_mock(4)).await;
    let settings = settings("4");
    let mut workers = Vec::new();
    for _ in 0..replicas {
        workers.push(WorkerProcess::start(&world, &settings).await);
    }
    let job_ids = world.publish_people(jobs).await;
    let started = Instant::now();
    // At four calls a second: 30 s for 120 jobs; jobs held by a replica without
    // a share would wait for ever.
    world
        .wait_for_rows(jobs as i64, Duration::from_secs(jobs / 2 + 60))
        .await;
    let took = started.elapsed();
    let standing_by = {
        let mut n = 0;
        for w in &workers {
            if w.log_tail(400).contains("standing by") {
                n += 1;
            }
        }
        n
    };
    for w in workers {
        w.stop(Duration::from_secs(15)).await;
    }
    let stats = world.mock.stats();
    println!(
        "{replicas} replicas at 4 QPS: {jobs} jobs in {took:?}; {standing_by} stood by; \
         most in any sliding second {}; throttled {}",
        stats.max_calls_in_sliding_second, stats.throttled
    );
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert!(stats.max_calls_in_sliding_second <= 4);
    assert!(standing_by >= 1, "a replica without a share stood by");
    world.assert_settled_once(&job_ids).await;
    world.cleanup().await;
}

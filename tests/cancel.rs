//! `id2meta batch ID --cancel` in the middle of a batch, across two replicas: the
//! calls stop, the rest of the batch (and jobs of it that arrive later) settle as
//! `cancelled` with a row and a completion each, and no call is made for them.

#[allow(unused_imports)] // the process harness is not used here
#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use id2meta::mock::{self, MockConfig};
use id2meta::queue::{self, Publisher};
use id2meta::store::ResultRow;
use support::World;
use tokio_util::sync::CancellationToken;

/// Publishes jobs `prefix-0000…` for people `from..from + count` of batch `b1`.
async fn publish(world: &World, prefix: &str, from: u64, count: u64) -> Vec<String> {
    let connection = queue::connect(&world.config.amqp_url, "test")
        .await
        .expect("broker");
    let publisher = Publisher::open(
        &connection,
        &world.config.results_exchange,
        &world.config.dead_letter_queue(),
    )
    .await
    .expect("publisher");
    let jobs: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| {
            let job_id = format!("{prefix}-{i:04}");
            let (name, id_number, _) = mock::population::person(from + i);
            let job = serde_json::json!({
                "job_id": job_id, "name": name, "id_number": id_number, "batch_id": "b1"
            });
            (job_id, serde_json::to_vec(&job).expect("json"))
        })
        .collect();
    futures_util::stream::iter(
        jobs.iter()
            .map(|(job_id, body)| publisher.publish_job(&world.config.jobs_queue, job_id, body)),
    )
    .buffer_unordered(64)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .for_each(|published| published.expect("published"));
    let _ = connection.close(200, "done".into()).await;
    jobs.into_iter().map(|(job_id, _)| job_id).collect()
}

async fn rows(world: &World) -> Vec<ResultRow> {
    world
        .store
        .results(Some("b1"), 100_000)
        .await
        .expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_batch_makes_no_further_call_on_either_replica_and_every_job_settles_once() {
    const JOBS: u64 = 200;
    let mut world = World::new(MockConfig {
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await;
    // 20 calls/s: the batch would take 10 s, so the cancel lands in its middle.
    world.config.qps = 20.0;
    world.config.concurrency = 8;
    world.config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let shutdown = CancellationToken::new();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            id2meta::app::start(world.config.clone(), shutdown.clone())
                .await
                .expect("a replica starts"),
        );
    }
    let mut job_ids = publish(&world, "job", 0, JOBS).await;
    world.wait_for_rows(30, Duration::from_secs(60)).await;

    // The operator's command, as a user runs it.
    let cancel = std::process::Command::new(env!("CARGO_BIN_EXE_id2meta"))
        .args(["batch", "b1", "--cancel"])
        .env("DATABASE_URL", &world.config.database_url)
        .output()
        .expect("the binary runs");
    assert!(
        cancel.status.success(),
        "batch --cancel failed: {}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    let cancelled_at = world
        .store
        .batch_cancelled_at("b1")
        .await
        .expect("read")
        .expect("the batch is recorded as cancelled");

    // The rest of the batch settles quickly once the cancel is seen.
    world
        .wait_for_rows(JOBS as i64, Duration::from_secs(60))
        .await;
    let calls_when_settled = world.mock.stats().calls;

    // Jobs of the batch that arrive after the cancel are cancelled too, without a call.
    let late = publish(&world, "late", JOBS, 20).await;
    job_ids.extend(late.iter().cloned());
    world
        .wait_for_rows(JOBS as i64 + 20, Duration::from_secs(60))
        .await;
    shutdown.cancel();
    for replica in replicas {
        replica.wait().await.expect("a replica stops cleanly");
    }
    let calls = world.mock.stats().calls;
    assert_eq!(
        calls, calls_when_settled,
        "an upstream call was made after the whole batch had settled"
    );

    let rows = rows(&world).await;
    let by_id: HashMap<&str, &ResultRow> = rows.iter().map(|r| (r.job_id.as_str(), r)).collect();
    let cancelled: Vec<&ResultRow> = rows.iter().filter(|r| r.status == "cancelled").collect();
    let verdicts = rows.len() - cancelled.len();
    println!(
        "{verdicts} verdicts, {} cancelled, {calls} calls",
        cancelled.len()
    );
    assert!(verdicts >= 30, "the calls before the cancel are kept");
    assert!(!cancelled.is_empty(), "the cancel cancelled nothing");
    for job_id in &late {
        assert_eq!(by_id[job_id.as_str()].status, "cancelled", "{job_id}");
    }
    for row in &rows {
        assert!(
            ["match", "mismatch", "not_found", "cancelled"].contains(&row.status.as_str()),
            "{} ended {}",
            row.job_id,
            row.status
        );
        // Every row names the queue its job came from, cancelled ones included.
        assert_eq!(row.queue.as_deref(), Some(world.config.jobs_queue.as_str()));
        // No call was made for a cancelled job (the mock injects no failures, so a
        // cancelled job's earlier calls would show as attempts).
        if row.status == "cancelled" {
            assert_eq!(row.attempts, 0, "{} was called, then cancelled", row.job_id);
            assert_eq!(row.upstream_code, None);
        }
        // The contract's bound is a second; three leave room for a loaded machine.
        if row.received_at > cancelled_at + chrono::Duration::seconds(3) {
            assert_eq!(
                row.status, "cancelled",
                "{} was called after the cancel",
                row.job_id
            );
        }
    }
    // Every call made a verdict row, one each: nothing was called for a cancelled job.
    let attempts: i64 = rows.iter().map(|r| i64::from(r.attempts)).sum();
    assert_eq!(attempts as u64, calls, "calls and recorded attempts differ");
    assert_eq!(verdicts as u64, calls, "one call per verdict");

    // One row per job, nothing left queued, and the completions say what the rows say.
    let mut stored = world.stored_job_ids().await;
    stored.sort();
    job_ids.sort();
    assert_eq!(stored, job_ids, "one row per job");
    assert_eq!(world.jobs_waiting().await, 0, "jobs left in the queue");
    let completions = world.completions().await;
    let completed: std::collections::HashSet<&str> =
        completions.iter().map(|c| c.job_id.as_str()).collect();
    assert_eq!(completed.len(), job_ids.len(), "a completion for every job");
    for completion in &completions {
        let row = by_id[completion.job_id.as_str()];
        assert_eq!(completion.status, row.status, "{}", completion.job_id);
        assert_eq!(completion.attempts, row.attempts, "{}", completion.job_id);
    }
    world.cleanup().await;
}

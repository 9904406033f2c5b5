//! A three-node RabbitMQ cluster loses the node that leads the job queue in the
//! middle of a batch, and gets it back later: the quorum queue fails over to a
//! follower, the worker (connected to a follower) carries on, and the batch
//! completes with one row per job, nothing lost, no job billed twice.
//!
//! The cluster is `scripts/cluster.sh` (nodes `id2meta-c1..3@localhost` on AMQP
//! ports 5681-5683, beside the machine's main RabbitMQ, which is left alone).
//! The test starts it when it is not running, which takes one to three
//! minutes, so it runs only with `ID2META_CLUSTER_TESTS=1`. It leaves the
//! cluster running for the next run; `scripts/cluster.sh stop` removes it.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use id2meta::mock::MockConfig;
use tokio::process::Command;

use support::{WorkerProcess, World};

const JOBS: u64 = 300;
/// Jobs in flight in the worker, hence the most calls a redelivery may repeat.
const CONCURRENCY: u64 = 16;
/// When the leader is stopped: well into the batch, well before its end.
const ROWS_BEFORE_FAILOVER: i64 = 40;
/// Rows stored with the old leader down, to show the batch went on without it.
const ROWS_DURING_FAILOVER: i64 = 20;

fn cluster_tests_enabled() -> bool {
    let enabled = std::env::var("ID2META_CLUSTER_TESTS").as_deref() == Ok("1");
    if !enabled {
        println!("skipped: set ID2META_CLUSTER_TESTS=1 to run the three-node cluster test");
    }
    enabled
}

/// Runs `scripts/cluster.sh ARGS`; panics with its output if it fails; returns stdout.
async fn cluster(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh");
    let output = Command::new(script)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{script} could not run: {e}"));
    assert!(
        output.status.success(),
        "cluster.sh {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `1` for `id2meta-c1@localhost`.
fn node_number(node: &str) -> u16 {
    node.strip_prefix("id2meta-c")
        .and_then(|rest| rest.split('@').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a cluster node: {node:?}"))
}

fn amqp_url(node: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{}/%2f", 5680 + node)
}

async fn leader(queue: &str) -> u16 {
    node_number(cluster(&["leader", queue]).await.trim())
}

async fn members(queue: &str) -> BTreeSet<u16> {
    cluster(&["members", queue])
        .await
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| node_number(line.trim()))
        .collect()
}

/// On drop (the test's end, or its panic), starts the node the test stopped.
struct Restore(u16);

impl Drop for Restore {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh");
        let _ = std::process::Command::new(script)
            .args(["start-node", &self.0.to_string()])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_job_queues_leader_mid_batch_loses_nothing_and_bills_nothing_twice() {
    if !cluster_tests_enabled() {
        return;
    }
    let began = Instant::now();
    cluster(&["start"]).await;
    let cluster_up = began.elapsed();

    // The world declares its topology and publishes through c1 while all three
    // nodes are up, so the job queue has a replica on each and (the default
    // client-local placement) its leader on c1. Only this test runs in this binary.
    std::env::set_var("AMQP_URL", amqp_url(1));
    let mut world = World::new(MockConfig {
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    })
    .await;
    let queue = world.config.jobs_queue.clone();
    assert_eq!(
        members(&queue).await,
        BTreeSet::from([1, 2, 3]),
        "the job queue is not replicated on all three nodes"
    );
    let old_leader = leader(&queue).await;
    let follower = (1..=3).find(|n| *n != old_leader).expect("a follower");
    // Everything after this goes through the follower: the old leader will be down.
    world.config.amqp_url = amqp_url(follower);
    let job_ids = world.publish_people(JOBS).await;

    let batch_began = Instant::now();
    let worker = WorkerProcess::start(
        &world,
        &[
            ("AMQP_URL", &amqp_url(follower)),
            // Slow enough that the old leader is back before the batch ends.
            ("ID2META_QPS", "4"),
            ("ID2META_CONCURRENCY", &CONCURRENCY.to_string()),
            ("ID2META_LEASE_SECS", "15"),
        ],
    )
    .await;
    let rows_before_stop = world
        .wait_for_rows(ROWS_BEFORE_FAILOVER, Duration::from_secs(60))
        .await;

    let _restore = Restore(old_leader);
    let stopping = Instant::now();
    cluster(&["stop-node", &old_leader.to_string()]).await;
    let rows_at_stop = world.row_count().await;
    let stop_took = stopping.elapsed();
    let new_leader = leader(&queue).await;
    assert_ne!(new_leader, old_leader, "the queue kept a stopped leader");
    let rows_down = world
        .wait_for_rows(rows_at_stop + ROWS_DURING_FAILOVER, Duration::from_secs(90))
        .await;

    let restarting = Instant::now();
    cluster(&["start-node", &old_leader.to_string()]).await;
    let restart_took = restarting.elapsed();
    let rows_back = world.row_count().await;

    world
        .wait_for_rows(JOBS as i64, Duration::from_secs(180))
        .await;
    let batch_took = batch_began.elapsed();
    worker.stop(Duration::from_secs(30)).await;
    assert_eq!(
        members(&queue).await,
        BTreeSet::from([1, 2, 3]),
        "the old leader did not rejoin the queue"
    );
    let calls = world.assert_settled_once(&job_ids).await;
    println!(
        "cluster: up in {cluster_up:?}; leader c{old_leader} stopped from {rows_before_stop} rows \
         to {rows_at_stop} (stop took {stop_took:?}), new leader c{new_leader}, {rows_down} rows with it down; \
         back in {restart_took:?} at {rows_back} rows; {JOBS} jobs in {batch_took:?}, \
         {calls} upstream calls; test {:?}",
        began.elapsed()
    );
    assert!(
        calls <= JOBS + CONCURRENCY,
        "{calls} calls for {JOBS} jobs: billed twice beyond the {CONCURRENCY} in flight"
    );
    world.cleanup().await;
}

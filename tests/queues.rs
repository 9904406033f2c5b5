//! Several weighted job queues (contract revision 3, issue 22), with workers as
//! real processes against the strict mock (at most Q calls in any sliding
//! second): every named queue is consumed and recorded; three replicas split
//! the calls by weight while both queues have a backlog, and hand the whole
//! budget to the other queue once one empties.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use id2meta::mock::MockConfig;
use support::world::strict_mock;
use support::{WorkerProcess, World};

const WITHIN: Duration = Duration::from_secs(120);

/// (queue, completed_at) of every row, oldest first.
async fn settled(world: &World) -> Vec<(String, DateTime<Utc>)> {
    sqlx::query_as(
        "SELECT coalesce(queue, ''), completed_at FROM verification_results ORDER BY completed_at",
    )
    .fetch_all(world.store.pool())
    .await
    .expect("rows")
}

async fn metrics(worker: &WorkerProcess) -> String {
    id2meta::tls::get(format!("http://{}/metrics", worker.http_addr))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("a body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_consumes_every_weighted_queue_and_each_row_names_its_queue() {
    let mut world = World::new(MockConfig::default()).await;
    let (partner, weights) = world.weigh(1, "partner", 2);
    world.declare().await;
    let jobs_queue = world.config.jobs_queue.clone();
    let lane = world.config.interactive_queue();
    world.publish_people_to(&jobs_queue, "main-", 0..20).await;
    world.publish_people_to(&partner, "partner-", 20..50).await;
    world.publish_people_to(&lane, "lane-", 50..53).await;
    let worker = WorkerProcess::start(&world, &[("ID2META_QUEUE_WEIGHTS", &weights)]).await;
    world.wait_for_rows(53, WITHIN).await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT job_id, queue FROM verification_results")
            .fetch_all(world.store.pool())
            .await
            .expect("rows");
    for (job_id, queue) in &rows {
        let expected = match job_id.split('-').next() {
            Some("main") => &jobs_queue,
            Some("partner") => &partner,
            _ => &lane,
        };
        assert_eq!(queue, expected, "{job_id}");
    }
    let text = metrics(&worker).await;
    let line = format!("id2meta_queue_calls_total{{queue=\"{partner}\"}} 30");
    assert!(text.contains(&line), "no {line} in\n{text}");
    worker.stop(Duration::from_secs(30)).await;
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_split_the_budget_by_weight_and_a_queue_alone_gets_all_of_it() {
    const QPS: u32 = 40;
    const HEAVY: u64 = 480;
    const LIGHT: u64 = 450;
    const PREFETCH: usize = 16;
    let mut world = World::new(strict_mock(QPS)).await;
    // The jobs queue is the light one (1), `.heavy` has weight 3.
    let (heavy, weights) = world.weigh(1, "heavy", 3);
    world.declare().await;
    let light = world.config.jobs_queue.clone();
    world.publish_people_to(&heavy, "heavy-", 0..HEAVY).await;
    world
        .publish_people_to(&light, "light-", HEAVY..HEAVY + LIGHT)
        .await;
    let qps = QPS.to_string();
    let prefetch = PREFETCH.to_string();
    let settings = [
        ("ID2META_QPS", qps.as_str()),
        ("ID2META_QUEUE_WEIGHTS", weights.as_str()),
        ("ID2META_CONCURRENCY", prefetch.as_str()),
        // A loaded test machine delays some requests between token and arrival.
        ("ID2META_QPS_MARGIN_MS", "25"),
    ];
    let workers = WorkerProcess::start_many(&world, 3, &settings).await;
    world.wait_for_rows((HEAVY + LIGHT) as i64, WITHIN).await;
    for worker in workers {
        worker.stop(Duration::from_secs(30)).await;
    }
    // The budget's own bound is `tests/replicas.rs`'s to prove (a host loaded past
    // the margin can delay a request into the next window); this test is about
    // the split, which a throttled-and-retried call does not change.
    let stats = world.mock.stats();
    println!(
        "throttled {}, most in a sliding second {}",
        stats.throttled, stats.max_calls_in_sliding_second
    );

    let rows = settled(&world).await;
    let heavy_at: Vec<DateTime<Utc>> = rows
        .iter()
        .filter(|(q, _)| *q == heavy)
        .map(|(_, at)| *at)
        .collect();
    // Both queues have a backlog in the broker until the heavy one is down to
    // what the replicas hold (3 x prefetch): the fair split is promised up to there.
    let start = rows[0].1 + chrono::Duration::seconds(1);
    let backlog_ends = heavy_at[heavy_at.len() - 3 * PREFETCH];
    let ten = chrono::Duration::seconds(10);
    assert!(
        backlog_ends - start >= ten,
        "too short a run to measure: {:?}",
        backlog_ends - start
    );
    let mut from = start;
    let mut shares = Vec::new();
    while from + ten <= backlog_ends {
        let window: Vec<&String> = rows
            .iter()
            .filter(|(_, at)| *at >= from && *at < from + ten)
            .map(|(q, _)| q)
            .collect();
        let light_calls = window.iter().filter(|q| ***q == light).count();
        let share = light_calls as f64 / window.len() as f64;
        shares.push(share);
        assert!(
            (0.20..=0.30).contains(&share),
            "the light queue had {:.1} % of the {} calls from {from}",
            share * 100.0,
            window.len()
        );
        from += chrono::Duration::milliseconds(500);
    }
    println!("light shares over 10 s windows: {shares:.3?}");

    // Once the heavy queue's last call is made, the light one has the whole budget
    // within 2 s: the 2 s after that carry (nearly) Q calls a second, all its own.
    let emptied = heavy_at[heavy_at.len() - 1];
    let (after, until) = (
        emptied + chrono::Duration::seconds(2),
        emptied + chrono::Duration::seconds(4),
    );
    let light_after = rows
        .iter()
        .filter(|(q, at)| *q == light && *at >= after && *at < until)
        .count();
    let light_left = rows
        .iter()
        .filter(|(q, at)| *q == light && *at >= after)
        .count();
    assert!(
        light_left > 2 * QPS as usize,
        "the light backlog ran out first"
    );
    println!("light calls in the 2 s from 2 s after the heavy queue emptied: {light_after}");
    assert!(
        light_after as f64 >= 0.85 * 2.0 * f64::from(QPS),
        "only {light_after} light calls in 2 s once alone"
    );
    world.cleanup().await;
}

/// The people of region 110105 (every fifth of the mock's population): the
/// capped queue's jobs, whose calls the mock counts apart.
const CAPPED_REGION: &str = "110105";

fn of_region(first: u64, count: usize, capped: bool) -> Vec<u64> {
    (first..)
        .filter(|i| (i % 5 == 0) == capped)
        .take(count)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_of_ten_holds_in_every_sliding_second_across_three_replicas_and_the_rest_goes_to_the_other_queue(
) {
    const QPS: u32 = 40;
    const CAPPED: usize = 150;
    const OTHER: usize = 450;
    let mut world = World::new(strict_mock(QPS)).await;
    // Equal weights: without the cap, the backfill would take 20 calls a second.
    let (backfill, weights) = world.weigh(1, "backfill", 1);
    world.declare().await;
    let jobs = world.config.jobs_queue.clone();
    world
        .publish_people_to(&backfill, "capped-", of_region(0, CAPPED, true))
        .await;
    world
        .publish_people_to(&jobs, "other-", of_region(0, OTHER, false))
        .await;
    let qps = QPS.to_string();
    let caps = format!("{backfill}=10");
    let settings = [
        ("ID2META_QPS", qps.as_str()),
        ("ID2META_QUEUE_WEIGHTS", weights.as_str()),
        ("ID2META_QUEUE_CAPS", caps.as_str()),
        ("ID2META_CONCURRENCY", "16"),
        // The cap's bound is this test's to prove: a margin above the stalls of
        // a loaded 2-core host (at 25 ms a 9th call of a cap of 8 was seen once,
        // with the fleet's budget overshot by one in the same run).
        ("ID2META_QPS_MARGIN_MS", "60"),
    ];
    let workers = WorkerProcess::start_many(&world, 3, &settings).await;
    world.wait_for_rows((CAPPED + OTHER) as i64, WITHIN).await;
    for worker in workers {
        worker.stop(Duration::from_secs(30)).await;
    }
    let stats = world.mock.stats();
    let capped_most = stats.max_in_sliding_second_by_region[CAPPED_REGION];
    let rows = settled(&world).await;
    let span = |queue: &str| {
        let at: Vec<DateTime<Utc>> = rows
            .iter()
            .filter(|(q, _)| q == queue)
            .map(|(_, at)| *at)
            .collect();
        (at[at.len() - 1] - at[0]).num_milliseconds() as f64 / 1000.0
    };
    let (capped_span, other_span) = (span(&backfill), span(&jobs));
    println!(
        "capped queue: at most {capped_most} calls in a sliding second, {CAPPED} jobs over {capped_span:.1} s; \
         other queue: {OTHER} jobs over {other_span:.1} s; fleet at most {} in a second, throttled {}",
        stats.max_calls_in_sliding_second, stats.throttled
    );
    assert!(
        capped_most <= 10,
        "{capped_most} calls of the queue capped at 10 in one sliding second"
    );
    // The cap is used (three replicas' shares 4 + 3 + 3), not merely respected...
    assert!(
        capped_span <= CAPPED as f64 / 10.0 * 1.5,
        "the capped queue took {capped_span:.1} s"
    );
    // ...and what it leaves of the budget goes to the other queue: 450 jobs at
    // the 30 calls a second left, not at the 20 of an even split.
    assert!(
        other_span <= OTHER as f64 / 30.0 * 1.25,
        "the other queue took {other_span:.1} s"
    );
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_queue_alone_stays_under_its_cap_and_the_rest_of_the_budget_goes_unused() {
    const JOBS: usize = 40;
    let mut world = World::new(strict_mock(40)).await;
    let (backfill, weights) = world.weigh(1, "backfill", 1);
    world.declare().await;
    world
        .publish_people_to(&backfill, "capped-", of_region(0, JOBS, true))
        .await;
    let caps = format!("{backfill}=8");
    let settings = [
        ("ID2META_QPS", "40"),
        ("ID2META_QUEUE_WEIGHTS", weights.as_str()),
        ("ID2META_QUEUE_CAPS", caps.as_str()),
        // As above: the margin covers the loaded host's stalls.
        ("ID2META_QPS_MARGIN_MS", "60"),
    ];
    let workers = WorkerProcess::start_many(&world, 2, &settings).await;
    world.wait_for_rows(JOBS as i64, WITHIN).await;
    for worker in workers {
        worker.stop(Duration::from_secs(30)).await;
    }
    let stats = world.mock.stats();
    println!(
        "alone: at most {} calls in a sliding second of a cap of 8 (budget 40)",
        stats.max_calls_in_sliding_second
    );
    assert!(stats.max_calls_in_sliding_second <= 8);
    world.cleanup().await;
}

//! Issue 22's last test: under weighted queues the interactive lane still comes
//! strictly first. Three worker processes at Q = 40 against the strict mock (at
//! most 40 calls in any sliding second), two bulk queues at weights 3:1 both
//! backlogged, and interactive jobs published to `<jobs>.interactive` one at a
//! time, spaced out. What is asserted is an order (which rows settle before
//! which), not a time: `id2meta bench` section 11 measures the milliseconds.

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use support::world::strict_mock;
use support::{WorkerProcess, World};

const WITHIN: Duration = Duration::from_secs(120);
const QPS: u32 = 40;
const REPLICAS: usize = 3;
/// Jobs each replica holds of each bulk queue (its prefetch there). Small, so
/// that what the fleet holds, and with it the bound below, is small.
const CONCURRENCY: usize = 8;
const HEAVY: u64 = 900;
const LIGHT: u64 = 300;
const INTERACTIVE: u64 = 8;
/// Bulk rows that settle between one interactive job's row and the next one's publish.
const GAP: i64 = 20;
/// The most bulk rows that may settle between an interactive job's publish
/// (the broker's confirm) and its row. With the lane first, an interactive job
/// waits for no bulk job: only for the next call its replica's share allows
/// (about one in 75 ms at 40/3 calls a second), then its own 20 ms call.
/// Meanwhile the bulk rows that settle are those whose calls were already made
/// when it arrived and the other replicas' calls during its wait: a few. The
/// bound allows one prefetch of one queue on every replica, plus a few (about
/// 0.8 s of the fleet's calls: a loaded host's stall stays under it). Without
/// the lane first, the job would wait as a job of the jobs queue (the light
/// one, weight 1) behind its replica's up to 8 jobs of it, which get a quarter
/// of the replica's calls: about 2.5 s, some 100 bulk rows (measured: 97 to 108).
const OVERTAKEN_AT_MOST: i64 = (REPLICAS * CONCURRENCY) as i64 + 8;

/// Bulk rows settled between its publish and its row; heavy and light rows
/// settled by then; its row's priority and queue.
type Counts = (i64, i64, i64, String, String);

/// One interactive job: when its publish was confirmed, and its row's `completed_at`.
struct Sent {
    job_id: String,
    confirmed_at: DateTime<Utc>,
    completed_at: DateTime<Utc>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_jobs_overtake_two_weighted_backlogs_across_three_replicas() {
    let mut world = World::new(strict_mock(QPS)).await;
    // The jobs queue is the light one (1), `.heavy` has weight 3.
    let (heavy, weights) = world.weigh(1, "heavy", 3);
    world.declare().await;
    let light = world.config.jobs_queue.clone();
    let lane = world.config.interactive_queue();
    world.publish_people_to(&heavy, "heavy-", 0..HEAVY).await;
    world
        .publish_people_to(&light, "light-", HEAVY..HEAVY + LIGHT)
        .await;
    let (qps, concurrency) = (QPS.to_string(), CONCURRENCY.to_string());
    // The margin: a loaded test machine delays some requests between token and arrival.
    let workers = WorkerProcess::start_many(
        &world,
        REPLICAS,
        &[
            ("ID2META_QPS", &qps),
            ("ID2META_QUEUE_WEIGHTS", &weights),
            ("ID2META_CONCURRENCY", &concurrency),
            ("ID2META_QPS_MARGIN_MS", "25"),
        ],
    )
    .await;
    // Every replica holds its prefetch of both queues: the backlogs flow.
    let held = (REPLICAS * 2 * CONCURRENCY) as i64;
    world.wait_for_rows(held, WITHIN).await;

    let mut sent = Vec::new();
    for i in 0..INTERACTIVE {
        let person = HEAVY + LIGHT + i;
        let job_id = world
            .publish_people_to(&lane, "interactive-", [person])
            .await
            .remove(0);
        let confirmed_at = Utc::now();
        let completed_at = world.wait_for_row(&job_id, WITHIN).await;
        sent.push(Sent {
            job_id,
            confirmed_at,
            completed_at,
        });
        // Spaced out: the next one once the backlogs have moved on.
        let rows = world.row_count().await;
        world.wait_for_rows(rows + GAP, WITHIN).await;
    }
    for worker in workers {
        worker.stop(Duration::from_secs(30)).await;
    }

    // Counted once the workers stopped, so every row they wrote is in; all
    // printed before any assertion, so a failure shows every job's figures.
    let mut counted = Vec::new();
    for job in &sent {
        let counts: Counts = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE r.queue <> $3 AND r.completed_at > $1
                                       AND r.completed_at <= $2),
                    count(*) FILTER (WHERE r.queue = $4 AND r.completed_at <= $2),
                    count(*) FILTER (WHERE r.queue = $5 AND r.completed_at <= $2),
                    (SELECT priority FROM verification_results WHERE job_id = $6),
                    (SELECT queue FROM verification_results WHERE job_id = $6)
               FROM verification_results r",
        )
        .bind(job.confirmed_at)
        .bind(job.completed_at)
        .bind(&lane)
        .bind(&heavy)
        .bind(&light)
        .bind(&job.job_id)
        .fetch_one(world.store.pool())
        .await
        .expect("counts");
        let (overtaken, heavy_done, light_done, _, _) = &counts;
        println!(
            "{}: {overtaken} bulk rows settled meanwhile ({} ms); heavy {heavy_done}/{HEAVY}, light {light_done}/{LIGHT} done",
            job.job_id,
            (job.completed_at - job.confirmed_at).num_milliseconds()
        );
        counted.push(counts);
    }
    for (job, (overtaken, heavy_done, light_done, priority, queue)) in sent.iter().zip(counted) {
        assert_eq!(
            (priority.as_str(), queue.as_str()),
            ("interactive", lane.as_str())
        );
        assert!(
            overtaken <= OVERTAKEN_AT_MOST,
            "{overtaken} bulk rows settled between {}'s publish and its row (at most {OVERTAKEN_AT_MOST})",
            job.job_id
        );
        // Both backlogs still hold most of their jobs: it overtook them, not the end of one.
        assert!(
            heavy_done as u64 <= HEAVY / 2 && light_done as u64 <= LIGHT / 2,
            "{} settled after {heavy_done} heavy and {light_done} light rows",
            job.job_id
        );
    }
    world.cleanup().await;
}

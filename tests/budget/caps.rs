//! `ID2META_QUEUE_CAPS` through the budget, against PostgreSQL: the rule of the
//! heartbeat's per-queue claims case by case (a cap split by seniority and never
//! over-claimed, standby and leaving replicas, replicas that disagree), and
//! budget loops whose drivers call for a capped queue, joining and dying, with no
//! second holding more of its calls than the cap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::replicas::*;
use id2meta::budget::caps::{CapAllotment, Capped};
use id2meta::budget::membership::{self, Heartbeat};
use id2meta::budget::{Budget, BudgetSettings, Quota};
use id2meta::pipeline::limiter::Limiter;
use id2meta::pipeline::scheduler::Class;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const QUEUE: &str = "id2meta.jobs.backfill";
const WINDOW: Duration = Duration::from_millis(300);

fn capped(cap: f64) -> Capped {
    Capped {
        index: 1,
        queue: QUEUE.to_string(),
        quota: Quota::from_qps(cap),
        window: WINDOW,
    }
}

/// One heartbeat of replica `n` with the budget applied at `applied` and the
/// queue, capped at `cap`, at `queue_applied`.
async fn beat_capped(
    pool: &PgPool,
    beat: Heartbeat,
    cap: f64,
    queue_applied: u32,
) -> (u32, CapAllotment) {
    let (seen, queues) =
        membership::heartbeat_capped(pool, beat, &[capped(cap)], &[queue_applied], &[true])
            .await
            .expect("a heartbeat");
    (seen.allotment.allowed, queues[0])
}

/// What the queue's rows claim in all, as the rule counts them now.
async fn claimed(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(greatest(calls, CASE WHEN held_until > now() THEN held_calls ELSE 0 END)), 0)::bigint
           FROM worker_queue_claims WHERE queue = $1 AND counts_until > now()",
    )
    .bind(QUEUE)
    .fetch_one(pool)
    .await
    .expect("the claims")
}

/// Replicas `ids` beat in rounds, each applying at once what it was allowed (as
/// a replica does), until nothing changes; after every heartbeat the claims add
/// up to the cap at most. Returns each one's last allotment.
async fn settle(pool: &PgPool, beats: &[Heartbeat], cap: f64) -> Vec<CapAllotment> {
    let mut budget = vec![0; beats.len()];
    let mut queue = vec![0; beats.len()];
    let mut last = Vec::new();
    for _ in 0..20 {
        last.clear();
        let before = queue.clone();
        for (i, beat) in beats.iter().enumerate() {
            let (allowed, allotment) = beat_capped(
                pool,
                Heartbeat {
                    applied: budget[i],
                    ..*beat
                },
                cap,
                queue[i],
            )
            .await;
            budget[i] = allowed;
            queue[i] = allotment.allowed;
            last.push(allotment);
            let total = claimed(pool).await;
            assert!(
                total as f64 <= cap.floor(),
                "{total} claimed of a cap of {cap}"
            );
        }
        if queue == before && last.iter().all(|a| a.allowed == a.target) {
            return last;
        }
        // Lowered claims are held one window: the next round finds the room.
        tokio::time::sleep(WINDOW).await;
    }
    last
}

fn joined(n: u128, budget: u32) -> Vec<Heartbeat> {
    (1..=n)
        .map(|i| Heartbeat {
            qps: f64::from(budget),
            budget,
            ..beat(Uuid::from_u128(i), 0)
        })
        .collect()
}

#[tokio::test]
async fn a_cap_is_split_by_seniority_and_its_claims_never_add_up_to_more() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    let got = settle(&pool, &joined(3, 45), 10.0).await;
    let targets: Vec<(u32, u32, u32)> = got.iter().map(|a| (a.cap, a.target, a.allowed)).collect();
    assert_eq!(targets, [(10, 4, 4), (10, 3, 3), (10, 3, 3)]);
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn a_replica_on_standby_takes_no_share_of_a_cap() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    // A budget of 30 for three replicas: two shares of 15, the newest stands by.
    let got = settle(&pool, &joined(3, 30), 5.0).await;
    let targets: Vec<u32> = got.iter().map(|a| a.target).collect();
    assert_eq!(targets, [3, 2, 0]);
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn replicas_that_disagree_on_a_cap_keep_to_the_smallest() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    let beats = joined(2, 30);
    let (_, low) = beat_capped(&pool, beats[0], 4.0, 0).await;
    assert_eq!((low.cap, low.allowed), (4, 4));
    let (_, high) = beat_capped(&pool, beats[1], 10.0, 0).await;
    assert_eq!(high.cap, 4, "the smaller cap is in force");
    assert_eq!(high.allowed, 0, "the first claims all four");
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn a_leaving_replica_holds_its_queue_claim_for_a_window_then_frees_it() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    let beats = joined(2, 30);
    let got = settle(&pool, &beats, 10.0).await;
    assert_eq!((got[0].allowed, got[1].allowed), (5, 5));
    let leaving = Heartbeat {
        leaving: true,
        ..beats[0]
    };
    let (_, left) = beat_capped(&pool, leaving, 10.0, 0).await;
    assert_eq!((left.target, left.allowed), (0, 0));
    assert_eq!(
        claimed(&pool).await,
        10,
        "the five it used are held a window"
    );
    // The other one, at its half of the budget and of the cap.
    let other = Heartbeat {
        applied: 15,
        ..beats[1]
    };
    let (_, seen) = beat_capped(&pool, other, 10.0, 5).await;
    assert_eq!((seen.target, seen.allowed), (10, 5));
    tokio::time::sleep(WINDOW).await;
    let (_, other) = beat_capped(&pool, other, 10.0, 5).await;
    assert_eq!(other.allowed, 10);
    pool.close().await;
    db.drop().await;
}

/// A budget loop over a limiter whose queue 1 is capped, and a driver calling
/// for that queue as fast as it may.
struct CappedReplica {
    budget: Budget,
    stop: CancellationToken,
    driver: tokio::task::JoinHandle<()>,
    pool: PgPool,
}

async fn start_capped(db: &Database, index: usize, calls: &Calls) -> CappedReplica {
    let pool = db.pool().await;
    let quota = Quota::from_qps(Q);
    let settings = BudgetSettings::default();
    let limiter = Limiter::closed_weighted(quota.window(&settings), &[1, 1]);
    let cap = Capped::new(1, QUEUE, 10.0, settings.spread);
    limiter.cap_queue(1, cap.window);
    let stop = CancellationToken::new();
    let budget = Budget::start_capped(
        pool.clone(),
        Uuid::new_v4(),
        quota,
        vec![cap],
        limiter.clone(),
        settings,
        stop.clone(),
    );
    let calls = calls.clone();
    let driver = tokio::spawn(async move {
        loop {
            limiter.acquire_for(Class::Bulk(1)).await;
            calls.lock().expect("calls").push((index, Instant::now()));
        }
    });
    CappedReplica {
        budget,
        stop,
        driver,
        pool,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_of_ten_holds_in_every_second_while_replicas_join_and_one_dies() {
    let db = Database::fresh().await;
    let calls: Calls = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(start_capped(&db, i, &calls).await);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed_at = Instant::now();
    let dead = replicas.remove(0);
    dead.driver.abort();
    dead.budget.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let all = times(&calls);
    let busiest = busiest_second(&all);
    println!(
        "capped calls: {} in {:?}, busiest second {busiest}, after the kill {} in the last 2 s",
        all.len(),
        started.elapsed(),
        between(
            &all,
            Instant::now() - Duration::from_secs(2),
            Instant::now()
        )
    );
    assert!(
        busiest <= 10,
        "{busiest} calls of a queue capped at 10 in one second"
    );
    // The survivors take up the dead one's share of the cap.
    let late = between(
        &all,
        killed_at + Duration::from_secs(3),
        killed_at + Duration::from_secs(5),
    );
    assert!(
        late >= 18,
        "{late} capped calls in the 2 s from 3 s after the kill"
    );
    for r in replicas {
        r.driver.abort();
        r.stop.cancel();
        r.budget.wait().await;
        r.pool.close().await;
    }
    dead.pool.close().await;
    db.drop().await;
}

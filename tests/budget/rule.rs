//! The rule of `id2meta_budget_heartbeat`, case by case, against PostgreSQL: the
//! split by seniority, standby when replicas outnumber calls, room left by the
//! others' claims, older workers' rows, and one budget when replicas disagree.

use std::time::Duration;

use crate::replicas::*;
use id2meta::budget::membership::{self, Heartbeat, Sighting};
use sqlx::PgPool;
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

async fn heartbeat(pool: &PgPool, beat: Heartbeat) -> Sighting {
    membership::heartbeat(pool, beat)
        .await
        .expect("a heartbeat")
}

/// Replicas `1..=n` join in that order, each having applied nothing yet; then
/// each beats again, seeing all the rows: their targets, oldest first.
async fn targets_after_joining(pool: &PgPool, n: u128, budget: u32) -> Vec<u32> {
    let beat_of = |i| Heartbeat {
        qps: f64::from(budget),
        budget,
        ..beat(id(i), 0)
    };
    for i in 1..=n {
        heartbeat(pool, beat_of(i)).await;
        // joined_at is the transaction's start: keep the order unambiguous.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut targets = Vec::new();
    for i in 1..=n {
        targets.push(heartbeat(pool, beat_of(i)).await.allotment.target);
    }
    targets
}

#[tokio::test]
async fn targets_split_the_budget_by_seniority_and_the_newest_stand_by_when_replicas_outnumber_calls(
) {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    let targets = targets_after_joining(&pool, 8, 4).await;
    assert_eq!(
        targets,
        [4, 0, 0, 0, 0, 0, 0, 0],
        "a budget under the minimum share goes whole to the oldest"
    );
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn a_split_adds_up_to_the_budget_and_the_oldest_get_the_remainder() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    assert_eq!(targets_after_joining(&pool, 3, 50).await, [17, 17, 16]);
    pool.close().await;
    db.drop().await;
}

/// An interactive job waits for its own replica's next call, so no replica
/// takes a share under 15 calls per window (a spacing over 67 ms): the oldest
/// ⌊Q / 15⌋ split the budget and the others stand by (issue 19, item 5).
#[tokio::test]
async fn no_replica_takes_a_share_under_fifteen_calls_and_the_newest_stand_by_instead() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    assert_eq!(
        targets_after_joining(&pool, 8, 50).await,
        [17, 17, 16, 0, 0, 0, 0, 0]
    );
    pool.close().await;
    db.drop().await;
    let db = Database::fresh().await;
    let pool = db.pool().await;
    assert_eq!(targets_after_joining(&pool, 3, 35).await, [18, 17, 0]);
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn an_older_workers_row_is_counted_at_its_rounded_up_share_and_one_more() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    sqlx::query(
        "INSERT INTO worker_replicas (replica_id, heartbeat_at, calls) VALUES ($1, now(), NULL)",
    )
    .bind(id(1))
    .execute(&pool)
    .await
    .expect("an older worker's row");
    let seen = heartbeat(&pool, beat(id(2), 0)).await.allotment;
    // 30 over two is 15, counted as 16 for the older one: 14 left.
    assert_eq!((seen.live, seen.target, seen.allowed), (2, 15, 14));
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn replicas_that_disagree_on_the_qps_share_the_smallest() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    let low = Heartbeat {
        qps: 4.0,
        budget: 4,
        ..beat(id(1), 0)
    };
    assert_eq!(heartbeat(&pool, low).await.allotment.allowed, 4);
    // Started with 30: it counts the fleet's budget as 4, and sees the difference.
    let high = heartbeat(&pool, beat(id(2), 0)).await;
    assert_eq!(high.budget, 4);
    assert_eq!((high.qps_min, high.qps_max), (4.0, 30.0));
    assert!(high.disagreement());
    assert_eq!(high.allotment.allowed, 0, "the older one claims all four");
    // And one with a budget under one call per second: the others stand by.
    let slow = Heartbeat {
        qps: 0.5,
        budget: 1,
        period: Duration::from_secs(2),
        ..beat(id(3), 0)
    };
    heartbeat(&pool, slow).await;
    let high = heartbeat(&pool, beat(id(2), 0)).await;
    assert_eq!((high.budget, high.allotment.target), (0, 0));
    pool.close().await;
    db.drop().await;
}

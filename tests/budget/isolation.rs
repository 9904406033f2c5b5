//! The heartbeat holds nothing across round trips: concurrent heartbeats are kept
//! apart by serializable isolation, not by a lock, so whatever an outside session
//! holds stops at most the replica whose row it holds.

use std::time::{Duration, Instant};

use crate::replicas::*;
use id2meta::budget::membership;
use uuid::Uuid;

#[tokio::test]
async fn replicas_that_all_join_at_once_never_claim_more_than_the_budget_together() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    for round in 0..5 {
        // Eight newcomers' first heartbeats, at the same moment: under read
        // committed without a lock, each could see an empty table and take it all.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let beats: Vec<_> = (0..8)
            .map(|_| {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                tokio::spawn(async move {
                    let beat = beat(Uuid::new_v4(), 0);
                    barrier.wait().await;
                    membership::heartbeat(&pool, beat).await
                })
            })
            .collect();
        let mut granted = 0;
        for beat in beats {
            let seen = beat.await.expect("a heartbeat task").expect("a heartbeat");
            granted += seen.allotment.allowed;
        }
        assert!(
            granted <= Q as u32,
            "round {round}: {granted} granted at once"
        );
        sqlx::query("DELETE FROM worker_replicas")
            .execute(&pool)
            .await
            .expect("emptying the table");
    }
    pool.close().await;
    db.drop().await;
}

/// How long the outside session holds what it holds (the 60 s with
/// `ID2META_TEST_HOLD_SECS=60`; a few seconds in CI).
fn hold() -> Duration {
    let secs = std::env::var("ID2META_TEST_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

#[tokio::test]
async fn an_outside_session_holding_a_replicas_row_and_the_old_lock_stops_no_other_replica() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let replicas = vec![
        Replica::start(&db, 0, &calls).await,
        Replica::start(&db, 1, &calls).await,
        Replica::start(&db, 2, &calls).await,
    ];
    wait_until("all three joined", Duration::from_secs(8), || {
        replicas.iter().all(|r| r.limiter.is_open())
    })
    .await;
    // What the heartbeat once needed (the advisory lock every heartbeat took) and
    // what it needs now (replica 0's own row), held in an open transaction.
    let outsider = db.pool().await;
    let mut tx = outsider.begin().await.expect("an outside transaction");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(0x0069_6432_6d65_7461_i64)
        .execute(&mut *tx)
        .await
        .expect("taking the old lock");
    let held = sqlx::query("SELECT 1 FROM worker_replicas WHERE replica_id = $1 FOR UPDATE")
        .bind(replicas[0].id)
        .execute(&mut *tx)
        .await
        .expect("locking a row");
    assert_eq!(held.rows_affected(), 1);
    let since = Instant::now();
    let held_replica = replicas[0].limiter.clone();
    wait_until(
        "the replica whose row is held paused",
        Duration::from_secs(4),
        || !held_replica.is_open(),
    )
    .await;
    // The two others go on and take up its share once its row stops counting.
    sleep_until(since + Duration::from_secs(4).min(hold())).await;
    let until = since + hold();
    let from = until - Duration::from_secs(1);
    sleep_until(until).await;
    assert!(replicas[1].limiter.is_open() && replicas[2].limiter.is_open());
    let t = times(&calls);
    assert_budget_used(&t, from, until, "two replicas beside a held row");
    tx.rollback().await.expect("releasing");
    wait_until("the held replica back", Duration::from_secs(8), || {
        held_replica.is_open()
    })
    .await;
    let busiest = busiest_second(&times(&calls));
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    outsider.close().await;
    finish(db, replicas).await;
}

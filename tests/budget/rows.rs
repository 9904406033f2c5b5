//! The replica table's rows: marked as left at shutdown, a lowered claim held
//! until it no longer counts, and long-dead replicas forgotten.

use std::time::{Duration, Instant};

use crate::replicas::*;
use id2meta::budget::membership::{self};
use uuid::Uuid;

#[tokio::test]
async fn a_replica_that_shuts_down_closes_its_limiter_and_marks_its_row_as_left() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let replica = Replica::start(&db, 0, &calls).await;
    let limiter = replica.limiter.clone();
    wait_until("joined", Duration::from_secs(5), || limiter.is_open()).await;
    let pool = db.pool().await;
    let rows = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM worker_replicas WHERE left_at IS NULL AND calls > 0",
        )
        .fetch_one(&pool)
        .await
        .expect("counting rows")
    };
    assert_eq!(rows().await, 1);
    replica.shut_down().await;
    assert!(!limiter.is_open());
    assert_eq!(rows().await, 0);
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn a_newcomer_gets_room_only_once_the_old_replicas_lowered_claim_is_no_longer_held() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    let (old, new) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let allowed = |replica, applied| {
        let pool = pool.clone();
        async move {
            membership::heartbeat(&pool, beat(replica, applied))
                .await
                .expect("a heartbeat")
                .allotment
        }
    };
    assert_eq!(allowed(old, 0).await.allowed, 30, "alone: the whole budget");
    let joining = allowed(new, 0).await;
    assert_eq!((joining.live, joining.target, joining.allowed), (2, 15, 0));
    // The old replica is told to lower; until it reports that it did, it claims 30.
    assert_eq!(allowed(old, 30).await.allowed, 15);
    assert_eq!(allowed(new, 0).await.allowed, 0);
    // Reported: the 30 is held one window more (300 ms here) for the calls made under it.
    let reported = Instant::now();
    assert_eq!(allowed(old, 15).await.allowed, 15);
    let during = allowed(new, 0).await.allowed;
    if reported.elapsed() < Duration::from_millis(250) {
        assert_eq!(during, 0, "the held claim still counts");
    }
    tokio::time::sleep_until((reported + Duration::from_millis(350)).into()).await;
    assert_eq!(allowed(new, 0).await.allowed, 15);
    // A replica that stops heartbeating keeps its claim until its pause deadline
    // plus a window has passed, then its room is free.
    sqlx::query("UPDATE worker_replicas SET heartbeat_at = now() - interval '1700 milliseconds' WHERE replica_id = $1")
        .bind(old)
        .execute(&pool)
        .await
        .expect("ageing a row");
    assert_eq!(
        allowed(new, 15).await.allowed,
        15,
        "1.7 s silent still counts"
    );
    sqlx::query("UPDATE worker_replicas SET heartbeat_at = now() - interval '1900 milliseconds' WHERE replica_id = $1")
        .bind(old)
        .execute(&pool)
        .await
        .expect("ageing a row");
    let alone = allowed(new, 15).await;
    assert_eq!((alone.live, alone.allowed), (1, 30));
    pool.close().await;
    db.drop().await;
}

#[tokio::test]
async fn the_replica_table_forgets_long_dead_replicas_at_every_heartbeat() {
    let db = Database::fresh().await;
    let pool = db.pool().await;
    // A thousand crashed replicas, gone for longer than `forget_after`.
    sqlx::query(
        "INSERT INTO worker_replicas (replica_id, heartbeat_at, calls)
         SELECT gen_random_uuid(), now() - interval '2 minutes', 5 FROM generate_series(1, 1000)",
    )
    .execute(&pool)
    .await
    .expect("seeding dead rows");
    let seen = membership::heartbeat(&pool, beat(Uuid::new_v4(), 0))
        .await
        .expect("a heartbeat");
    assert_eq!(seen.allotment.allowed, 30, "dead rows claim nothing");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM worker_replicas")
        .fetch_one(&pool)
        .await
        .expect("counting rows");
    assert_eq!(rows, 1, "only the live replica's row is left");
    pool.close().await;
    db.drop().await;
}

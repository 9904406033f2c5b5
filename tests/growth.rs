//! What grows with every job stays bounded: settled claims are swept once
//! their retention has passed, while live and recent ones stay.

#[path = "support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::time::Duration;

use id2meta::mock::MockConfig;
use id2meta::store::{RETENTION, SWEEP_BATCH};

use support::World;

/// Inserts `count` claims with ids `<prefix>-<n>`, in `state`, taken `age_secs` ago.
async fn insert_claims(world: &World, prefix: &str, count: i64, state: &str, age_secs: i64) {
    sqlx::query(
        "INSERT INTO job_claims (job_id, identity_digest, owner, state, lease_until, attempts, claimed_at)
         SELECT $1 || '-' || n, 'digest', gen_random_uuid(), $2,
                now() - make_interval(secs => $3) + interval '60 seconds', 1,
                now() - make_interval(secs => $3)
           FROM generate_series(1, $4) AS n",
    )
    .bind(prefix)
    .bind(state)
    .bind(age_secs as f64)
    .bind(count)
    .execute(world.store.pool())
    .await
    .expect("claims inserted");
}

async fn count(world: &World, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(world.store.pool())
        .await
        .expect("a count")
}

#[tokio::test]
async fn after_100k_settled_claims_the_sweep_leaves_only_live_or_recent_ones() {
    let world = World::new(MockConfig::default()).await;
    let old = RETENTION.as_secs() as i64 + 3600;
    insert_claims(&world, "old-done", 100_000, "done", old).await;
    insert_claims(&world, "recent-done", 1_000, "done", 60).await;
    // Active claims are work in progress, however old: never swept.
    insert_claims(&world, "old-active", 100, "active", old).await;
    insert_claims(&world, "live", 100, "active", 5).await;

    let deleted = tokio::time::timeout(
        Duration::from_secs(120),
        world.store.sweep_settled_claims(RETENTION, SWEEP_BATCH),
    )
    .await
    .expect("the sweep ends")
    .expect("the sweep succeeds");

    assert_eq!(deleted, 100_000);
    assert_eq!(
        count(&world, "SELECT count(*) FROM job_claims").await,
        1_200
    );
    assert_eq!(
        count(
            &world,
            "SELECT count(*) FROM job_claims WHERE job_id LIKE 'old-done-%'"
        )
        .await,
        0
    );
    // A second sweep finds nothing more.
    let again = world
        .store
        .sweep_settled_claims(RETENTION, SWEEP_BATCH)
        .await
        .expect("the sweep succeeds");
    assert_eq!(again, 0);
    world.cleanup().await;
}

#[tokio::test]
async fn a_sweep_in_batches_smaller_than_the_backlog_still_deletes_it_all() {
    let world = World::new(MockConfig::default()).await;
    let old = RETENTION.as_secs() as i64 + 60;
    insert_claims(&world, "old-done", 250, "done", old).await;
    let deleted = world
        .store
        .sweep_settled_claims(RETENTION, 100)
        .await
        .expect("the sweep succeeds");
    assert_eq!(deleted, 250);
    assert_eq!(count(&world, "SELECT count(*) FROM job_claims").await, 0);
    world.cleanup().await;
}

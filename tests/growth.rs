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

/// Marks `<prefix>-*` claims unstorable, their job dead-lettered `age_secs` ago.
async fn keep_claims(world: &World, prefix: &str, age_secs: i64) {
    sqlx::query(
        "UPDATE job_claims SET state = 'unstorable', outcome = '{}'::jsonb,
                kept_at = now() - make_interval(secs => $2)
          WHERE job_id LIKE $1 || '-%'",
    )
    .bind(prefix)
    .bind(age_secs as f64)
    .execute(world.store.pool())
    .await
    .expect("claims kept");
}

#[tokio::test]
async fn unstorable_claims_are_swept_only_once_their_dead_letter_can_no_longer_be_replayed() {
    let world = World::new(MockConfig::default()).await;
    let ttl = Duration::from_secs(14 * 86_400);
    let beyond = (ttl + RETENTION).as_secs() as i64 + 60;
    // Taken long ago, but dead-lettered again recently (a replay refused again).
    insert_claims(&world, "replayed", 10, "active", beyond + 86_400).await;
    keep_claims(&world, "replayed", 3_600).await;
    // Its letter expired a day and a minute ago.
    insert_claims(&world, "expired", 250, "active", beyond).await;
    keep_claims(&world, "expired", beyond).await;
    // Its letter is still in the queue, a minute before the TTL.
    insert_claims(&world, "replayable", 10, "active", ttl.as_secs() as i64).await;
    keep_claims(&world, "replayable", ttl.as_secs() as i64 - 60).await;

    let deleted = world
        .store
        .sweep_unstorable_claims(ttl, 100)
        .await
        .expect("the sweep succeeds");

    assert_eq!(deleted, 250);
    assert_eq!(
        count(
            &world,
            "SELECT count(*) FROM job_claims WHERE job_id LIKE 'expired-%'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &world,
            "SELECT count(*) FROM job_claims WHERE state = 'unstorable'"
        )
        .await,
        20,
        "the replayable and the recently replayed claims stay"
    );
    // Settled-claim sweeps never touch an unstorable claim, however old.
    let settled = world
        .store
        .sweep_settled_claims(Duration::ZERO, SWEEP_BATCH)
        .await
        .expect("the sweep succeeds");
    assert_eq!(settled, 0);
    world.cleanup().await;
}

//! Item 9: "`batch_cancellations` is never pruned and every replica reads all of it
//! every 250 ms". Reads after the first return only what was written since the one
//! before, a cancel committed late included; a replica picks a new cancel up; the
//! pruning removes old cancellations and keeps the recent ones.

use std::time::Duration;

use id2meta::audit::Actor;
use id2meta::mock::MockConfig;
use id2meta::pipeline::cancellations::{Cancellations, KEEP};
use tokio_util::sync::CancellationToken;

use crate::helpers::{eventually, TestEnv};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_cancel_committed_after_a_later_cancel_is_still_read_by_the_next_incremental_read() {
    let env = TestEnv::new(MockConfig::default()).await;
    let store = &env.store;
    let start = store.cancelled_since(None).await.expect("a first read");
    // Written first, committed last: a cursor on the highest row seen would skip it.
    let mut late = store.pool().begin().await.expect("a transaction");
    sqlx::query("INSERT INTO batch_cancellations (batch_id, cancelled_by) VALUES ('late', 'test')")
        .execute(&mut *late)
        .await
        .expect("a late cancel");
    store
        .cancel_batch("early", &Actor::cli())
        .await
        .expect("an early cancel");
    let first = store
        .cancelled_since(Some(start.horizon))
        .await
        .expect("a read");
    assert!(first.batches.contains(&"early".to_string()));
    assert!(!first.batches.contains(&"late".to_string()));
    late.commit().await.expect("the late cancel commits");
    let second = store
        .cancelled_since(Some(first.horizon))
        .await
        .expect("a read");
    assert!(
        second.batches.contains(&"late".to_string()),
        "the late cancel was skipped"
    );
    env.cleanup().await;
}

#[tokio::test]
async fn a_running_replica_picks_up_a_new_cancellation() {
    let env = TestEnv::new(MockConfig::default()).await;
    let stop = CancellationToken::new();
    let cancellations = Cancellations::start(env.store.clone(), stop.clone())
        .await
        .expect("the reader starts");
    assert!(!cancellations.is_cancelled(Some("b-new")));
    env.store
        .cancel_batch("b-new", &Actor::cli())
        .await
        .expect("a cancel");
    eventually("the cancel is seen", WAIT, || async {
        cancellations.is_cancelled(Some("b-new")).then_some(())
    })
    .await;
    stop.cancel();
    env.cleanup().await;
}

#[tokio::test]
async fn pruning_removes_cancellations_older_than_the_keep_time_and_keeps_recent_ones() {
    let env = TestEnv::new(MockConfig::default()).await;
    let store = &env.store;
    store
        .cancel_batch("recent", &Actor::cli())
        .await
        .expect("a cancel");
    sqlx::query(
        "INSERT INTO batch_cancellations (batch_id, cancelled_by, cancelled_at)
         VALUES ('old', 'test', now() - make_interval(secs => $1::float8) - interval '1 hour')",
    )
    .bind(KEEP.as_secs_f64())
    .execute(store.pool())
    .await
    .expect("an old cancel");
    assert_eq!(store.prune_cancellations(KEEP).await.expect("pruned"), 1);
    let left = store.cancelled_batches().await.expect("a read");
    assert_eq!(left, vec!["recent".to_string()]);
    env.cleanup().await;
}

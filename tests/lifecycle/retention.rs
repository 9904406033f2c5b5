//! Retention (`ID2META_RESULTS_RETENTION`): exactly the rows completed before
//! it are scrubbed, with their claims and dead letters; reuse ignores them; the
//! scrub is the one change a row accepts; one replica sweeps at a time.

use std::time::Duration;

use id2meta::audit::Actor;
use id2meta::lifecycle::retention::{self, SWEEP_LOCK};
use id2meta::mock::MockConfig;
use id2meta::upstream::Verdict;
use tokio_util::sync::CancellationToken;

use crate::commands::{audited, letters_resting};
use crate::helpers::{eventually, people_with, person_job, TestEnv};
use crate::rows::{claimed, insert_settled, scrub_states};

const WAIT: Duration = Duration::from_secs(30);
const WEEK: Duration = Duration::from_secs(7 * 86_400);

#[tokio::test]
async fn retention_scrubs_exactly_the_older_rows_with_their_claims_and_dead_letters_and_reuse_ignores_them(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let people: Vec<u64> = people_with(Verdict::Match).take(4).collect();
    for (n, (job_id, days)) in [("old-0", 10), ("old-1", 8), ("new-2", 6), ("new-3", 1)]
        .into_iter()
        .enumerate()
    {
        insert_settled(&env.store, job_id, people[n], days).await;
    }
    // A dead letter of old-0: its job_id sent again for another person.
    let other = people_with(Verdict::Mismatch).next().expect("a mismatch");
    let worker = env.start_worker().await;
    env.publish_jobs(&[person_job("old-0", other)]).await;
    let letters = letters_resting(&env.config, 1).await;
    worker.stop().await;

    let mut config = env.config.clone();
    config.results_retention = Some(WEEK);
    config.reuse_within = Some(Duration::from_secs(30 * 86_400));
    let worker = env.start_worker_with(config).await;
    let sweeps = eventually("the worker's sweep is recorded", WAIT, || async {
        Some(audited(&env.store, "retention").await).filter(|rows| !rows.is_empty())
    })
    .await;
    assert_eq!(sweeps.len(), 1);
    assert_eq!(sweeps[0].origin, "worker");
    assert!(
        sweeps[0].actor.starts_with("worker "),
        "{}",
        sweeps[0].actor
    );
    assert_eq!(
        (&sweeps[0].detail["rows"], &sweeps[0].detail["claims"]),
        (&2.into(), &2.into())
    );
    assert_eq!(
        scrub_states(&env.store).await,
        [
            ("new-2".to_string(), false, true),
            ("new-3".to_string(), false, true),
            ("old-0".to_string(), true, false),
            ("old-1".to_string(), true, false),
        ]
    );
    assert_eq!(claimed(&env.store).await, ["new-2", "new-3"]);
    eventually("the scrubbed job's dead letter goes", WAIT, || async {
        letters.list(10).await.ok()?.is_empty().then_some(())
    })
    .await;
    let old = env
        .store
        .result("old-0")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(
        (
            old.status.as_str(),
            old.biz_code.as_deref(),
            old.attempts,
            old.metadata
        ),
        ("match", Some("1"), 1, None),
        "what counts and spend need stays"
    );

    // Reuse: the scrubbed person is called again; the recent one is reused.
    let calls = env.mock.stats().verdict_calls;
    env.publish_jobs(&[
        person_job("again-0", people[0]),
        person_job("again-2", people[2]),
    ])
    .await;
    let rows = env.wait_for_rows(6, WAIT).await;
    worker.stop().await;
    let row = |id: &str| rows.iter().find(|r| r.job_id == id).expect("a row").clone();
    assert_eq!(
        (row("again-0").attempts, row("again-0").reused_from_job_id),
        (1, None)
    );
    assert_eq!(row("again-2").reused_from_job_id.as_deref(), Some("new-2"));
    assert_eq!(env.mock.stats().verdict_calls, calls + 1);
    env.cleanup().await;
}

#[tokio::test]
async fn a_settled_row_refuses_every_change_but_the_whole_scrub_and_that_only_once() {
    let env = TestEnv::new(MockConfig::default()).await;
    insert_settled(&env.store, "j", 1, 1).await;
    let scrub = "name_masked = NULL, id_number_masked = NULL, identity_digest = NULL, \
                 metadata = NULL, scrubbed_at = now()";
    for change in [
        "status = 'mismatch'".to_string(),
        "name_masked = NULL".to_string(),
        "scrubbed_at = now()".to_string(),
        format!("{scrub}, attempts = 2"),
        format!("{scrub}, completed_at = now()"),
    ] {
        let error = sqlx::query(&format!("UPDATE verification_results SET {change}"))
            .execute(env.store.pool())
            .await
            .expect_err(&change)
            .to_string();
        assert!(error.contains("append-only"), "{change}: {error}");
    }
    let update = format!("UPDATE verification_results SET {scrub}");
    sqlx::query(&update)
        .execute(env.store.pool())
        .await
        .expect("the scrub is allowed");
    let again = sqlx::query(&update).execute(env.store.pool()).await;
    assert!(again.is_err(), "a row is scrubbed once");
    assert_eq!(
        scrub_states(&env.store).await,
        [("j".to_string(), true, false)]
    );
    env.cleanup().await;
}

#[tokio::test]
async fn one_replica_sweeps_at_a_time_and_concurrent_sweeps_scrub_each_row_once() {
    let env = TestEnv::new(MockConfig::default()).await;
    sqlx::query(
        "INSERT INTO verification_results (job_id, status, attempts, identity_digest, name_masked,
              id_number_masked, received_at, completed_at)
         SELECT 'bulk-' || n, 'not_found', 1, md5(n::text), '张*', '110***********002X',
                now() - interval '30 days', now() - interval '30 days'
           FROM generate_series(1, 2500) AS n",
    )
    .execute(env.store.pool())
    .await
    .expect("old rows");
    let stop = CancellationToken::new();
    let actor = Actor::worker(uuid::Uuid::new_v4());

    // Another replica is sweeping (it holds the lock in its transaction): this one leaves.
    let mut holder = env.store.pool().begin().await.expect("a transaction");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SWEEP_LOCK)
        .execute(&mut *holder)
        .await
        .expect("the sweep's lock");
    let left = retention::sweep(&env.store, WEEK, &actor, &stop)
        .await
        .expect("a sweep");
    assert_eq!((left.rows, left.finished), (0, false));
    holder.rollback().await.expect("released");

    let (a, b) = tokio::join!(
        retention::sweep(&env.store, WEEK, &actor, &stop),
        retention::sweep(&env.store, WEEK, &actor, &stop),
    );
    let (a, b) = (a.expect("sweep a"), b.expect("sweep b"));
    assert_eq!(a.rows + b.rows, 2500);
    let recorded: u64 = audited(&env.store, "retention")
        .await
        .iter()
        .map(|r| r.detail["rows"].as_u64().expect("a count"))
        .sum();
    assert_eq!(
        recorded, 2500,
        "the audit rows count every scrubbed row once"
    );
    let nothing = retention::sweep(&env.store, WEEK, &actor, &stop)
        .await
        .expect("a sweep");
    assert_eq!((nothing.rows, nothing.finished), (0, true));
    assert_eq!(
        audited(&env.store, "retention").await.len(),
        usize::from(a.rows > 0) + usize::from(b.rows > 0),
        "a sweep that finds nothing leaves no row"
    );
    env.cleanup().await;
}

/// A setting as the transaction (or the pool's session) sees it.
async fn setting<'e>(db: impl sqlx::PgExecutor<'e>, name: &str) -> String {
    sqlx::query_scalar("SELECT current_setting($1)")
        .bind(name)
        .fetch_one(db)
        .await
        .expect("a setting")
}

#[tokio::test]
async fn a_bounded_transaction_carries_its_statement_and_lock_timeouts_and_they_end_with_it() {
    let env = TestEnv::new(MockConfig::default()).await;
    let db = env.store.db();
    let mut tx = db
        .begin_bounded(Duration::from_secs(5), Some(Duration::from_millis(1500)))
        .await
        .expect("a bounded transaction");
    let statement = setting(&mut *tx, "statement_timeout").await;
    let lock = setting(&mut *tx, "lock_timeout").await;
    assert_eq!((statement.as_str(), lock.as_str()), ("5s", "1500ms"));
    tx.commit().await.expect("committed");

    let session_lock = setting(env.store.pool(), "lock_timeout").await;
    let mut tx = db
        .begin_bounded(Duration::from_millis(250), None)
        .await
        .expect("a bounded transaction");
    let kept = setting(&mut *tx, "lock_timeout").await;
    assert_eq!(
        kept, session_lock,
        "without a lock bound the session's stays"
    );
    let cancelled = sqlx::query("SELECT pg_sleep(2)").execute(&mut *tx).await;
    assert!(
        cancelled.is_err(),
        "the statement timeout cancels a slow statement"
    );
    drop(tx);
    env.cleanup().await;
}

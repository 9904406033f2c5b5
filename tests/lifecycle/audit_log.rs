//! The audit log: each CLI action leaves one row naming `user@host`, and the
//! database refuses to change or delete it, for the worker's role as for any.

use id2meta::mock::MockConfig;

use crate::commands::{audited, id2meta, letters_resting, succeeded};
use crate::helpers::TestEnv;

#[tokio::test]
async fn cancels_and_dead_letter_purges_from_the_cli_are_each_recorded_with_who_did_them() {
    let env = TestEnv::new(MockConfig::default()).await;
    // A dead letter to purge: a message that is not a job.
    let worker = env.start_worker().await;
    env.publish_raw(b"not json").await;
    let _letters = letters_resting(&env.config, 1).await;
    worker.stop().await;

    succeeded(&id2meta(&env.config, &["batch", "b7", "--cancel"], "", &[]));
    succeeded(&id2meta(&env.config, &["batch", "b7", "--cancel"], "", &[]));
    let purged = succeeded(&id2meta(
        &env.config,
        &["dead-letters", "purge", "--all"],
        "",
        &[],
    ));
    assert!(purged.contains("purged 1 of 1"), "{purged}");

    let cancels = audited(&env.store, "cancel").await;
    assert_eq!(cancels.len(), 2, "one row per cancel: {cancels:?}");
    for (row, first) in cancels.iter().zip([true, false]) {
        assert_eq!(row.target.as_deref(), Some("b7"));
        assert_eq!(row.origin, "cli");
        assert!(row.actor.starts_with("auditor@"), "{}", row.actor);
        assert_eq!(row.detail["first"], first);
    }
    let purges = audited(&env.store, "purge").await;
    assert_eq!(purges.len(), 1);
    assert_eq!(purges[0].target.as_deref(), Some("all"));
    assert_eq!(
        (&purges[0].detail["selected"], &purges[0].detail["done"]),
        (&serde_json::json!(1), &serde_json::json!(1))
    );

    // `id2meta audit` prints them, newest first.
    let printed = succeeded(&id2meta(
        &env.config,
        &["audit", "--since", "1h", "--format", "json"],
        "",
        &[],
    ));
    let actions: Vec<String> = printed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON Lines")["action"].to_string()
        })
        .collect();
    assert_eq!(actions, ["\"purge\"", "\"cancel\"", "\"cancel\""]);
    env.cleanup().await;
}

#[tokio::test]
async fn the_audit_log_refuses_update_delete_and_truncate_for_the_workers_role() {
    let env = TestEnv::new(MockConfig::default()).await;
    succeeded(&id2meta(&env.config, &["batch", "b1", "--cancel"], "", &[]));
    // The worker's role is whoever DATABASE_URL names: the same pool the worker uses.
    let pool = env.store.pool();
    for statement in [
        "UPDATE operator_actions SET actor = 'someone else'",
        "UPDATE operator_actions SET detail = '{}'::jsonb",
        "DELETE FROM operator_actions",
        "TRUNCATE operator_actions",
    ] {
        let error = sqlx::query(statement)
            .execute(pool)
            .await
            .expect_err(statement)
            .to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    let rows = audited(&env.store, "cancel").await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].actor.starts_with("auditor@"));
    env.cleanup().await;
}

//! Every session the worker opens is bounded by the server itself (lock,
//! statement and idle-in-transaction timeouts), directly and behind PgBouncer's
//! transaction pooling: CI runs this binary both ways (`.ci/run`), the second
//! with `DATABASE_URL` at a PgBouncer and `ID2META_DB_POOLER=transaction`.

#[path = "worker/helpers.rs"]
mod helpers;

use std::time::Duration;

use id2meta::store::{Bounds, Store};

use helpers::{direct_url, test_config};

/// A store as the worker opens it (the environment's server and pooler), with
/// `bounds`; and one the test observes with, directly.
async fn stores(bounds: Bounds) -> (Store, Store, String) {
    let config = test_config("http://127.0.0.1:9");
    let direct = direct_url(&config.database_url);
    let observer = Store::connect(&direct, 2).await.expect("database");
    let mut database = config.database();
    database.bounds = bounds;
    let worker = Store::open(&database, 2).await.expect("the worker's store");
    (worker, observer, direct)
}

async fn drop_database(worker: Store, observer: Store, direct: &str) {
    worker.pool().close().await;
    observer.pool().close().await;
    let _ = <sqlx::Postgres as sqlx::migrate::MigrateDatabase>::force_drop_database(direct).await;
}

#[tokio::test]
async fn every_statement_runs_under_the_server_side_bounds() {
    let bounds = Bounds {
        lock_timeout: Duration::from_millis(1_500),
        statement_timeout: Duration::from_secs(42),
        idle_in_transaction: Duration::from_secs(7),
        ..Bounds::default()
    };
    let (worker, observer, direct) = stores(bounds).await;
    for (setting, wanted) in [
        ("lock_timeout", "1500ms"),
        ("statement_timeout", "42s"),
        ("idle_in_transaction_session_timeout", "7s"),
    ] {
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(setting)
            .fetch_one(worker.db())
            .await
            .expect("a setting");
        assert_eq!(value, wanted, "{setting}");
        let mut tx = worker.db().begin().await.expect("a transaction");
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(setting)
            .persistent(worker.named())
            .fetch_one(&mut *tx)
            .await
            .expect("a setting");
        assert_eq!(value, wanted, "{setting} in a transaction");
        tx.rollback().await.expect("rolled back");
    }
    drop_database(worker, observer, &direct).await;
}

#[tokio::test]
async fn a_backend_left_idle_in_a_transaction_is_ended_by_the_server() {
    let bounds = Bounds {
        idle_in_transaction: Duration::from_millis(500),
        ..Bounds::default()
    };
    let (worker, observer, direct) = stores(bounds).await;
    // A client that stops halfway through a transaction (frozen, or gone).
    let mut tx = worker.db().begin().await.expect("a transaction");
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .persistent(worker.named())
        .fetch_one(&mut *tx)
        .await
        .expect("the backend's pid");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let alive: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                .bind(backend)
                .fetch_one(observer.pool())
                .await
                .expect("pg_stat_activity");
        if !alive {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle transaction's backend is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let next = sqlx::query_scalar::<_, i32>("SELECT 1")
        .persistent(worker.named())
        .fetch_one(&mut *tx)
        .await;
    assert!(next.is_err(), "the ended transaction went on");
    drop(tx);
    drop_database(worker, observer, &direct).await;
}

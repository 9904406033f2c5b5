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

/// 0.2 ran sqlx's migrator: the replicas waiting for its lock held snapshots a
/// concurrent index build waits for, PostgreSQL found the deadlock and one
/// replica exited (six replicas on a fresh database hit it every time); behind
/// PgBouncer the build was refused inside the one transaction. CI runs this both
/// ways (directly and through PgBouncer, see the module's note).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_replicas_migrating_a_fresh_database_at_once_all_succeed() {
    let config = test_config("http://127.0.0.1:9");
    let direct = direct_url(&config.database_url);
    let database = config.database();
    // Six stores, each as a replica opens it, migrating concurrently.
    let replicas = (0..6).map(|_| async {
        let store = Store::open(&database, 2).await?;
        store.migrate().await?;
        store.pool().close().await;
        anyhow::Ok(())
    });
    for migrated in futures_util::future::join_all(replicas).await {
        migrated.expect("a replica's migrations");
    }
    let observer = Store::connect(&direct, 2).await.expect("database");
    let (applied, invalid): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM _sqlx_migrations WHERE success),
                (SELECT count(*) FROM pg_index WHERE NOT indisvalid)",
    )
    .fetch_one(observer.db())
    .await
    .expect("counts");
    assert_eq!(applied, id2meta::store::MIGRATOR.iter().count() as i64);
    assert_eq!(invalid, 0, "an index build was left invalid");
    observer.pool().close().await;
    let _ = <sqlx::Postgres as sqlx::migrate::MigrateDatabase>::force_drop_database(&direct).await;
}

/// The console's sessions went through the bare pool with named statements:
/// behind a transaction pooler a statement prepared on one server session is
/// missing (or already there) on the next. Through the store's executor, every
/// operation works however the pooler hands out its sessions.
#[tokio::test]
async fn console_sessions_begin_find_and_end_through_the_store() {
    use id2meta::console::sessions::{cookie_value, Sessions};
    let (worker, observer, direct) = stores(Bounds::default()).await;
    worker.migrate().await.expect("migrations");
    let token = id2meta::secret::Secret::new("a console token of at least thirty-two chars");
    let sessions = Sessions::new(worker.db().clone(), &token, false);
    sessions.prepare().await.expect("prepare");
    let client = std::net::IpAddr::from([127, 0, 0, 1]);
    for _ in 0..6 {
        let (session, secret) = sessions.begin(client).await.expect("a session");
        let mut headers = axum::http::HeaderMap::new();
        let cookie = sessions.cookie(Some(&secret));
        let pair = cookie.split(';').next().expect("name=value").to_string();
        headers.insert(
            axum::http::header::COOKIE,
            pair.parse().expect("a cookie header"),
        );
        assert!(cookie_value(&headers, pair.split('=').next().unwrap_or("")).is_some());
        let found = sessions.find(&headers, client).await.expect("a lookup");
        assert_eq!(
            found.map(|s| s.id().to_string()),
            Some(session.id().to_string())
        );
        sessions.end(&session).await.expect("logout");
        assert!(sessions
            .find(&headers, client)
            .await
            .expect("a lookup")
            .is_none());
    }
    drop_database(worker, observer, &direct).await;
}

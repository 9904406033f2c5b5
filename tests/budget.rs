//! The QPS budget across replicas against a real PostgreSQL (one fresh database per
//! test), without RabbitMQ: each "replica" is a budget loop with its own pool and
//! limiter, and a driver that takes tokens as fast as the limiter allows, as a
//! replica with a backlog would. Every token is a call; the tests count them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use id2meta::budget::membership::{self, Heartbeat};
use id2meta::budget::{Budget, BudgetSettings, Quota};
use id2meta::pipeline::limiter::Limiter;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const Q: f64 = 30.0;

/// Calls made: (replica index, when).
type Calls = Arc<Mutex<Vec<(usize, Instant)>>>;

struct Database {
    url: String,
}

impl Database {
    async fn fresh() -> Self {
        let url = format!(
            "postgres://postgres@127.0.0.1:5432/id2meta_budget_{}",
            Uuid::new_v4().simple()
        );
        Postgres::create_database(&url)
            .await
            .expect("creating a test database");
        let pool = PgPool::connect(&url).await.expect("connecting");
        id2meta::store::MIGRATOR
            .run(&pool)
            .await
            .expect("migrating");
        pool.close().await;
        Self { url }
    }

    async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connecting")
    }

    async fn drop(self) {
        let _ = Postgres::force_drop_database(&self.url).await;
    }
}

struct Replica {
    pool: PgPool,
    limiter: Limiter,
    budget: Budget,
    stop: CancellationToken,
    driver: JoinHandle<()>,
}

impl Replica {
    async fn start(db: &Database, index: usize, calls: &Calls) -> Self {
        let pool = db.pool().await;
        let quota = Quota::from_qps(Q);
        let settings = BudgetSettings::default();
        let limiter = Limiter::closed(quota.window(&settings));
        let stop = CancellationToken::new();
        let budget = Budget::start(
            pool.clone(),
            Uuid::new_v4(),
            quota,
            limiter.clone(),
            settings,
            stop.clone(),
        );
        let driver = tokio::spawn({
            let limiter = limiter.clone();
            let calls = calls.clone();
            async move {
                loop {
                    limiter.acquire().await;
                    let now = Instant::now();
                    calls.lock().expect("calls lock").push((index, now));
                }
            }
        });
        Self {
            pool,
            limiter,
            budget,
            stop,
            driver,
        }
    }

    /// A crash: no more calls, and the row is left behind.
    fn kill(self) {
        self.driver.abort();
        self.budget.kill();
    }

    async fn shut_down(self) {
        self.driver.abort();
        self.stop.cancel();
        self.budget.wait().await;
        self.pool.close().await;
    }
}

async fn finish(db: Database, replicas: Vec<Replica>) {
    for r in replicas {
        r.shut_down().await;
    }
    db.drop().await;
}

async fn wait_until(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// The calls of replica `index`, in order.
fn calls_of(calls: &Calls, index: usize) -> Vec<Instant> {
    let mut t: Vec<Instant> = calls
        .lock()
        .expect("calls lock")
        .iter()
        .filter(|c| c.0 == index)
        .map(|c| c.1)
        .collect();
    t.sort();
    t
}

/// Every replica's calls, in order.
fn times(calls: &Calls) -> Vec<Instant> {
    let mut t: Vec<Instant> = calls
        .lock()
        .expect("calls lock")
        .iter()
        .map(|c| c.1)
        .collect();
    t.sort();
    t
}

/// The most calls in any window `[t, t + 1 s)`.
fn busiest_second(times: &[Instant]) -> usize {
    let mut most = 0;
    let mut end = 0;
    for (start, &t) in times.iter().enumerate() {
        while end < times.len() && times[end] < t + Duration::from_secs(1) {
            end += 1;
        }
        most = most.max(end - start);
    }
    most
}

fn between(times: &[Instant], from: Instant, to: Instant) -> usize {
    times.iter().filter(|&&t| t >= from && t < to).count()
}

/// When, after `since`, the calls first ran at the whole budget over half a second
/// (for the measurements the docs quote).
fn taken_up(times: &[Instant], since: Instant) -> Option<Duration> {
    let half = Duration::from_millis(500);
    times
        .iter()
        .filter(|&&t| t >= since)
        .find(|&&t| between(times, t, t + half) as f64 >= 0.95 * Q * 0.5)
        .map(|&t| t - since)
}

/// At least 95% of the budget over `[from, to)`.
fn assert_budget_used(times: &[Instant], from: Instant, to: Instant, what: &str) {
    let made = between(times, from, to);
    let wanted = 0.95 * Q * (to - from).as_secs_f64();
    assert!(
        made as f64 >= wanted,
        "{what}: {made} calls, wanted {wanted}"
    );
}

#[tokio::test]
async fn three_replicas_use_the_budget_and_take_up_a_dead_ones_share_within_seconds() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let mut replicas = Vec::new();
    for i in 0..3 {
        replicas.push(Replica::start(&db, i, &calls).await);
    }
    wait_until(
        "the budget split three ways",
        Duration::from_secs(8),
        || {
            replicas.iter().map(|r| r.limiter.allowance()).sum::<u32>() == Q as u32
                && replicas.iter().all(|r| r.limiter.is_open())
        },
    )
    .await;
    let joined = Instant::now();
    sleep_until(joined + Duration::from_secs(4)).await;
    assert_budget_used(
        &times(&calls),
        joined,
        joined + Duration::from_secs(4),
        "three replicas",
    );

    let killed = Instant::now();
    replicas.remove(0).kill();
    sleep_until(killed + Duration::from_millis(6500)).await;
    let t = times(&calls);
    assert_budget_used(
        &t,
        killed + Duration::from_millis(3500),
        killed + Duration::from_millis(6500),
        "two replicas, 3.5 s after the third died",
    );
    let busiest = busiest_second(&t);
    eprintln!(
        "measured: busiest second {busiest}; full budget again {:?} after the kill",
        taken_up(&t, killed)
    );
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    finish(db, replicas).await;
}

#[tokio::test]
async fn a_newcomer_joins_without_pushing_the_total_over_the_budget() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let mut replicas = vec![
        Replica::start(&db, 0, &calls).await,
        Replica::start(&db, 1, &calls).await,
    ];
    wait_until("two replicas joined", Duration::from_secs(5), || {
        replicas.iter().all(|r| r.limiter.is_open())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let arrived = Instant::now();
    replicas.push(Replica::start(&db, 2, &calls).await);
    let newcomer = replicas[2].limiter.clone();
    wait_until("the newcomer has its share", Duration::from_secs(8), || {
        newcomer.allowance() == 10
    })
    .await;
    let opened = Instant::now();
    sleep_until(opened + Duration::from_secs(2)).await;

    let t = times(&calls);
    let busiest = busiest_second(&t);
    eprintln!(
        "measured: newcomer joined {:?} after starting; busiest second {busiest}",
        opened - arrived
    );
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    assert_budget_used(
        &t,
        opened,
        opened + Duration::from_secs(2),
        "after the join",
    );
    let newcomers_calls = calls_of(&calls, 2).len();
    assert!(newcomers_calls >= 15, "the newcomer got its share");
    // From one window after it opened, the others make room: 10 calls a window each.
    for i in 0..2 {
        let late = calls_of(&calls, i)
            .into_iter()
            .filter(|&c| c >= opened + Duration::from_millis(1010))
            .collect::<Vec<_>>();
        assert!(
            busiest_second(&late) <= 10,
            "replica {i} kept more than its share"
        );
    }
    assert!(opened - arrived < Duration::from_secs(4), "joined promptly");
    finish(db, replicas).await;
}

#[tokio::test]
async fn a_replica_that_loses_the_database_stops_calling_before_the_other_takes_its_share() {
    let db = Database::fresh().await;
    let calls = Calls::default();
    let healthy = Replica::start(&db, 0, &calls).await;
    let cut_off = Replica::start(&db, 1, &calls).await;
    wait_until("both joined", Duration::from_secs(5), || {
        healthy.limiter.is_open() && cut_off.limiter.is_open()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let lost = Instant::now();
    cut_off.pool.close().await;
    let limiter = cut_off.limiter.clone();
    // The others may count it dead 2 s (the TTL) after its last heartbeat.
    wait_until(
        "the cut-off replica paused",
        Duration::from_millis(1700),
        || !limiter.is_open(),
    )
    .await;
    let paused = Instant::now();
    sleep_until(lost + Duration::from_millis(6500)).await;

    let t = times(&calls);
    let busiest = busiest_second(&t);
    eprintln!(
        "measured: paused {:?} after losing the database; busiest second {busiest}; \
         full budget again {:?} after",
        paused - lost,
        taken_up(&t, paused).map(|after| after + (paused - lost))
    );
    assert!(busiest as f64 <= Q, "{busiest} calls in one second");
    let late_calls = calls_of(&calls, 1)
        .into_iter()
        .filter(|&c| c > paused)
        .count();
    assert_eq!(late_calls, 0, "no call after pausing");
    assert_budget_used(
        &t,
        lost + Duration::from_millis(3500),
        lost + Duration::from_millis(6500),
        "the healthy replica alone",
    );
    finish(db, vec![healthy, cut_off]).await;
}

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

fn beat(replica: Uuid, applied: u32) -> Heartbeat {
    let settings = BudgetSettings::default();
    let window = Duration::from_millis(300);
    Heartbeat {
        replica,
        budget: 30,
        applied,
        window,
        expiry: settings.pause_after + window,
        forget_after: settings.forget_after,
        leaving: false,
    }
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

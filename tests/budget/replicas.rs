//! What the budget tests share: a fresh database, replicas (a budget loop, its
//! own pool and limiter, and a driver taking tokens), and counting their calls
//! in time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use id2meta::budget::membership::Heartbeat;
use id2meta::budget::{Budget, BudgetSettings, Quota};
use id2meta::pipeline::limiter::Limiter;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The budget of every test, in calls per second: three shares of 15 (the
/// minimum share), so three replicas all take part.
pub const Q: f64 = 45.0;

/// Calls made: (replica index, when).
pub type Calls = Arc<Mutex<Vec<(usize, Instant)>>>;

pub struct Database {
    pub url: String,
}

impl Database {
    pub async fn fresh() -> Self {
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

    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connecting")
    }

    pub async fn drop(self) {
        let _ = Postgres::force_drop_database(&self.url).await;
    }
}

pub struct Replica {
    /// Its row's `replica_id`.
    pub id: Uuid,
    pub pool: PgPool,
    pub limiter: Limiter,
    pub budget: Budget,
    pub stop: CancellationToken,
    pub driver: JoinHandle<()>,
}

impl Replica {
    pub async fn start(db: &Database, index: usize, calls: &Calls) -> Self {
        let pool = db.pool().await;
        let quota = Quota::from_qps(Q);
        let settings = BudgetSettings::default();
        let limiter = Limiter::closed(quota.window(&settings));
        let stop = CancellationToken::new();
        let id = Uuid::new_v4();
        let budget = Budget::start(
            pool.clone(),
            id,
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
            id,
            pool,
            limiter,
            budget,
            stop,
            driver,
        }
    }

    /// A crash: no more calls, and the row is left behind.
    pub fn kill(self) {
        self.driver.abort();
        self.budget.kill();
    }

    pub async fn shut_down(self) {
        self.driver.abort();
        self.stop.cancel();
        self.budget.wait().await;
        self.pool.close().await;
    }
}

pub async fn finish(db: Database, replicas: Vec<Replica>) {
    for r in replicas {
        r.shut_down().await;
    }
    db.drop().await;
}

pub async fn wait_until(what: &str, within: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// The calls of replica `index`, in order.
pub fn calls_of(calls: &Calls, index: usize) -> Vec<Instant> {
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
pub fn times(calls: &Calls) -> Vec<Instant> {
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
pub fn busiest_second(times: &[Instant]) -> usize {
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

pub fn between(times: &[Instant], from: Instant, to: Instant) -> usize {
    times.iter().filter(|&&t| t >= from && t < to).count()
}

/// When, after `since`, the calls first ran at the whole budget over half a second
/// (for the measurements the docs quote).
pub fn taken_up(times: &[Instant], since: Instant) -> Option<Duration> {
    let half = Duration::from_millis(500);
    times
        .iter()
        .filter(|&&t| t >= since)
        .find(|&&t| between(times, t, t + half) as f64 >= 0.95 * Q * 0.5)
        .map(|&t| t - since)
}

/// At least 95% of the budget over `[from, to)`.
pub fn assert_budget_used(times: &[Instant], from: Instant, to: Instant, what: &str) {
    let made = between(times, from, to);
    let wanted = 0.95 * Q * (to - from).as_secs_f64();
    assert!(
        made as f64 >= wanted,
        "{what}: {made} calls, wanted {wanted}"
    );
}

pub fn beat(replica: Uuid, applied: u32) -> Heartbeat {
    let settings = BudgetSettings::default();
    let window = Duration::from_millis(300);
    Heartbeat {
        replica,
        // The SQL rule's tests split 30 by hand (two shares of 15).
        qps: 30.0,
        budget: 30,
        period: Duration::from_secs(1),
        applied,
        window,
        expiry: settings.pause_after + window,
        forget_after: settings.forget_after,
        leaving: false,
    }
}

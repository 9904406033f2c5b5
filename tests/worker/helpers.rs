#![allow(dead_code)] // shared by several test binaries; each uses a part
//! A test environment: a fresh database, fresh queue names, a mock upstream, and
//! in-process workers; plus readers for rows, completions and dead letters
//! (in `readers.rs`).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use id2meta::app::RunningWorker;
use id2meta::config::Config;
use id2meta::mock::{self, MockConfig, MockHandle};
use id2meta::queue::{self, Publisher, Topology};
use id2meta::secret::Secret;
use id2meta::store::{ResultRow, Store};
use lapin::options::QueueDeleteOptions;
use sqlx::migrate::MigrateDatabase;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[path = "../support/queues.rs"]
mod queues;
// Beside this file in every binary that includes it (a `path` is relative to
// this file's directory).
#[path = "readers.rs"]
mod readers;

pub const PII_KEY: &str = "test-pii-key-0123456789";

/// One isolated world for a test.
pub struct TestEnv {
    pub config: Config,
    pub mock: MockHandle,
    pub store: Store,
    pub publisher: Publisher,
    _connection: lapin::Connection,
}

/// A worker started by a test; stop it with [`Worker::stop`].
pub struct Worker {
    pub running: RunningWorker,
    pub shutdown: CancellationToken,
}

impl Worker {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.running.wait().await.expect("the worker stops cleanly");
    }

    /// What `GET /readyz` answers: the HTTP status and the body (the reason).
    pub async fn readyz(&self) -> (u16, String) {
        let url = format!("http://{}/readyz", self.running.http_addr);
        let response = id2meta::tls::get(url)
            .await
            .expect("the HTTP endpoints answer");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a readiness body"))
    }
}

/// Polls `probe` (every 50 ms) until it gives `Some`, or panics after `within`
/// naming `what`. For conditions a test awaits instead of sleeping.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls `fetch` (every 50 ms), accumulating what it gives, until at least `count`
/// items arrived; panics after `within`.
pub async fn collect_until<T, F, Fut>(
    what: &str,
    count: usize,
    within: Duration,
    mut fetch: F,
) -> Vec<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Vec<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        seen.extend(fetch().await);
        if seen.len() >= count {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} {what} after {within:?}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server part of a database URL (everything before the database name).
fn server_of(url: &str) -> Option<String> {
    url.rsplit_once('/').map(|(server, _)| server.to_string())
}

/// The PostgreSQL server the workers use: `DATABASE_URL`'s (a PgBouncer in CI's
/// pooled run), else the contract's default.
fn database_server() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .and_then(|url| server_of(&url))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into())
}

/// `url` as the test itself reaches it, to create, observe and drop its database:
/// directly at `ID2META_TEST_DIRECT_DATABASE` (a server URL) when the workers go
/// through a pooler, else `url` itself.
pub fn direct_url(url: &str) -> String {
    match std::env::var("ID2META_TEST_DIRECT_DATABASE") {
        Ok(server) if !server.is_empty() => {
            let name = url.rsplit_once('/').map(|(_, name)| name).unwrap_or("");
            format!("{}/{name}", server.trim_end_matches('/'))
        }
        _ => url.to_string(),
    }
}

/// The base configuration of a test: unique names, the mock as upstream, the
/// database server and pooler the environment names (`ID2META_DB_POOLER`).
pub fn test_config(endpoint: &str) -> Config {
    let id = Uuid::new_v4().simple().to_string();
    let mut config = Config::from_source(&HashMap::new()).expect("default config");
    config.database_url = format!("{}/id2meta_test_{id}", database_server());
    config.db_pooler = std::env::var("ID2META_DB_POOLER")
        .unwrap_or_default()
        .parse()
        .expect("ID2META_DB_POOLER");
    config.jobs_queue = format!("test.{id}.jobs");
    config.results_exchange = format!("test.{id}.results");
    config.endpoint = endpoint.to_string();
    config.access_key_id = Some("testid".into());
    config.access_key_secret = Some(Secret::new("testsecret"));
    config.pii_key = Some(Secret::new(PII_KEY));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.qps = 500.0;
    config.concurrency = 32;
    config.request_timeout = Duration::from_secs(2);
    config.lease = Duration::from_secs(5);
    config
}

impl TestEnv {
    pub async fn new(mock_config: MockConfig) -> Self {
        let mock = mock::start(mock_config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the mock starts");
        let config = test_config(&mock.endpoint());
        let store = Store::connect(&direct_url(&config.database_url), 4)
            .await
            .expect("database");
        store.migrate().await.expect("migrations");
        let connection = queue::connect(&config.amqp_url, "test")
            .await
            .expect("broker");
        queue::declare(&connection, &Topology::from_config(&config))
            .await
            .expect("topology");
        let publisher = Publisher::open(
            &connection,
            &config.results_exchange,
            &config.dead_letter_queue(),
        )
        .await
        .expect("publisher");
        Self {
            config,
            mock,
            store,
            publisher,
            _connection: connection,
        }
    }

    /// Starts a worker in this process with this environment's configuration.
    pub async fn start_worker(&self) -> Worker {
        self.start_worker_with(self.config.clone()).await
    }

    pub async fn start_worker_with(&self, config: Config) -> Worker {
        let shutdown = CancellationToken::new();
        let running = id2meta::app::start(config, shutdown.clone())
            .await
            .expect("the worker starts");
        Worker { running, shutdown }
    }

    /// Publishes job objects as the pipelines would.
    pub async fn publish_jobs(&self, jobs: &[serde_json::Value]) {
        self.publish_jobs_to(&self.config.jobs_queue, jobs).await
    }

    /// Publishes job objects to `queue` (e.g. the interactive queue).
    pub async fn publish_jobs_to(&self, queue: &str, jobs: &[serde_json::Value]) {
        let publishes = jobs.iter().map(|job| {
            let body = serde_json::to_vec(job).expect("json");
            let job_id = job["job_id"].as_str().unwrap_or("").to_string();
            let publisher = self.publisher.clone();
            let queue = queue.to_string();
            async move {
                publisher
                    .publish_job(&queue, &job_id, &body)
                    .await
                    .expect("published")
            }
        });
        futures_util::stream::iter(publishes)
            .buffer_unordered(256)
            .collect::<Vec<_>>()
            .await;
    }

    /// Publishes an arbitrary body to the jobs queue.
    pub async fn publish_raw(&self, body: &[u8]) {
        self.publisher
            .publish_job(&self.config.jobs_queue, "", body)
            .await
            .expect("published");
    }

    /// Deletes this test's queues and database.
    pub async fn cleanup(self) {
        let channel = self.publisher.channel();
        for q in [
            self.config.jobs_queue.clone(),
            self.config.interactive_queue(),
            self.config.dead_letter_queue(),
            format!("{}.intake", self.config.dead_letter_queue()),
            self.config.results_queue(),
        ] {
            let _ = channel
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        self.store.pool().close().await;
        // Forced: a pooler may still hold server sessions on it.
        let _ = sqlx::Postgres::force_drop_database(&direct_url(&self.config.database_url)).await;
    }
}

/// A job object for the i-th synthetic person of the mock's population.
pub fn person_job(job_id: &str, i: u64) -> serde_json::Value {
    let (name, id_number, _) = id2meta::mock::population::person(i);
    serde_json::json!({ "job_id": job_id, "name": name, "id_number": id_number, "batch_id": "b1" })
}

/// Indexes of the mock's synthetic people the mock gives `verdict`, in order.
pub fn people_with(verdict: id2meta::upstream::Verdict) -> impl Iterator<Item = u64> {
    (0..).filter(move |i| id2meta::mock::population::person(*i).2 == verdict)
}

/// The ID number of the i-th synthetic person.
pub fn id_number_of(i: u64) -> String {
    id2meta::mock::population::person(i).1
}

/// `count` jobs for distinct synthetic people, job ids `{prefix}-{i}`.
#[allow(dead_code)] // for the fault suites, not every test binary
pub fn person_jobs(prefix: &str, count: u64) -> Vec<serde_json::Value> {
    (0..count)
        .map(|i| person_job(&format!("{prefix}-{i}"), i))
        .collect()
}

/// What a settled batch came to: the fault tests assert on it and report it.
#[allow(dead_code)] // for the fault suites, not every test binary
pub struct SettledBatch {
    pub rows: Vec<ResultRow>,
    /// Distinct job ids among the completions.
    pub completed: usize,
    /// Calls the mock answered.
    pub calls: u64,
    /// The sum of the rows' `attempts`.
    pub attempts: i64,
}

#[allow(dead_code)] // for the fault suites, not every test binary
impl TestEnv {
    /// Call once every worker has stopped. Asserts what any fault must leave intact:
    /// one row per job, a completion for every job, nothing dead-lettered and
    /// nothing left in (or returned to) the jobs queue.
    pub async fn assert_batch_settled(&self, jobs: &[serde_json::Value]) -> SettledBatch {
        let expected: std::collections::BTreeSet<String> = jobs
            .iter()
            .filter_map(|j| j["job_id"].as_str().map(str::to_string))
            .collect();
        let rows = self.rows().await;
        let stored: std::collections::BTreeSet<String> =
            rows.iter().map(|r| r.job_id.clone()).collect();
        assert_eq!(rows.len(), stored.len(), "a job_id has two rows");
        assert_eq!(stored, expected, "the rows are not one per job");
        let completed: std::collections::BTreeSet<String> = self
            .completions()
            .await
            .into_iter()
            .map(|c| c.job_id)
            .collect();
        assert_eq!(
            completed, expected,
            "the completions do not cover every job"
        );
        assert!(
            self.dead_letters().await.is_empty(),
            "a job was dead-lettered"
        );
        assert_eq!(self.jobs_ready().await, 0, "jobs were left in the queue");
        let attempts = rows.iter().map(|r| i64::from(r.attempts)).sum();
        SettledBatch {
            completed: completed.len(),
            calls: self.mock.stats().calls,
            attempts,
            rows,
        }
    }
}

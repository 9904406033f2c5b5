//! One isolated world for a test: its own database and queue names on the real
//! services, an in-process mock upstream, and readers for rows, completions and
//! queue depths.
//!
//! Every broker operation opens a connection of its own and closes it: a test
//! that restarts RabbitMQ must not be left holding a dead one. The services are
//! the contract's defaults unless `DATABASE_URL` (its database name is replaced)
//! or `AMQP_URL` say otherwise, so the disruptive tests can be pointed at
//! disposable services.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use id2meta::config::{Config, QueueWeight};
use id2meta::mock::{self, MockConfig, MockHandle, QpsWindow};
use id2meta::queue::{self, Completion, Publisher, Topology};
use id2meta::secret::Secret;
use id2meta::store::Store;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use sqlx::migrate::MigrateDatabase;
use uuid::Uuid;

pub const PII_KEY: &str = "test-pii-key-0123456789";

/// A test's database, queues and mock upstream.
pub struct World {
    /// The names and services this world's workers use.
    pub config: Config,
    pub mock: MockHandle,
    pub store: Store,
}

/// A mock that throttles above `qps` calls in any sliding second (the strictest
/// bound an upstream could apply), answering after 20 ms.
pub fn strict_mock(qps: u32) -> MockConfig {
    MockConfig {
        qps_limit: Some(qps),
        qps_window: QpsWindow::Sliding,
        latency: Duration::from_millis(20),
        ..MockConfig::default()
    }
}

/// The PostgreSQL server (without a database name) and the broker to test against.
fn services() -> (String, String) {
    let database = std::env::var("DATABASE_URL")
        .ok()
        .and_then(|url| url.rsplit_once('/').map(|(server, _)| server.to_string()))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into());
    let amqp = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    (database, amqp)
}

impl World {
    pub async fn new(mock_config: MockConfig) -> Self {
        let mock = mock::start(mock_config, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the mock starts");
        let id = Uuid::new_v4().simple().to_string();
        let (database_server, amqp_url) = services();
        let mut config = Config::from_source(&HashMap::new()).expect("default config");
        config.database_url = format!("{database_server}/id2meta_test_{id}");
        config.amqp_url = amqp_url;
        config.jobs_queue = format!("test.{id}.jobs");
        config.results_exchange = format!("test.{id}.results");
        config.endpoint = mock.endpoint();
        config.access_key_id = Some("testid".into());
        config.access_key_secret = Some(Secret::new("testsecret"));
        config.pii_key = Some(Secret::new(PII_KEY));
        let store = Store::connect(&config.database_url, 4)
            .await
            .expect("database");
        store.migrate().await.expect("migrations");
        let world = Self {
            config,
            mock,
            store,
        };
        world.declare().await;
        world
    }

    /// Declares the topology of this world's configuration (again, after a test
    /// changed it: more bulk queues, say).
    pub async fn declare(&self) {
        let connection = self.connect().await;
        queue::declare(&connection, &Topology::from_config(&self.config))
            .await
            .expect("topology");
        let _ = connection.close(200, "done".into()).await;
    }

    /// Weighs the jobs queue `jobs_weight` and `<jobs>.<name>` `weight`; returns
    /// that queue's name and the `ID2META_QUEUE_WEIGHTS` to start workers with.
    /// Call [`World::declare`] after it.
    pub fn weigh(&mut self, jobs_weight: u32, name: &str, weight: u32) -> (String, String) {
        let jobs = self.config.jobs_queue.clone();
        let other = format!("{jobs}.{name}");
        self.config.queue_weights = vec![
            QueueWeight {
                queue: jobs.clone(),
                weight: jobs_weight,
            },
            QueueWeight {
                queue: other.clone(),
                weight,
            },
        ];
        (
            other.clone(),
            format!("{jobs}={jobs_weight},{other}={weight}"),
        )
    }

    async fn connect(&self) -> lapin::Connection {
        queue::connect(&self.config.amqp_url, "test")
            .await
            .expect("broker")
    }

    /// Publishes `count` jobs for synthetic people (with confirms); returns their job_ids.
    pub async fn publish_people(&self, count: u64) -> Vec<String> {
        let queue = self.config.jobs_queue.clone();
        self.publish_people_to(&queue, "job-", 0..count).await
    }

    /// Publishes a job to `queue` for each synthetic person in `people`, job_ids
    /// `<prefix><index>` (with confirms); returns their job_ids.
    pub async fn publish_people_to(
        &self,
        queue: &str,
        prefix: &str,
        people: impl IntoIterator<Item = u64>,
    ) -> Vec<String> {
        let connection = self.connect().await;
        let publisher = Publisher::open(
            &connection,
            &self.config.results_exchange,
            &self.config.dead_letter_queue(),
        )
        .await
        .expect("publisher");
        let jobs: Vec<(u64, String)> = people
            .into_iter()
            .map(|i| (i, format!("{prefix}{i:04}")))
            .collect();
        let publishes = jobs.iter().map(|(i, job_id)| {
            let (name, id_number, _) = mock::population::person(*i);
            let job = serde_json::json!({
                "job_id": job_id, "name": name, "id_number": id_number, "batch_id": "b1"
            });
            let body = serde_json::to_vec(&job).expect("json");
            let publisher = publisher.clone();
            async move {
                publisher
                    .publish_job(queue, job_id, &body)
                    .await
                    .expect("published")
            }
        });
        futures_util::stream::iter(publishes)
            .buffer_unordered(256)
            .collect::<Vec<_>>()
            .await;
        let _ = connection.close(200, "done".into()).await;
        jobs.into_iter().map(|(_, job_id)| job_id).collect()
    }

    /// Rows in the results table (retried through a database restart).
    pub async fn row_count(&self) -> i64 {
        loop {
            match sqlx::query_scalar("SELECT count(*) FROM verification_results")
                .fetch_one(self.store.pool())
                .await
            {
                Ok(count) => return count,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Waits until at least `count` rows exist; panics after `within`.
    pub async fn wait_for_rows(&self, count: i64, within: Duration) -> i64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let rows = self.row_count().await;
            if rows >= count {
                return rows;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {rows} of {count} rows after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `job_id` has a row; returns its `completed_at`. Panics after `within`.
    pub async fn wait_for_row(&self, job_id: &str, within: Duration) -> DateTime<Utc> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let at: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT completed_at FROM verification_results WHERE job_id = $1",
            )
            .bind(job_id)
            .fetch_optional(self.store.pool())
            .await
            .expect("a row or none");
            if let Some(at) = at {
                return at;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no row for {job_id} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The job_ids that have a row.
    pub async fn stored_job_ids(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT job_id FROM verification_results ORDER BY job_id")
            .fetch_all(self.store.pool())
            .await
            .expect("rows")
    }

    /// Every completion published so far (drains the results queue).
    pub async fn completions(&self) -> Vec<Completion> {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("channel");
        let out = super::queues::drain(&channel, &self.config.results_queue())
            .await
            .into_iter()
            .map(|(body, _)| serde_json::from_slice(&body).expect("a completion"))
            .collect();
        let _ = connection.close(200, "done".into()).await;
        out
    }

    /// Messages ready in the jobs queue (unacknowledged ones are not counted: stop
    /// the workers first to count everything).
    pub async fn jobs_waiting(&self) -> u32 {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("channel");
        let count = super::queues::ready(&channel, &self.config.jobs_queue).await;
        let _ = connection.close(200, "done".into()).await;
        count
    }

    /// The checks every scenario ends with, once its workers have stopped: one row
    /// per job, nothing left queued, a completion for every job. Returns the upstream
    /// calls the mock answered.
    pub async fn assert_settled_once(&self, job_ids: &[String]) -> u64 {
        let stored = self.stored_job_ids().await;
        assert_eq!(stored.len(), job_ids.len(), "one row per job");
        let stored: HashSet<&String> = stored.iter().collect();
        let missing: Vec<&String> = job_ids.iter().filter(|id| !stored.contains(id)).collect();
        assert!(missing.is_empty(), "jobs without a row: {missing:?}");
        assert_eq!(self.jobs_waiting().await, 0, "jobs left in the queue");
        let completions = self.completions().await;
        assert!(completions.len() >= job_ids.len(), "too few completions");
        let completed: HashSet<&String> = completions.iter().map(|c| &c.job_id).collect();
        let uncompleted: Vec<&String> = job_ids
            .iter()
            .filter(|id| !completed.contains(id))
            .collect();
        assert!(
            uncompleted.is_empty(),
            "jobs without a completion: {uncompleted:?}"
        );
        self.mock.stats().calls
    }

    /// Deletes this world's queues and database and stops the mock.
    pub async fn cleanup(self) {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("channel");
        let bulk = self.config.bulk_queues().into_iter().map(|w| w.queue);
        for queue in [
            self.config.jobs_queue.clone(),
            self.config.interactive_queue(),
            self.config.dead_letter_queue(),
            format!("{}.intake", self.config.dead_letter_queue()),
            self.config.results_queue(),
        ]
        .into_iter()
        .chain(bulk)
        {
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = channel
            .exchange_delete(
                self.config.results_exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await;
        let _ = connection.close(200, "done".into()).await;
        self.store.pool().close().await;
        let _ = sqlx::Postgres::drop_database(&self.config.database_url).await;
        let _ = self.mock.shutdown().await;
    }
}

//! One in-process pipeline run: a mock upstream with the section's behaviour, the
//! section's scratch queues and database, a worker started exactly as
//! `id2meta worker` starts one (`crate::app::start`), and a reader of completions.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;

use super::completions::Completions;
use super::pipeline::CAP_QPS;
use super::scratch::Scratch;
use crate::app::RunningWorker;
use crate::config::Config;
use crate::mock::{self, MockConfig, MockHandle, QpsWindow, Stats};
use crate::secret::Secret;

/// A worker's pace: its QPS budget and jobs in flight.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub qps: f64,
    pub concurrency: u16,
}

pub struct Harness {
    pub mock: MockHandle,
    pub scratch: Scratch,
    pub completions: Completions,
    worker: RunningWorker,
    /// More replicas of the worker on the same queues, database and budget.
    replicas: Vec<RunningWorker>,
    shutdown: CancellationToken,
}

impl Harness {
    pub async fn open(
        base: &Config,
        run_id: &str,
        section: &str,
        upstream: MockConfig,
        pace: Pace,
    ) -> anyhow::Result<Self> {
        let mock = mock::start(upstream, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let scratch = Scratch::open(base, run_id, section).await?;
        let completions =
            Completions::start(&scratch.connection, &scratch.topology.results_queue).await?;
        let mut config = worker_config(&scratch.config, &mock.endpoint());
        config.qps = pace.qps;
        config.concurrency = pace.concurrency;
        let shutdown = CancellationToken::new();
        let worker = crate::app::start(config, shutdown.clone()).await?;
        wait_for_consumer(&scratch, Duration::from_secs(30)).await?;
        Ok(Self {
            mock,
            scratch,
            completions,
            worker,
            replicas: Vec::new(),
            shutdown,
        })
    }

    /// A fleet at the bench's cap: `replicas` workers sharing [`CAP_QPS`] against a
    /// mock that admits as much through `window`, answering after `latency`.
    pub async fn at_cap(
        base: &Config,
        run_id: &str,
        section: &str,
        (window, latency): (QpsWindow, Duration),
        replicas: usize,
    ) -> anyhow::Result<Self> {
        let upstream = MockConfig {
            qps_limit: Some(CAP_QPS),
            qps_window: window,
            latency,
            ..MockConfig::default()
        };
        let budget = f64::from(CAP_QPS);
        let pace = Pace {
            qps: budget,
            concurrency: crate::config::default_concurrency(budget),
        };
        let mut run = Self::open(base, run_id, section, upstream, pace).await?;
        for _ in 1..replicas {
            run.add_replica(pace).await?;
        }
        Ok(run)
    }

    /// Starts one more worker sharing everything (and the QPS budget) with the first.
    pub async fn add_replica(&mut self, pace: Pace) -> anyhow::Result<()> {
        let mut config = worker_config(&self.scratch.config, &self.mock.endpoint());
        config.qps = pace.qps;
        config.concurrency = pace.concurrency;
        let worker = crate::app::start(config, self.shutdown.clone()).await?;
        self.replicas.push(worker);
        Ok(())
    }

    /// Waits until `replicas` replicas hold the whole budget of `calls` per window
    /// between them, none of it still held from a change: the fleet is settled.
    pub async fn wait_for_budget(
        &self,
        replicas: usize,
        calls: u32,
        limit: Duration,
    ) -> anyhow::Result<()> {
        wait_for_split(&self.scratch.config.database_url, replicas, calls, limit).await
    }

    /// Stops the worker, the reader and the mock, removes the scratch; returns the mock's counts.
    pub async fn close(self) -> anyhow::Result<Stats> {
        self.shutdown.cancel();
        self.worker.wait().await?;
        for replica in self.replicas {
            replica.wait().await?;
        }
        self.completions.stop();
        let stats = self.mock.stats();
        self.mock.shutdown().await?;
        self.scratch.remove().await?;
        Ok(stats)
    }
}

/// A section's configuration pointed at the mock, with the section's throwaway PII
/// key ([`Scratch::open`]: one per section, so every replica of a fleet computes
/// the same digest for a job, as a real fleet must); the HTTP endpoints on a free
/// port. The caller sets the pace.
pub fn worker_config(section: &Config, endpoint: &str) -> Config {
    let mut config = section.clone();
    config.endpoint = endpoint.to_string();
    config.access_key_id = Some("testid".into());
    config.access_key_secret = Some(Secret::new("testsecret"));
    config.security_token = None;
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

/// Waits until a consumer is attached to the section's jobs queue: the broker has no
/// event for it, so this asks every 50 ms.
pub async fn wait_for_consumer(scratch: &Scratch, limit: Duration) -> anyhow::Result<()> {
    let channel = scratch
        .connection
        .create_channel()
        .await
        .context("opening a channel")?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let started = Instant::now();
    loop {
        let queue = channel
            .queue_declare(
                scratch.topology.jobs_queue.as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await
            .context("inspecting the jobs queue")?;
        if queue.consumer_count() > 0 {
            let _ = channel.close(200, "bye".into()).await;
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!("no worker consumed the jobs queue within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `replicas` replicas have a row in `database_url`'s budget table and
/// hold the whole budget of `calls` per window between them, none of it still held
/// from a change (replicas on standby hold 0): the fleet is settled.
pub async fn wait_for_split(
    database_url: &str,
    replicas: usize,
    calls: u32,
    limit: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // The first worker creates the database as it starts.
    let pool = loop {
        match sqlx::PgPool::connect(database_url).await {
            Ok(pool) => break pool,
            Err(error) if started.elapsed() > limit => {
                return Err(error).context("connecting to the scratch database")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    loop {
        // Until the first worker's migrations ran, the table is missing: not yet.
        // Settled: every row claims its target (a sum of Q can still hide a replica
        // waiting for room that another's lowering, held a window, will free).
        let counted: Result<(i64, i64), _> = sqlx::query_as(
            "SELECT count(*), coalesce(sum(calls), 0) FROM worker_replicas
              WHERE left_at IS NULL AND heartbeat_at > now() - interval '2 seconds'
                AND (held_until IS NULL OR held_until < now())
                AND calls = coalesce(target, calls)",
        )
        .fetch_one(&pool)
        .await;
        if let Ok((live, claimed)) = counted {
            if live == replicas as i64 && claimed == i64::from(calls) {
                pool.close().await;
                return Ok(());
            }
        }
        if started.elapsed() > limit {
            let seen =
                counted.map(|(live, claimed)| format!("{live} rows, {claimed} calls claimed"));
            bail!("the budget was not split among {replicas} replicas within {limit:?}: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_replica_of_a_section_gets_the_sections_pii_key() {
        let mut section = Config::from_source(&std::collections::HashMap::new()).unwrap();
        section.pii_key = Some(Secret::new("the-section-key"));
        let keys: Vec<String> = (0..2)
            .map(|_| worker_config(&section, "http://127.0.0.1:1"))
            .map(|c| {
                c.pii_key
                    .map(|k| k.expose().to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(keys, ["the-section-key", "the-section-key"]);
    }
}

//! `id2meta demo`: the whole product on an embedded default. Starts the mock
//! upstream in-process (realistic latency, an occasional transient error, the
//! account's QPS limit), a worker, enqueues a synthetic batch that covers every
//! status, shows live progress, and prints what happened, upstream calls included.
//!
//! Needs only PostgreSQL and RabbitMQ. Its queues are `id2meta.demo.*`, so it never
//! touches a real jobs queue; its rows carry a `demo-...` batch_id.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::QueuePurgeOptions;
use tokio_util::sync::CancellationToken;

mod batch;
mod report;

use batch::{sample_batch, SCRIPTED_FAILED};
use report::{progress, summary};

use super::demo_oidc::OidcDemo;
use crate::config::Config;
use crate::mock::{self, MockConfig};
use crate::queue::{self, Publisher, Topology};
use crate::secret::Secret;
use crate::store::Store;

/// Options of the demo.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run the main job on an embedded default: an in-process mock upstream \
(latency ~120 ms with jitter, 3% InternalError and 2% Forbidden.ExceptionDataSource, limited to the QPS \
budget), a worker, and a synthetic batch covering every status (match, mismatch, not_found, invalid, \
rejected, failed). Prints live progress and a summary. Needs PostgreSQL (DATABASE_URL) and RabbitMQ \
(AMQP_URL) only; uses the queues id2meta.demo.jobs / id2meta.demo.results."
)]
pub struct DemoArgs {
    /// Jobs in the sample batch.
    #[arg(long, default_value_t = 300)]
    pub jobs: u64,
    /// The QPS budget (the mock enforces the same limit, as Alibaba would).
    #[arg(long, default_value_t = 50.0)]
    pub qps: f64,
    /// Mean upstream latency of the mock, in milliseconds.
    #[arg(long, default_value_t = 120)]
    pub latency_ms: u64,
    /// Where the worker's credentials come from: the mock's static pair, or
    /// short-lived STS credentials through OIDC (as RRSA on ACK), refreshed mid-batch.
    #[arg(long, value_enum, default_value = "static")]
    pub credentials: DemoCredentials,
    /// With `--credentials oidc`: the lifetime of the STS credentials, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..))]
    pub sts_ttl: u64,
}

/// The demo's credential sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoCredentials {
    Static,
    Oidc,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut config = Config::from_env()?;
    let mock = mock::start(
        MockConfig {
            qps_limit: Some(args.qps.ceil().max(1.0) as u32),
            latency: Duration::from_millis(args.latency_ms),
            jitter: Duration::from_millis(args.latency_ms / 2),
            error_rates: vec![
                ("InternalError".into(), 0.03),
                ("Forbidden.ExceptionDataSource".into(), 0.02),
            ],
            sts_ttl: Duration::from_secs(args.sts_ttl),
            sts_only: args.credentials == DemoCredentials::Oidc,
            ..MockConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await?;
    config.endpoint = mock.endpoint();
    config.access_key_id = Some("testid".into());
    config.access_key_secret = Some(Secret::new("testsecret"));
    let mut oidc = match args.credentials {
        DemoCredentials::Oidc => Some(OidcDemo::prepare(&mut config, &mock.endpoint())?),
        DemoCredentials::Static => None,
    };
    if config.pii_key.is_none() {
        config.pii_key = Some(Secret::new(uuid::Uuid::new_v4().to_string()));
    }
    config.qps = args.qps;
    config.concurrency = crate::config::default_concurrency(args.qps);
    config.jobs_queue = "id2meta.demo.jobs".into();
    config.results_exchange = "id2meta.demo.results".into();
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let batch_id = format!("demo-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"));
    eprintln!(
        "id2meta demo: batch {batch_id}, {} jobs, QPS budget {}, mock at {}",
        args.jobs,
        args.qps,
        mock.endpoint()
    );

    let store = Store::open(&config.database(), 2).await?;
    store.migrate().await?;
    let connection = queue::connect(&config.amqp_url, "id2meta demo").await?;
    let channel = connection.create_channel().await?;
    let topology = Topology::from_config(&config);
    queue::declare(&connection, &topology).await?;
    for q in [
        &topology.jobs_queue,
        &topology.interactive_queue,
        &topology.results_queue,
    ] {
        channel
            .queue_purge(q.as_str().into(), QueuePurgeOptions::default())
            .await?;
    }
    let publisher = Publisher::open(
        &connection,
        &topology.results_exchange,
        &topology.dead_letter_queue,
    )
    .await?;

    let shutdown = CancellationToken::new();
    let worker = crate::app::start(config.clone(), shutdown.clone()).await?;
    let jobs = sample_batch(&batch_id, args.jobs, config.max_attempts, &mock);
    let started = Instant::now();
    let queue_name = topology.jobs_queue.clone();
    futures_util::stream::iter(jobs.iter().map(|(job_id, body)| {
        let publisher = publisher.clone();
        let queue_name = queue_name.clone();
        async move { publisher.publish_job(&queue_name, job_id, body).await }
    }))
    .buffer_unordered(256)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    store.record_enqueued(&batch_id, jobs.len() as i64).await?;

    let total = jobs.len() as i64;
    let terminal = std::io::stderr().is_terminal();
    let mut bulk_elapsed = None;
    let mut ticks = 0u64;
    let counts = loop {
        let counts = store.batch_counts(&batch_id).await?;
        // On a terminal one line redrawn; in a log, a line every two seconds.
        if terminal || ticks % 8 == 0 || counts.total() >= total {
            progress(
                &counts.by_status,
                total,
                started.elapsed(),
                mock.stats().calls,
                terminal,
            );
        }
        ticks += 1;
        if bulk_elapsed.is_none() && counts.total() >= total - SCRIPTED_FAILED as i64 {
            bulk_elapsed = Some((started.elapsed(), mock.stats().calls));
        }
        if counts.total() >= total {
            break counts;
        }
        if counts.total() >= total / 2 {
            if let Some(oidc) = oidc.as_mut() {
                oidc.rotate_token_once();
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let elapsed = started.elapsed();
    if terminal {
        eprintln!();
    }
    shutdown.cancel();
    worker.wait().await?;
    let _ = connection.close(200, "bye".into()).await;
    summary(
        &batch_id,
        &counts.by_status,
        total,
        (elapsed, bulk_elapsed.unwrap_or((elapsed, 0))),
        &mock,
        args.qps,
    );
    if oidc.is_some() {
        OidcDemo::summary(&mock.stats(), args.sts_ttl);
    }
    drop(oidc);
    mock.shutdown().await?;
    Ok(())
}

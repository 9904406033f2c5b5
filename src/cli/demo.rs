//! `id2meta demo`: the whole product on an embedded default. Starts the mock
//! upstream in-process (realistic latency, an occasional transient error, the
//! account's QPS limit), a worker, enqueues a synthetic batch that covers every
//! status, shows live progress, and prints what happened, upstream calls included.
//!
//! Needs only PostgreSQL and RabbitMQ. Its queues are `id2meta.demo.*`, so it never
//! touches a real jobs queue; its rows carry a `demo-...` batch_id.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::QueuePurgeOptions;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::demo_oidc::OidcDemo;
use crate::config::Config;
use crate::mock::{self, population, MockConfig, MockHandle};
use crate::queue::{self, Publisher, Topology};
use crate::secret::Secret;
use crate::status::Status;
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

/// Statuses forced by script, besides the population's verdicts and the invalid ones.
const SCRIPTED_REJECTED: u64 = 4;
const SCRIPTED_FAILED: u64 = 3;

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

    let store = Store::connect(&config.database_url, 2).await?;
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

/// The batch: the population's people (match, mismatch, not_found), some invalid
/// input, and a few identities scripted to be rejected or to fail every attempt.
fn sample_batch(
    batch_id: &str,
    jobs: u64,
    max_attempts: u32,
    mock: &MockHandle,
) -> Vec<(String, Vec<u8>)> {
    let invalid = [
        ("张三", "110105194912310021"),         // wrong check character
        ("李四", "11010519491331002X"),         // no 13th month
        ("", "11010519491231002X"),             // empty name
        ("王五", "1101051949123100"),           // too short
        ("赵\u{202E}六", "11010519491231002X"), // a bidi override in the name
    ];
    (0..jobs)
        .map(|i| {
            let job_id = format!("{batch_id}-{i:05}");
            let (name, id_number) = if i % 50 == 49 {
                let (name, id) = invalid[(i / 50) as usize % invalid.len()];
                (name.to_string(), id.to_string())
            } else {
                let (name, id, _) = population::person(i);
                if i < SCRIPTED_REJECTED {
                    mock.script(&id, ["InvalidParameter"]);
                } else if i < SCRIPTED_REJECTED + SCRIPTED_FAILED {
                    mock.script(&id, vec!["InternalError"; max_attempts as usize]);
                }
                (name, id)
            };
            let body = json!({"job_id": job_id, "name": name, "id_number": id_number, "batch_id": batch_id,
                              "metadata": {"source": "demo", "row": i}});
            (job_id, body.to_string().into_bytes())
        })
        .collect()
}

fn count(by_status: &[(String, i64)], status: Status) -> i64 {
    by_status
        .iter()
        .find(|(s, _)| s == status.as_str())
        .map(|(_, n)| *n)
        .unwrap_or(0)
}

fn progress(
    by_status: &[(String, i64)],
    total: i64,
    elapsed: Duration,
    calls: u64,
    terminal: bool,
) {
    let done: i64 = by_status.iter().map(|(_, n)| n).sum();
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let parts: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", s, count(by_status, *s)))
        .collect();
    let line = format!(
        "  settled {done:>5}/{total}  [{}]  upstream calls {calls:>5}  {rate:>6.1} jobs/s ",
        parts.join(", ")
    );
    if terminal {
        eprint!("\r{line}");
    } else {
        eprintln!("{line}");
    }
    let _ = std::io::stderr().flush();
}

/// `elapsed`: (the whole batch, (the time and upstream calls until all but the jobs
/// scripted to fail every attempt were settled: their retries back off for seconds by
/// design, and would hide the rate reached)).
fn summary(
    batch_id: &str,
    by_status: &[(String, i64)],
    total: i64,
    elapsed: (Duration, (Duration, u64)),
    mock: &MockHandle,
    qps: f64,
) {
    let stats = mock.stats();
    let secs = elapsed.0.as_secs_f64().max(0.001);
    let (bulk, bulk_calls) = (elapsed.1 .0.as_secs_f64().max(0.001), elapsed.1 .1 as f64);
    let called = total - count(by_status, Status::Invalid);
    println!("\nid2meta demo: batch {batch_id}");
    println!("  {:<28} {:>10}", "status", "jobs");
    for s in Status::ALL {
        println!("  {:<28} {:>10}", s.as_str(), count(by_status, s));
    }
    println!(
        "  {:<28} {:>10}",
        "total settled",
        by_status.iter().map(|(_, n)| n).sum::<i64>()
    );
    println!();
    println!("  {:<28} {:>10}", "upstream calls", stats.calls);
    println!(
        "  {:<28} {:>10}",
        "  billed (verdicts)", stats.verdict_calls
    );
    println!(
        "  {:<28} {:>10}",
        "  retries",
        stats.calls.saturating_sub(called.max(0) as u64)
    );
    println!(
        "  {:<28} {:>10}",
        "  throttled by upstream", stats.throttled
    );
    for (code, n) in &stats.by_code {
        println!("    {code:<26} {n:>10}");
    }
    println!();
    let bulk_jobs = (total - SCRIPTED_FAILED as i64) as f64;
    println!("  {:<28} {:>10.1} s", "elapsed, whole batch", secs);
    println!("  {:<28} {:>10.1} s", "elapsed, all but the failing", bulk);
    println!(
        "  {:<28} {:>10.1} jobs/s",
        "throughput (all but failing)",
        bulk_jobs / bulk
    );
    println!(
        "  {:<28} {:>10.1} calls/s ({:.0}% of the {qps} QPS budget)",
        "upstream rate (same span)",
        bulk_calls / bulk,
        100.0 * bulk_calls / bulk / qps
    );
    println!(
        "  {:<28} {:>10}",
        "most calls in one second", stats.max_calls_in_one_second
    );
    println!("\n  rows: id2meta results --batch-id {batch_id}");
}

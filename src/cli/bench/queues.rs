//! (11) Weighted queues and caps (issue 22): a partner's batch enqueued behind a
//! backfill's backlog, weights 1:1, against a strict sliding window of 50 calls.
//!
//! - alone at half the budget: the partner's batch with nothing else, at 25 calls
//!   a second (what 1:1 promises it while the backfill is backlogged);
//! - shared: the backfill's backlog first, then the partner's batch, 1:1 at 50:
//!   its completion time against its time alone at half the budget (about 1);
//! - capped: the same with the partner's queue capped at 10 calls a second: its
//!   busiest sliding second (at most 10), and the fleet's rate meanwhile (the
//!   backfill takes what the cap leaves: the whole budget is used). Interactive
//!   jobs trickle into `<jobs>.interactive` meanwhile (`--interactive-rate`),
//!   and what they wait is set against the lane's target, the upstream's
//!   latency plus 100 ms: the lane comes first whatever the weights. They run
//!   here and not in the shared run, where their calls would come out of the
//!   partner's half and blur the weights' figure; here the cap keeps the
//!   partner below its share and the fleet's rate counts their calls too.
//!
//! The partner's people are every fifth of the mock's population (region code
//! 110105), the backfill's the others, so the mock counts the partner's calls
//! apart. Times come from the results table (`queue`, `completed_at`) against the
//! database's clock when the batch was published.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use lapin::options::QueueDeleteOptions;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::harness::{wait_for_consumer, worker_config};
use super::jobs::{self, OUTSTANDING_CONFIRMS};
use super::pipeline::CAP_QPS;
use super::report::Table;
use super::scratch::Scratch;
use super::trickle::{Interactive, Trickle};
use crate::config::{QueueCap, QueueWeight};
use crate::mock::{self, MockConfig, QpsWindow};

/// The partner's region code (people `5k` of the mock's population).
const PARTNER_REGION: &str = "110105";
/// The partner queue's cap in the capped run, calls per second.
const CAP: u32 = 10;
/// How long without progress counts as stuck.
const STALL: Duration = Duration::from_secs(60);
/// The mock's latency: the interactive target is this plus 100 ms.
const UPSTREAM_LATENCY: Duration = Duration::from_millis(50);

/// What (11) measured.
#[derive(Debug, Clone)]
pub struct Queues {
    pub backfill: u64,
    pub partner: u64,
    /// The partner's batch: alone at half the budget, shared 1:1, shared and capped (s).
    pub alone_s: f64,
    pub shared_s: f64,
    pub capped_s: f64,
    /// The capped partner's busiest sliding second, and the fleet's calls per
    /// second while its batch ran.
    pub capped_most: u64,
    pub capped_fleet_rate: f64,
    pub throttled: u64,
    /// The interactive jobs trickled during the capped run.
    pub interactive: Interactive,
}

/// Runs the three scenarios: quick (scaled down by ten) or full size, with
/// `interactive_rate` interactive jobs a second during the capped one.
pub async fn measure(
    base: &crate::config::Config,
    run_id: &str,
    quick: bool,
    interactive_rate: f64,
) -> anyhow::Result<Queues> {
    let (backfill, partner) = if quick { (2_000, 100) } else { (20_000, 1_000) };
    let half = Setting {
        qps: CAP_QPS / 2,
        cap: None,
        interactive_rate: None,
    };
    let (alone_s, _, alone, _) = scenario(base, run_id, "queues-alone", half, 0, partner).await?;
    let full = Setting {
        qps: CAP_QPS,
        cap: None,
        interactive_rate: None,
    };
    let (shared_s, _, shared, _) =
        scenario(base, run_id, "queues-shared", full, backfill, partner).await?;
    let capped = Setting {
        qps: CAP_QPS,
        cap: Some(CAP),
        // At least one job every ten seconds (a zero rate has no schedule).
        interactive_rate: Some(interactive_rate.max(0.1)),
    };
    let (capped_s, fleet_rate, upstream, interactive) =
        scenario(base, run_id, "queues-capped", capped, backfill, partner).await?;
    Ok(Queues {
        backfill,
        partner,
        alone_s,
        shared_s,
        capped_s,
        capped_most: upstream
            .max_in_sliding_second_by_region
            .get(PARTNER_REGION)
            .copied()
            .unwrap_or(0),
        capped_fleet_rate: fleet_rate,
        throttled: alone.throttled + shared.throttled + upstream.throttled,
        interactive: interactive.context("the capped run trickles interactive jobs")?,
    })
}

#[derive(Debug, Clone, Copy)]
struct Setting {
    qps: u32,
    cap: Option<u32>,
    /// Interactive jobs a second while the partner's batch runs, if any.
    interactive_rate: Option<f64>,
}

/// One worker on the jobs queue (the backfill) and `<jobs>.partner`, weights 1:1:
/// `backfill` jobs first, then, once they flow, `partner` jobs. Returns the
/// partner batch's time (publish → last row), the fleet's calls per second over
/// it, the mock's counts, and what the interactive jobs trickled meanwhile waited.
async fn scenario(
    base: &crate::config::Config,
    run_id: &str,
    section: &str,
    setting: Setting,
    backfill: u64,
    partner: u64,
) -> anyhow::Result<(f64, f64, mock::Stats, Option<Interactive>)> {
    let upstream = MockConfig {
        qps_limit: Some(setting.qps),
        qps_window: QpsWindow::Sliding,
        latency: UPSTREAM_LATENCY,
        ..MockConfig::default()
    };
    let mock = mock::start(upstream, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let scratch = Scratch::open(base, run_id, section).await?;
    let jobs_queue = scratch.topology.jobs_queue.clone();
    let partner_queue = format!("{jobs_queue}.partner");
    let mut config = worker_config(&scratch.config, &mock.endpoint());
    config.qps = f64::from(setting.qps);
    config.concurrency = crate::config::default_concurrency(config.qps);
    config.queue_weights = [&jobs_queue, &partner_queue]
        .map(|queue| QueueWeight {
            queue: queue.clone(),
            weight: 1,
        })
        .to_vec();
    config.queue_caps = setting
        .cap
        .map(|cap| QueueCap {
            queue: partner_queue.clone(),
            calls_per_second: f64::from(cap),
        })
        .into_iter()
        .collect();
    let shutdown = CancellationToken::new();
    let worker = crate::app::start(config, shutdown.clone()).await?;
    wait_for_consumer(&scratch, Duration::from_secs(30)).await?;
    let pool = PgPool::connect(&scratch.config.database_url)
        .await
        .context("connecting to the scratch database")?;

    let backlog = format!("bench-{run_id}-backfill");
    publish(
        &scratch,
        &jobs_queue,
        &backlog,
        (0..).filter(|i| i % 5 != 0),
        backfill,
    )
    .await?;
    // The backfill flows (its first second of calls) before the partner comes.
    wait_rows(&pool, &jobs_queue, backfill.min(u64::from(setting.qps))).await?;
    let started: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&pool)
        .await
        .context("reading the database's clock")?;
    let calls_before = (Instant::now(), mock.stats().calls);
    let trickle = match setting.interactive_rate {
        Some(rate) => {
            let lane = format!("bench-{run_id}-interactive");
            Some((Trickle::start(&scratch, lane, rate).await?, rate))
        }
        None => None,
    };
    let batch = format!("bench-{run_id}-partner");
    publish(
        &scratch,
        &partner_queue,
        &batch,
        (0..).map(|i| 5 * i),
        partner,
    )
    .await?;
    wait_rows(&pool, &partner_queue, partner).await?;
    let interactive = match trickle {
        Some((trickle, rate)) => Some(trickle.finish(rate, STALL).await?),
        None => None,
    };
    let fleet_rate =
        (mock.stats().calls - calls_before.1) as f64 / calls_before.0.elapsed().as_secs_f64();
    let last: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(completed_at) FROM verification_results WHERE queue = $1")
            .bind(&partner_queue)
            .fetch_one(&pool)
            .await
            .context("reading the partner's last row")?;
    pool.close().await;
    shutdown.cancel();
    worker.wait().await?;
    let stats = mock.stats();
    mock.shutdown().await?;
    delete_queue(&scratch, &partner_queue).await?;
    scratch.remove().await?;
    let took = (last - started).num_milliseconds() as f64 / 1000.0;
    Ok((took, fleet_rate, stats, interactive))
}

/// Publishes `count` jobs of the people `people` yields to `queue`.
async fn publish(
    scratch: &Scratch,
    queue: &str,
    batch: &str,
    people: impl Iterator<Item = u64>,
    count: u64,
) -> anyhow::Result<()> {
    let publisher = &scratch.publisher;
    futures_util::stream::iter(people.take(count as usize).map(|i| {
        let (job_id, body) = (jobs::job_id(batch, i), jobs::body(batch, i));
        async move { publisher.publish_job(queue, &job_id, &body).await }
    }))
    .buffer_unordered(OUTSTANDING_CONFIRMS)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    Ok(())
}

/// Waits until `queue` has `count` rows; fails when none is added for [`STALL`].
async fn wait_rows(pool: &PgPool, queue: &str, count: u64) -> anyhow::Result<()> {
    let (mut seen, mut progress_at) = (-1i64, Instant::now());
    loop {
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM verification_results WHERE queue = $1")
                .bind(queue)
                .fetch_one(pool)
                .await
                .context("counting rows")?;
        if rows >= count as i64 {
            return Ok(());
        }
        if rows != seen {
            (seen, progress_at) = (rows, Instant::now());
        } else if progress_at.elapsed() > STALL {
            bail!("no row for {STALL:?}: {rows} of {count}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The partner queue is not in the scratch's topology: deleted here.
async fn delete_queue(scratch: &Scratch, queue: &str) -> anyhow::Result<()> {
    let channel = scratch
        .connection
        .create_channel()
        .await
        .context("opening a channel")?;
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await
        .context("deleting the partner queue")?;
    let _ = channel.close(200, "bye".into()).await;
    Ok(())
}

impl Queues {
    /// Its rows in the bench's table.
    pub fn report(&self, table: &mut Table) {
        let ratio = self.shared_s / self.alone_s.max(f64::MIN_POSITIVE);
        table.row(
            format!(
                "(11) queues: a {}-job partner batch behind a {}-job backfill, weights 1:1, strict window of {CAP_QPS}: its time / its time alone at half the budget",
                self.partner, self.backfill
            ),
            format!("{:.1} s / {:.1} s = {ratio:.2}", self.shared_s, self.alone_s),
            "≤ 1.10",
            Some(ratio <= 1.10),
        );
        table.row(
            format!("(11) queues: the partner capped at {CAP}/s: its batch's time, its most calls in any sliding second"),
            format!("{:.1} s, {}", self.capped_s, self.capped_most),
            "most ≤ cap",
            Some(self.capped_most <= u64::from(CAP)),
        );
        table.row(
            "(11) queues: the fleet's calls per second meanwhile (the backfill takes what the cap leaves)".into(),
            format!("{:.1} of {CAP_QPS}", self.capped_fleet_rate),
            "≥ 95 %",
            Some(self.capped_fleet_rate >= 0.95 * f64::from(CAP_QPS)),
        );
        let [p50, p99, max] = self.interactive.percentiles_ms;
        let target = UPSTREAM_LATENCY.as_millis() as f64 + 100.0;
        table.row(
            format!(
                "(11) queues: interactive publish → completion meanwhile (both queues backlogged), upstream {} ms, {} jobs at {}/s: p50 / p99 (max)",
                UPSTREAM_LATENCY.as_millis(), self.interactive.jobs, self.interactive.rate
            ),
            format!("{p50:.0} / {p99:.0} ms ({max:.0}); p99 / target {:.2}", p99 / target),
            "p99 ≤ upstream + 100 ms",
            Some(self.interactive.jobs > 0 && p99 <= target),
        );
        table.row(
            "(11) queues: throttled by the upstream".into(),
            self.throttled.to_string(),
            "0",
            Some(self.throttled == 0),
        );
    }
}

//! (12) A retention sweep beside a fleet: `rows` old result rows (seeded by one
//! `INSERT … SELECT generate_series`) are scrubbed by the workers' own sweep
//! ([`crate::lifecycle::retention::sweep`]) while two replicas drain a backlog
//! at the QPS budget. The sweep must not take the budget from the fleet: the
//! upstream calls per second in a window before the sweep and during it are
//! compared (and a window after it, which tells the host's load from the
//! sweep), beside the sweep's duration and rows per second.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::harness::Harness;
use super::jobs;
use super::pipeline::CAP_QPS;
use super::report::Table;
use crate::audit::Actor;
use crate::config::Config;
use crate::lifecycle::retention;
use crate::mock::QpsWindow;
use crate::store::Store;

/// Replicas sharing the budget.
const REPLICAS: usize = 2;
/// The mock's latency.
const UPSTREAM_LATENCY: Duration = Duration::from_millis(100);
/// How old the seeded rows are, and the retention that makes them due.
const SEEDED_DAYS: i32 = 400;
const RETENTION: Duration = Duration::from_secs(180 * 86_400);
/// The budget use during the sweep, against before it, that counts as not dropping.
const KEPT: f64 = 0.95;
/// How often the backlog is topped up and the mock's calls read.
const TICK: Duration = Duration::from_millis(250);

/// What (12) measured.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub rows: i64,
    pub budget: f64,
    /// Upstream calls per second before the sweep, and during it.
    pub before: f64,
    pub during: f64,
    /// The same window once the sweep is over: tells the host's load from the sweep.
    pub after: f64,
    pub duration: Duration,
    pub scrubbed: u64,
}

impl Sweep {
    /// The budget use during the sweep over the use before it.
    pub fn kept(&self) -> f64 {
        if self.before > 0.0 {
            self.during / self.before
        } else {
            0.0
        }
    }

    /// The section's rows of the bench's table.
    pub fn report(&self, table: &mut Table) {
        table.row(
            format!(
                "(12) retention sweep beside a fleet: calls/s before / during / after the sweep of {} rows, {REPLICAS} replicas at a budget of {}",
                self.rows, self.budget
            ),
            format!(
                "{:.1} / {:.1} / {:.1}; during / before {:.3}",
                self.before,
                self.during,
                self.after,
                self.kept()
            ),
            "during ≥ 95 % of before",
            Some(self.kept() >= KEPT),
        );
        let secs = self.duration.as_secs_f64();
        let per_sec = self.scrubbed as f64 / secs.max(1e-9);
        table.row(
            "(12) retention sweep: duration, rows scrubbed, rows/s".into(),
            format!("{secs:.1} s, {}, {per_sec:.0}/s", self.scrubbed),
            "every seeded row",
            Some(self.scrubbed == self.rows as u64),
        );
    }
}

/// Seeds `rows` old rows, drains a backlog at the budget through two replicas,
/// and sweeps while measuring the fleet's calls per second; `before` is the
/// window measured first.
pub async fn measure(
    base: &Config,
    run_id: &str,
    rows: i64,
    before: Duration,
) -> anyhow::Result<Sweep> {
    let budget = f64::from(CAP_QPS);
    let upstream = (QpsWindow::Bucket, UPSTREAM_LATENCY);
    let run = Harness::at_cap(base, run_id, "retention", upstream, REPLICAS).await?;
    let store = Store::open(&run.scratch.config.database(), 2).await?;
    seed(&store, rows).await?;
    run.wait_for_budget(REPLICAS, CAP_QPS, Duration::from_secs(30))
        .await?;
    let mut backlog = Backlog::new(run_id);
    // Twice the budget's worth queued ahead, topped up faster than it drains.
    backlog.add(&run, 2 * u64::from(CAP_QPS)).await?;
    let warm = Instant::now() + Duration::from_secs(2);
    while Instant::now() < warm {
        backlog.tick(&run).await?;
    }
    let before_rate = window_rate(&run, &mut backlog, before).await?;

    let stop = CancellationToken::new();
    let actor = Actor::worker(uuid::Uuid::nil());
    let (start, calls_start) = (Instant::now(), run.mock.stats().calls);
    let sweep = retention::sweep(&store, RETENTION, &actor, &stop);
    tokio::pin!(sweep);
    let swept = loop {
        tokio::select! {
            swept = &mut sweep => break swept?,
            added = backlog.tick(&run) => added?,
        }
    };
    let duration = start.elapsed();
    let during_rate = rate(calls_start, run.mock.stats().calls, duration);
    let after_rate = window_rate(&run, &mut backlog, before).await?;
    if !swept.finished {
        bail!("the sweep did not finish (another replica held it?)");
    }
    store.pool().close().await;
    run.close().await?;
    Ok(Sweep {
        rows,
        budget,
        before: before_rate,
        during: during_rate,
        after: after_rate,
        duration,
        scrubbed: swept.rows,
    })
}

/// The fleet's upstream calls per second over `window`, the backlog kept full.
async fn window_rate(
    run: &Harness,
    backlog: &mut Backlog,
    window: Duration,
) -> anyhow::Result<f64> {
    let (start, calls_start) = (Instant::now(), run.mock.stats().calls);
    while start.elapsed() < window {
        backlog.tick(run).await?;
    }
    Ok(rate(calls_start, run.mock.stats().calls, start.elapsed()))
}

fn rate(from: u64, to: u64, over: Duration) -> f64 {
    to.saturating_sub(from) as f64 / over.as_secs_f64().max(1e-9)
}

/// The jobs published so far; new people each time (no reuse).
struct Backlog {
    batch: String,
    sent: u64,
}

impl Backlog {
    fn new(run_id: &str) -> Self {
        Self {
            batch: format!("bench-{run_id}-fleet"),
            sent: 0,
        }
    }

    async fn add(&mut self, run: &Harness, count: u64) -> anyhow::Result<()> {
        let queue = &run.scratch.topology.jobs_queue;
        for i in self.sent..self.sent + count {
            let (job_id, body) = (jobs::job_id(&self.batch, i), jobs::body(&self.batch, i));
            run.scratch
                .publisher
                .publish_job(queue, &job_id, &body)
                .await?;
        }
        self.sent += count;
        Ok(())
    }

    /// Waits a [`TICK`], then adds half again what the budget drains in one.
    async fn tick(&mut self, run: &Harness) -> anyhow::Result<()> {
        tokio::time::sleep(TICK).await;
        let per_tick = (f64::from(CAP_QPS) * TICK.as_secs_f64() * 1.5).ceil() as u64;
        self.add(run, per_tick).await
    }
}

/// `rows` results completed [`SEEDED_DAYS`] ago, with masks, digests and done
/// claims, as a worker would have left them; one statement each.
async fn seed(store: &Store, rows: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO verification_results (job_id, batch_id, status, biz_code, upstream_code,
             request_id, attempts, name_masked, id_number_masked, identity_digest, metadata,
             received_at, completed_at)
         SELECT 'old-' || lpad(i::text, 9, '0'), 'old', 'match', '1', 'Success', md5('r' || i), 1,
                '张*', '1101**********001X', md5(i::text), '{\"k\": \"v\"}',
                now() - make_interval(days => $2) - make_interval(secs => i * 0.02),
                now() - make_interval(days => $2) - make_interval(secs => i * 0.02)
           FROM generate_series(1, $1::bigint) AS i",
    )
    .bind(rows)
    .bind(SEEDED_DAYS)
    .execute(store.db())
    .await
    .context("seeding old rows")?;
    sqlx::query(
        "INSERT INTO job_claims (job_id, identity_digest, owner, state, lease_until, attempts)
         SELECT job_id, identity_digest, gen_random_uuid(), 'done', completed_at, 1
           FROM verification_results WHERE batch_id = 'old'",
    )
    .execute(store.db())
    .await
    .context("seeding the old rows' claims")?;
    sqlx::query("VACUUM ANALYZE verification_results")
        .execute(store.db())
        .await
        .context("analysing the seeded rows")?;
    Ok(())
}

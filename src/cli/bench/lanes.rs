//! (7) Priority lanes: a bulk backlog drains at the full budget across three
//! replicas while interactive jobs trickle into `<jobs>.interactive`; what an
//! interactive job waits (publish → completion) against its target, the
//! upstream latency plus 100 ms, and the share of the budget the fleet used.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::task::JoinSet;

use super::completions::percentile;
use super::harness::Harness;
use super::jobs;
use super::pipeline::{steady_rate, CAP_QPS};
use crate::config::Config;
use crate::mock::{QpsWindow, Stats};

/// Replicas sharing the budget, as in the scenario.
const REPLICAS: usize = 3;
/// The mock's latency: the interactive target is this plus 100 ms.
const UPSTREAM_LATENCY: Duration = Duration::from_millis(100);
/// Interactive jobs stop being sent once this share of the backlog completed,
/// so every one of them meets a backlog still waiting.
const TRICKLE_UNTIL: f64 = 0.9;
/// How long without a single completion counts as stuck.
const STALL: Duration = Duration::from_secs(60);

/// What (7) measured.
#[derive(Debug, Clone)]
pub struct Lanes {
    pub bulk: u64,
    pub interactive: u64,
    pub interactive_rate: f64,
    pub budget: f64,
    pub upstream_latency_ms: u64,
    /// Interactive publish → completion: p50, p99, max in milliseconds.
    pub percentiles_ms: [f64; 3],
    /// Upstream calls per second over the steady part of the run.
    pub steady_rate: Option<f64>,
    pub upstream: Stats,
}

impl Lanes {
    /// The interactive target: the upstream's latency plus 100 ms.
    pub fn target_ms(&self) -> f64 {
        self.upstream_latency_ms as f64 + 100.0
    }
}

/// Drains `bulk` jobs through three replicas against a strict 50-call sliding
/// window while interactive jobs arrive at `rate` per second.
pub async fn measure(base: &Config, run_id: &str, bulk: u64, rate: f64) -> anyhow::Result<Lanes> {
    let budget = f64::from(CAP_QPS);
    let upstream = (QpsWindow::Sliding, UPSTREAM_LATENCY);
    let mut run = Harness::at_cap(base, run_id, "lanes", upstream, REPLICAS).await?;
    run.wait_for_budget(REPLICAS, CAP_QPS, Duration::from_secs(30))
        .await?;
    let topology = run.scratch.topology.clone();
    let batch = format!("bench-{run_id}-bulk");
    jobs::publish(&run.scratch.publisher, &topology.jobs_queue, &batch, bulk).await?;

    // Interactive jobs on a fixed schedule while the backlog drains; the mock's
    // call count sampled meanwhile for the budget share.
    let lane = format!("bench-{run_id}-interactive");
    // At least one job every ten seconds (a zero rate has no schedule).
    let rate = rate.max(0.1);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut sends = JoinSet::new();
    let mut samples = Vec::new();
    let mut sent = 0u64;
    let (mut seen, mut progress_at) = (0, Instant::now());
    loop {
        tick.tick().await;
        samples.push((Instant::now(), run.mock.stats().calls));
        let done = run.completions.count();
        if done as f64 >= TRICKLE_UNTIL * bulk as f64 {
            break;
        }
        if done != seen {
            (seen, progress_at) = (done, Instant::now());
        } else if progress_at.elapsed() > STALL {
            bail!("no completion for {STALL:?}: {done} of {bulk} bulk jobs completed");
        }
        let publisher = run.scratch.publisher.clone();
        let queue = topology.interactive_queue.clone();
        // Other people than the backlog's, so nothing could be a reuse.
        let i = bulk + sent;
        let (job_id, body) = (jobs::job_id(&lane, i), jobs::body(&lane, i));
        sends.spawn(async move { publisher.publish_job(&queue, &job_id, &body).await });
        sent += 1;
    }
    while let Some(published) = sends.join_next().await {
        published.context("a publishing task panicked")??;
    }
    // The budget share is taken over the trickle (the backlog's last tenth
    // drains without samples: its end is not the steady state anyway).
    let expected = (bulk + sent) as usize;
    let mut received = run.completions.wait_for(expected, STALL).await?;
    let upstream = run.close().await?;
    let mut ms =
        |p| percentile(&mut received.interactive_latencies_us, p).unwrap_or(0) as f64 / 1000.0;
    Ok(Lanes {
        bulk,
        interactive: sent,
        interactive_rate: rate,
        budget,
        upstream_latency_ms: UPSTREAM_LATENCY.as_millis() as u64,
        percentiles_ms: [ms(50.0), ms(99.0), ms(100.0)],
        steady_rate: steady_rate(&samples, Duration::from_secs(1)),
        upstream,
    })
}

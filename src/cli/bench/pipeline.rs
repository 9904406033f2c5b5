//! (2), (3), (4): the whole pipeline in process (mock → worker → results queue).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::task::JoinSet;

use super::completions::percentile;
use super::harness::{Harness, Pace};
use super::host_cpu::HostCpu;
use super::jobs;
use crate::config::Config;
use crate::mock::{MockConfig, QpsWindow, Stats};

/// The worker's budget when the upstream is unlimited: high enough never to pace.
pub const UNLIMITED_QPS: f64 = 1e6;
/// The account's budget (the contract's default and Alibaba's limit).
pub const CAP_QPS: u32 = 50;
/// How long without a single completion counts as stuck.
const STALL: Duration = Duration::from_secs(60);

/// What (2) measured.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub jobs: u64,
    pub concurrency: u16,
    /// First publish → last completion received.
    pub elapsed: Duration,
    pub publish: Duration,
    pub by_status: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub upstream: Stats,
    /// What the broker, the database and this process (worker and mock) spent,
    /// first publish → last completion.
    pub cpu: HostCpu,
}

impl Throughput {
    pub fn rate(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn throughput(
    base: &Config,
    run_id: &str,
    jobs: u64,
    concurrency: u16,
    latency: Duration,
) -> anyhow::Result<Throughput> {
    let upstream = MockConfig {
        latency,
        ..MockConfig::default()
    };
    let pace = Pace {
        qps: UNLIMITED_QPS,
        concurrency,
    };
    let mut run = Harness::open(base, run_id, "pipeline", upstream, pace).await?;
    let cpu_before = HostCpu::now();
    let started = Instant::now();
    let batch = format!("bench-{run_id}-pipeline");
    jobs::publish(
        &run.scratch.publisher,
        &run.scratch.topology.jobs_queue,
        &batch,
        jobs,
    )
    .await?;
    let publish = started.elapsed();
    let received = run.completions.wait_for(jobs as usize, STALL).await?;
    let last = received.last.context("no completion arrived")?;
    let cpu = HostCpu::now().since(&cpu_before);
    let upstream = run.close().await?;
    Ok(Throughput {
        jobs,
        concurrency,
        elapsed: last.saturating_duration_since(started),
        publish,
        by_status: received.by_status,
        duplicates: received.duplicates,
        upstream,
        cpu,
    })
}

/// What (3) measured.
#[derive(Debug, Clone)]
pub struct Capped {
    pub jobs: u64,
    pub budget: f64,
    /// How many replicas shared the budget.
    pub replicas: usize,
    /// Upstream calls per second between the first and the last second of calls.
    pub steady_rate: Option<f64>,
    pub upstream: Stats,
}

/// (3) and (6): `jobs` through `replicas` workers sharing the 50 QPS budget against a
/// mock limiting it as `window` says.
pub async fn capped(
    base: &Config,
    run_id: &str,
    jobs: u64,
    window: QpsWindow,
    replicas: usize,
) -> anyhow::Result<Capped> {
    let upstream = MockConfig {
        qps_limit: Some(CAP_QPS),
        qps_window: window,
        latency: Duration::from_millis(200),
        jitter: Duration::from_millis(50),
        ..MockConfig::default()
    };
    let budget = f64::from(CAP_QPS);
    let pace = Pace {
        qps: budget,
        concurrency: crate::config::default_concurrency(budget),
    };
    let section = format!("capped-{window:?}-{replicas}").to_lowercase();
    let mut run = Harness::open(base, run_id, &section, upstream, pace).await?;
    for _ in 1..replicas {
        run.add_replica(pace).await?;
    }
    // Measure the settled fleet, not its joining (a newcomer waits for room).
    run.wait_for_budget(replicas, CAP_QPS, Duration::from_secs(30))
        .await?;
    let queue = run.scratch.topology.jobs_queue.clone();
    let batch = format!("bench-{run_id}-capped");
    jobs::publish(&run.scratch.publisher, &queue, &batch, jobs).await?;
    // Sample the mock's call count until every job has completed.
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let (mut seen, mut progress_at) = (0, Instant::now());
    loop {
        tick.tick().await;
        samples.push((Instant::now(), run.mock.stats().calls));
        let done = run.completions.count();
        if done >= jobs as usize {
            break;
        }
        if done != seen {
            (seen, progress_at) = (done, Instant::now());
        } else if progress_at.elapsed() > STALL {
            bail!("no completion for {STALL:?}: {done} of {jobs} jobs completed");
        }
    }
    let upstream = run.close().await?;
    Ok(Capped {
        jobs,
        budget,
        replicas,
        steady_rate: steady_rate(&samples, Duration::from_secs(1)),
        upstream,
    })
}

/// The call rate over the samples' steady part: from `edge` after the first call to
/// `edge` before the count reached its final value. `None` if that span is empty.
pub fn steady_rate(samples: &[(Instant, u64)], edge: Duration) -> Option<f64> {
    let (_, last_count) = *samples.last()?;
    let first = samples.iter().find(|(_, c)| *c > 0)?.0;
    let end = samples.iter().find(|(_, c)| *c == last_count)?.0;
    let (from, to) = (first + edge, end.checked_sub(edge)?);
    let at = |t: Instant| samples.iter().find(|(at, _)| *at >= t).copied();
    let ((a, ca), (b, cb)) = (at(from)?, at(to)?);
    let span = b.checked_duration_since(a)?.as_secs_f64();
    (span > 0.0).then(|| (cb - ca) as f64 / span)
}

/// What (4) measured.
#[derive(Debug, Clone)]
pub struct Latency {
    pub jobs: u64,
    pub offered_rate: f64,
    pub budget: f64,
    pub upstream_latency_ms: u64,
    /// p50, p95, p99, max in milliseconds.
    pub percentiles_ms: [f64; 4],
    pub upstream: Stats,
}

pub async fn latency(
    base: &Config,
    run_id: &str,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Latency> {
    let upstream_latency = Duration::from_millis(100);
    let upstream = MockConfig {
        qps_limit: Some(CAP_QPS),
        latency: upstream_latency,
        ..MockConfig::default()
    };
    let budget = f64::from(CAP_QPS);
    let pace = Pace {
        qps: budget,
        concurrency: crate::config::default_concurrency(budget),
    };
    let mut run = Harness::open(base, run_id, "latency", upstream, pace).await?;
    let jobs = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let batch = format!("bench-{run_id}-latency");
    // A fixed schedule: each job is sent on its tick, whatever the confirms of earlier ones do.
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut sends = JoinSet::new();
    for i in 0..jobs {
        tick.tick().await;
        let publisher = run.scratch.publisher.clone();
        let queue = run.scratch.topology.jobs_queue.clone();
        let (job_id, body) = (jobs::job_id(&batch, i), jobs::body(&batch, i));
        sends.spawn(async move { publisher.publish_job(&queue, &job_id, &body).await });
    }
    while let Some(sent) = sends.join_next().await {
        sent.context("a publishing task panicked")??;
    }
    let mut received = run.completions.wait_for(jobs as usize, STALL).await?;
    let upstream = run.close().await?;
    let mut ms = |p| percentile(&mut received.latencies_us, p).unwrap_or(0) as f64 / 1000.0;
    Ok(Latency {
        jobs,
        offered_rate: rate,
        budget,
        upstream_latency_ms: upstream_latency.as_millis() as u64,
        percentiles_ms: [ms(50.0), ms(95.0), ms(99.0), ms(100.0)],
        upstream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steady_rate_leaves_out_the_first_and_last_second() {
        let t0 = Instant::now();
        // 10 s of samples every 100 ms: a slow first second, 50 calls/s, a slow last second.
        let samples: Vec<(Instant, u64)> = (0..=100u64)
            .map(|k| {
                let count = match k {
                    0..=10 => k,                  // 10 calls/s
                    11..=90 => 10 + (k - 10) * 5, // 50 calls/s
                    _ => 410 + (k - 90).min(5),   // then 5 calls and done
                };
                (t0 + Duration::from_millis(100 * k), count)
            })
            .collect();
        let rate = steady_rate(&samples, Duration::from_secs(1)).unwrap();
        assert!((rate - 50.0).abs() < 3.0, "{rate}");
    }

    #[test]
    fn a_run_shorter_than_two_seconds_has_no_steady_rate() {
        let t0 = Instant::now();
        let samples = vec![(t0, 0), (t0 + Duration::from_millis(500), 20)];
        assert_eq!(steady_rate(&samples, Duration::from_secs(1)), None);
        assert_eq!(steady_rate(&[], Duration::from_secs(1)), None);
    }
}

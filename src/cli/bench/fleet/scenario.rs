//! One fleet scenario: a strict mock, a scratch section, N worker processes that
//! split the budget, a bulk backlog (and interactive jobs trickled in, or a
//! replica frozen, if the scenario says so), sampled every 100 ms until every job
//! completed; then every process stops by SIGTERM.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::FleetRun;
use crate::cli::bench::completions::{percentile, Completions};
use crate::cli::bench::harness::wait_for_split;
use crate::cli::bench::jobs;
use crate::cli::bench::pipeline::steady_rate;
use crate::cli::bench::processes::WorkerProcess;
use crate::cli::bench::scratch::Scratch;
use crate::config::Config;
use crate::mock::{self, MockConfig, QpsWindow};

/// How long without a completion counts as stuck (a stranded job).
const STALL: Duration = Duration::from_secs(60);
/// Interactive jobs stop once this share of the backlog completed, so each of
/// them meets a backlog still waiting.
const TRICKLE_UNTIL: f64 = 0.9;
/// When the first freeze starts, and the time between two.
const FREEZE_AFTER: Duration = Duration::from_secs(3);
const BETWEEN_FREEZES: Duration = Duration::from_secs(4);

/// SIGSTOP the first replica `times` times for `length`.
#[derive(Debug, Clone, Copy)]
pub struct Freeze {
    pub times: u32,
    pub length: Duration,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub label: String,
    pub replicas: usize,
    pub qps: u32,
    pub jobs: u64,
    pub freeze: Option<Freeze>,
    /// Interactive jobs per second during the backlog (0: none).
    pub interactive_rate: f64,
    /// The mock holds each new connection this long (a TLS handshake far away):
    /// the replicas meet the backlog with cold connection pools.
    pub connect_delay: Duration,
}

impl Scenario {
    pub async fn run(self, base: &Config, run_id: &str, index: usize) -> anyhow::Result<FleetRun> {
        // The interactive target is the upstream's latency plus 100 ms: give it a
        // realistic one there; elsewhere a short one keeps each replica's calls in
        // flight few.
        // A cold start's connections are as many as its calls in flight: a realistic
        // latency there too.
        let realistic = self.interactive_rate > 0.0 || !self.connect_delay.is_zero();
        let latency = Duration::from_millis(if realistic { 100 } else { 20 });
        let upstream = MockConfig {
            qps_limit: Some(self.qps),
            qps_window: QpsWindow::Sliding,
            latency,
            connect_delay: self.connect_delay,
            // A slow handshake is one the client waits for only over TLS, as the
            // real endpoint is (`mock::tls`).
            tls: !self.connect_delay.is_zero(),
            ..MockConfig::default()
        };
        let upstream_tls = upstream.tls;
        let mock = mock::start(upstream, ([127, 0, 0, 1], 0).into()).await?;
        let section = format!("fleet{index}");
        let scratch = Scratch::open(base, run_id, &section).await?;
        let mut completions =
            Completions::start(&scratch.connection, &scratch.topology.results_queue).await?;
        let mut settings = vec![("ID2META_QPS", self.qps.to_string())];
        if upstream_tls {
            // The replicas trust the mock's test CA as an operator's private CA.
            let ca = std::env::temp_dir().join(format!("id2meta-bench-{run_id}-ca.pem"));
            std::fs::write(&ca, mock::TEST_CA_PEM).context("writing the mock's test CA")?;
            settings.push(("SSL_CERT_FILE", ca.display().to_string()));
        }
        if self.replicas >= 10 {
            // PostgreSQL's default max_connections is 100: thirty replicas at the
            // default 6 would need 180 (docs/deploy.md: lower it, or PgBouncer).
            settings.push(("ID2META_DB_CONNECTIONS", "2".to_string()));
        }
        let mut workers = Vec::with_capacity(self.replicas);
        for i in 0..self.replicas {
            let log =
                std::env::temp_dir().join(format!("id2meta-bench-{run_id}-{section}-{i}.log"));
            workers.push(WorkerProcess::spawn(
                &scratch,
                &mock.endpoint(),
                &settings,
                log,
            )?);
        }
        // Every replica has a row and the budget is wholly claimed, none of it held.
        wait_for_split(
            &scratch.config.database_url,
            self.replicas,
            self.qps,
            Duration::from_secs(60),
        )
        .await
        .with_context(|| {
            format!(
                "the fleet did not form; logs in {}",
                std::env::temp_dir().display()
            )
        })?;

        let started = Instant::now();
        let batch = format!("bench-{run_id}-{section}");
        jobs::publish(
            &scratch.publisher,
            &scratch.topology.jobs_queue,
            &batch,
            self.jobs,
        )
        .await?;
        let lane = format!("bench-{run_id}-{section}-interactive");
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut samples = Vec::new();
        let (mut sent, mut next_interactive) = (0u64, Instant::now());
        let mut freezes = self.freeze.map(|f| Schedule::new(f, started));
        let (mut seen, mut progress_at) = (0, Instant::now());
        loop {
            tick.tick().await;
            let now = Instant::now();
            let calls = mock.stats().calls;
            samples.push((now, calls));
            if let Some(schedule) = freezes.as_mut() {
                schedule.step(&workers[0], now, calls).await?;
            }
            let done = completions.count();
            let trickling =
                self.interactive_rate > 0.0 && (done as f64) < TRICKLE_UNTIL * self.jobs as f64;
            if trickling && now >= next_interactive {
                let i = self.jobs + sent;
                let (job_id, body) = (jobs::job_id(&lane, i), jobs::body(&lane, i));
                scratch
                    .publisher
                    .publish_job(&scratch.topology.interactive_queue, &job_id, &body)
                    .await?;
                sent += 1;
                next_interactive += Duration::from_secs_f64(1.0 / self.interactive_rate);
            }
            let frozen = freezes.as_ref().is_some_and(|s| !s.finished());
            if done as u64 >= self.jobs + sent && !trickling && !frozen {
                break;
            }
            if done != seen {
                (seen, progress_at) = (done, now);
            } else if progress_at.elapsed() > STALL {
                bail!(
                    "no completion for {STALL:?}: {done} of {} jobs",
                    self.jobs + sent
                );
            }
        }
        let mut received = completions
            .wait_for((self.jobs + sent) as usize, STALL)
            .await?;
        let elapsed = received.last.unwrap_or_else(Instant::now) - started;
        let mut clean_exits = 0;
        let stops = workers.into_iter().map(|w| w.stop(Duration::from_secs(35)));
        for stopped in futures_util::future::join_all(stops).await {
            clean_exits += usize::from(stopped?.clean);
        }
        completions.stop();
        let upstream_stats = mock.stats();
        mock.shutdown().await?;
        scratch.remove().await?;
        let mut ms =
            |p| percentile(&mut received.interactive_latencies_us, p).map(|us| us as f64 / 1000.0);
        let interactive_ms = match (ms(50.0), ms(99.0)) {
            (Some(p50), Some(p99)) => Some([p50, p99]),
            _ => None,
        };
        Ok(FleetRun {
            label: self.label,
            replicas: self.replicas,
            qps: self.qps,
            jobs: self.jobs + sent,
            elapsed,
            steady_rate: steady_rate(&samples, Duration::from_secs(1)),
            rate_while_frozen: freezes.and_then(|s| s.rate()),
            interactive_ms,
            upstream_latency_ms: latency.as_millis() as u64,
            clean_exits,
            upstream: upstream_stats,
        })
    }
}

/// The freezes of one replica, driven by the sampling loop.
struct Schedule {
    plan: Freeze,
    next_at: Instant,
    done: u32,
    /// While frozen: since when, and the calls counted then.
    frozen_since: Option<(Instant, u64)>,
    /// Calls made and time spent while frozen, over every freeze.
    calls: u64,
    span: Duration,
}

impl Schedule {
    fn new(plan: Freeze, started: Instant) -> Self {
        Self {
            plan,
            next_at: started + FREEZE_AFTER,
            done: 0,
            frozen_since: None,
            calls: 0,
            span: Duration::ZERO,
        }
    }

    async fn step(
        &mut self,
        worker: &WorkerProcess,
        now: Instant,
        calls: u64,
    ) -> anyhow::Result<()> {
        match self.frozen_since {
            None if self.done < self.plan.times && now >= self.next_at => {
                worker.signal("STOP").await?;
                self.frozen_since = Some((now, calls));
            }
            Some((since, at_start)) if now >= since + self.plan.length => {
                worker.signal("CONT").await?;
                self.calls += calls - at_start;
                self.span += now - since;
                self.frozen_since = None;
                self.done += 1;
                self.next_at = now + BETWEEN_FREEZES;
            }
            _ => {}
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        self.done >= self.plan.times
    }

    /// The others' calls per second while one was frozen.
    fn rate(&self) -> Option<f64> {
        (self.span > Duration::ZERO).then(|| self.calls as f64 / self.span.as_secs_f64())
    }
}

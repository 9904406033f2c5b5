//! (5) One worker *process*, as deployed: `id2meta worker` started from this very
//! binary with only environment variables (pointed at the in-process mock and the
//! section's scratch queues and database), at its default concurrency for an
//! unlimited budget and its production log level. The bench publishes and reads
//! completions from its own process, so /proc shows the worker's cost alone.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

use super::completions::Completions;
use super::harness::wait_for_consumer;
use super::jobs;
use super::pipeline::UNLIMITED_QPS;
use super::process_stats::{self, Sample};
use super::processes::WorkerProcess;
use super::scratch::Scratch;
use crate::config::Config;
use crate::mock::{self, MockConfig, Stats};

/// What (5) measured.
#[derive(Debug, Clone)]
pub struct Resources {
    pub jobs: u64,
    pub concurrency: u16,
    /// First publish → last completion received.
    pub elapsed: Duration,
    /// When the worker was consuming (after start-up and migrations).
    pub ready: Sample,
    /// When the last completion arrived, before the shutdown signal.
    pub done: Sample,
    pub clean_exit: bool,
    pub log_lines: u64,
    pub upstream: Stats,
}

impl Resources {
    /// CPU seconds the worker spent per thousand jobs, start-up excluded.
    pub fn cpu_per_thousand(&self) -> f64 {
        (self.done.cpu_seconds - self.ready.cpu_seconds) * 1000.0 / self.jobs.max(1) as f64
    }

    pub fn rate(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn measure(
    base: &Config,
    run_id: &str,
    jobs: u64,
    concurrency: u16,
    perf_record: Option<&Path>,
) -> anyhow::Result<Resources> {
    let mock = mock::start(MockConfig::default(), ([127, 0, 0, 1], 0).into()).await?;
    let scratch = Scratch::open(base, run_id, "resources").await?;
    let mut completions =
        Completions::start(&scratch.connection, &scratch.topology.results_queue).await?;
    let log = std::env::temp_dir().join(format!("id2meta-bench-{run_id}-worker.log"));
    let settings = [
        ("ID2META_QPS", UNLIMITED_QPS.to_string()),
        ("ID2META_CONCURRENCY", concurrency.to_string()),
    ];
    let worker = WorkerProcess::spawn(&scratch, &mock.endpoint(), &settings, log.clone())?;
    let pid = worker.pid();
    if let Err(error) = wait_for_consumer(&scratch, Duration::from_secs(60)).await {
        let _ = worker.stop(Duration::ZERO).await;
        return Err(error).context(format!("the worker did not start; see {}", log.display()));
    }
    let ticks = process_stats::clock_ticks();
    let ready = process_stats::sample(pid, ticks)?;
    let profiler = match perf_record {
        Some(file) => Some(start_perf(pid, file)?),
        None => None,
    };

    let started = Instant::now();
    let batch = format!("bench-{run_id}-resources");
    jobs::publish(
        &scratch.publisher,
        &scratch.topology.jobs_queue,
        &batch,
        jobs,
    )
    .await?;
    let received = completions
        .wait_for(jobs as usize, Duration::from_secs(60))
        .await?;
    let elapsed = received
        .last
        .context("no completion arrived")?
        .saturating_duration_since(started);
    let done = process_stats::sample(pid, ticks)?;

    if let Some(perf) = profiler {
        stop_perf(perf).await?;
    }
    let stopped = worker.stop(Duration::from_secs(35)).await?;
    completions.stop();
    let upstream = mock.stats();
    mock.shutdown().await?;
    scratch.remove().await?;
    Ok(Resources {
        jobs,
        concurrency,
        elapsed,
        ready,
        done,
        clean_exit: stopped.clean,
        log_lines: stopped.log_lines,
        upstream,
    })
}

/// `perf record --call-graph dwarf` (Rust keeps no frame pointers) attached to the worker until stopped.
fn start_perf(pid: u32, file: &Path) -> anyhow::Result<Child> {
    Command::new("perf")
        .args([
            "record",
            "--call-graph",
            "dwarf",
            "-F",
            "299",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting perf record (is perf installed?)")
}

/// Stops `perf record` as its user would (Ctrl-C), so it writes its file, and waits.
async fn stop_perf(mut perf: Child) -> anyhow::Result<()> {
    let pid = perf
        .id()
        .context("perf exited early (see `perf record` permissions)")?;
    process_stats::signal(pid, "INT").await?;
    let status = perf.wait().await.context("waiting for perf")?;
    if !status.success() {
        eprintln!("perf record exited with {status}");
    }
    Ok(())
}

//! `id2meta worker` as a child *process*, started from this very binary with
//! only environment variables, as an operator deploys it: pointed at the
//! section's mock, scratch queues and database, logging JSON at the default
//! filter to a file of its own. Sections (5) and (10) measure processes, not
//! tasks: a process has its own runtime, connections and budget row, and it can
//! be frozen (SIGSTOP) like a paused VM.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use super::harness::worker_config;
use super::process_stats;
use super::scratch::Scratch;

/// How a worker process ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// It exited by itself, successfully, within the time given.
    pub clean: bool,
    pub log_lines: u64,
}

/// A running worker process; killed if dropped.
pub struct WorkerProcess {
    child: Child,
    pid: u32,
    pub log: PathBuf,
}

impl WorkerProcess {
    /// Starts `id2meta worker` on `scratch` against `endpoint`, with `settings`
    /// (e.g. `("ID2META_QPS", "50")`) on top of the section's, its log in `log`.
    pub fn spawn(
        scratch: &Scratch,
        endpoint: &str,
        settings: &[(&str, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let config = worker_config(&scratch.config, endpoint);
        let exe = std::env::current_exe().context("finding this binary")?;
        let log_file = std::fs::File::create(&log).context("creating the worker's log file")?;
        let pii_key = config.require_pii_key()?.expose().to_string();
        let child = Command::new(exe)
            .arg("worker")
            .env("DATABASE_URL", &config.database_url)
            .env("AMQP_URL", &config.amqp_url)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .env("ID2META_ENDPOINT", endpoint)
            .env("ID2META_JOBS_QUEUE", &config.jobs_queue)
            .env("ID2META_RESULTS_EXCHANGE", &config.results_exchange)
            .env("ID2META_HTTP_ADDR", "127.0.0.1:0")
            .env("ID2META_PII_KEY", pii_key)
            .env("ID2META_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("starting the worker process")?;
        let pid = child.id().context("the worker exited at once")?;
        Ok(Self { child, pid, log })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, ...) to the process.
    pub async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        process_stats::signal(self.pid, signal).await
    }

    /// SIGTERM, then waits up to `within` (else kills it). A clean exit's log is
    /// removed once counted; another's is kept and named.
    pub async fn stop(mut self, within: Duration) -> anyhow::Result<Stopped> {
        self.signal("TERM").await?;
        let clean = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.context("waiting for the worker")?.success(),
            Err(_) => {
                let _ = self.child.kill().await;
                false
            }
        };
        let log_lines = self.log_lines();
        if clean {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!(
                "a worker did not exit cleanly; its log: {}",
                self.log.display()
            );
        }
        Ok(Stopped { clean, log_lines })
    }

    /// The log's lines so far (0 if it cannot be read).
    pub fn log_lines(&self) -> u64 {
        std::fs::read_to_string(&self.log)
            .map(|text| text.lines().count() as u64)
            .unwrap_or(0)
    }
}

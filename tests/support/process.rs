//! `id2meta worker` as a real child process: started with a clean environment
//! built from a [`World`], watched through `/readyz`, stopped by SIGTERM or
//! SIGKILL. Its JSON log goes to a file under the target's tmp directory, whose
//! tail is shown when something goes wrong.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

use super::world::{World, PII_KEY};

/// A running `id2meta worker`; killed if dropped.
pub struct WorkerProcess {
    child: Child,
    pub http_addr: SocketAddr,
    pub log: PathBuf,
}

/// A port free now: bind port 0 and let go of it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl WorkerProcess {
    /// Starts a worker on `world` with these settings on top of the world's, and waits
    /// until it reports ready. `settings` are environment variables such as
    /// `("ID2META_CONCURRENCY", "16")`.
    pub async fn start(world: &World, settings: &[(&str, &str)]) -> Self {
        let http_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "worker-{}-{}.log",
            world.config.jobs_queue,
            http_addr.port()
        ));
        let log_file = std::fs::File::create(&log).expect("a log file");
        let config = &world.config;
        let mut command = Command::new(env!("CARGO_BIN_EXE_id2meta"));
        command
            .arg("worker")
            // Only what the test says: no inherited ID2META_*, no .env file.
            .env_clear()
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .env("DATABASE_URL", &config.database_url)
            .env("AMQP_URL", &config.amqp_url)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")
            .env("ID2META_ENDPOINT", &config.endpoint)
            .env("ID2META_JOBS_QUEUE", &config.jobs_queue)
            .env("ID2META_RESULTS_EXCHANGE", &config.results_exchange)
            .env("ID2META_HTTP_ADDR", http_addr.to_string())
            .env("ID2META_PII_KEY", PII_KEY)
            // RUST_LOG unset: the default filter, as an operator starts it.
            .env("ID2META_LOG_FORMAT", "json")
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn().expect("the worker binary starts");
        let mut worker = Self {
            child,
            http_addr,
            log,
        };
        worker.wait_ready(Duration::from_secs(30)).await;
        worker
    }

    /// Starts `count` workers with the same settings, each ready before the next
    /// starts (so the budget's seniority follows the order).
    pub async fn start_many(world: &World, count: usize, settings: &[(&str, &str)]) -> Vec<Self> {
        let mut workers = Vec::with_capacity(count);
        for _ in 0..count {
            workers.push(Self::start(world, settings).await);
        }
        workers
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the worker is running")
    }

    /// `/readyz`'s status code, or `None` if nothing answers.
    pub async fn readyz(&self) -> Option<u16> {
        let url = format!("http://{}/readyz", self.http_addr);
        let client = id2meta::tls::http_client()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        match client.get(url).send().await {
            Ok(response) => Some(response.status().as_u16()),
            Err(_) => None,
        }
    }

    /// Polls `/readyz` until it answers `status`; panics after `within`.
    pub async fn wait_readyz(&mut self, status: u16, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.readyz().await == Some(status) {
                return;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("the worker exited ({exit}):\n{}", self.log_tail(30));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/readyz did not answer {status} within {within:?}:\n{}",
                self.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_ready(&mut self, within: Duration) {
        self.wait_readyz(200, within).await;
    }

    /// SIGKILL, then reap.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL delivered");
        self.child
            .wait()
            .await
            .expect("the killed worker is reaped");
    }

    /// SIGTERM: the graceful stop.
    pub async fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit; panics after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("the worker is reaped"),
            Err(_) => panic!(
                "the worker did not exit within {within:?}:\n{}",
                self.log_tail(30)
            ),
        }
    }

    /// SIGTERM and a clean exit within `within`.
    pub async fn stop(mut self, within: Duration) {
        self.terminate().await;
        let status = self.wait_exit(within).await;
        assert!(
            status.success(),
            "the worker exited with {status}:\n{}",
            self.log_tail(30)
        );
    }

    /// The last `lines` lines of the worker's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

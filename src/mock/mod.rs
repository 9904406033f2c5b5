//! A faithful stand-in for Alibaba's `Id2MetaVerifyIntl`, for tests, demos and load work.
//!
//! Every real call is billed and the real endpoint cannot be told to fail, so the
//! worker is proven against this instead. It is strict where a wrong client would
//! be caught in production (key, signature, timestamp window, nonce reuse, the
//! operation and its parameters), answers with Alibaba's codes, bodies and HTTP
//! statuses, throttles above a QPS limit, can inject latency and each documented
//! error, decides verdicts deterministically ([`population`]) and counts what it
//! answered ([`Stats`]). The official SDK pointed at it works unchanged.
//!
//! Control over HTTP: `POST /__script`, `GET`/`POST /__config`, `GET /__stats`,
//! `POST /__reset`; [`MockHandle`] offers the same in process.

mod clock;
mod faults;
/// Public for the fuzz targets (`fuzz/`), which drive the gate's checks directly.
pub mod gate;
mod handshake;
mod issued;
/// Public for the fuzz targets (`fuzz/`), which build the key set the gate checks against.
pub mod keys;
mod metadata;
mod nonce;
pub mod population;
/// Public for the fuzz targets (`fuzz/`), which drive the request decoding directly.
pub mod request;
mod server;
mod settings;
mod signature_v2;
mod signature_v3;
mod state;
mod stats;
mod sts;
mod throttle;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::secret::Secret;

pub use faults::{ScriptStep, DOCUMENTED as DOCUMENTED_ERRORS};
pub use settings::{Settings, SettingsError, SettingsPatch};
pub use stats::Stats;
pub use throttle::QpsWindow;
pub use tls::TEST_CA_PEM;

use crate::upstream::signing::Scheme;

/// How the mock starts; everything but the key pair and seed can change at run time.
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// Calls answered per second before `Throttling.User`; `None` is unlimited.
    pub qps_limit: Option<u32>,
    /// How the QPS limit counts (a token bucket unless `Sliding`).
    pub qps_window: QpsWindow,
    pub latency: Duration,
    pub jitter: Duration,
    /// (Code, rate in 0..=1) injected at random, e.g. ("InternalError", 0.02).
    pub error_rates: Vec<(String, f64)>,
    pub seed: u64,
    /// The signature schemes answered (both by default; only V3 mimics an upstream
    /// that has dropped V2).
    pub accept_signatures: Vec<Scheme>,
    /// How far the mock's clock runs off, in seconds (±1200 makes a worker look 20 minutes skewed).
    pub clock_offset_secs: i64,
    /// Lifetime of the temporary credentials the mock issues.
    pub sts_ttl: Duration,
    /// Refuse the static pair: only issued (`STS.`) credentials are accepted.
    pub sts_only: bool,
    /// How long a new connection waits before its first request is read (a TLS
    /// handshake to a distant endpoint); zero: at once. Fixed for the mock's life.
    pub connect_delay: Duration,
    /// Serve HTTPS with the test certificate ([`TEST_CA_PEM`] issued it), as the
    /// real endpoint does: then a slow handshake is one the client waits for.
    pub tls: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            access_key_id: "testid".into(),
            access_key_secret: Secret::new("testsecret"),
            qps_limit: None,
            qps_window: QpsWindow::Bucket,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            error_rates: Vec::new(),
            seed: 0,
            accept_signatures: vec![Scheme::V2, Scheme::V3],
            clock_offset_secs: 0,
            sts_ttl: Duration::from_secs(settings::DEFAULT_STS_TTL_SECS),
            sts_only: false,
            connect_delay: Duration::ZERO,
            tls: false,
        }
    }
}

impl MockConfig {
    fn settings(&self) -> Result<Settings, SettingsError> {
        let settings = Settings {
            qps_limit: self.qps_limit,
            qps_window: self.qps_window,
            latency_ms: self.latency.as_millis() as u64,
            jitter_ms: self.jitter.as_millis() as u64,
            error_rates: self.error_rates.iter().cloned().collect(),
            account_denied: None,
            accept_signatures: self.accept_signatures.clone(),
            clock_offset_secs: self.clock_offset_secs,
            sts_ttl_secs: self.sts_ttl.as_secs().max(1),
            sts_only: self.sts_only,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// A running mock; dropping it does not stop it, [`MockHandle::shutdown`] does.
pub struct MockHandle {
    pub addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    shared: Arc<state::Shared>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Starts the mock on `listen` (port 0 picks a free one).
pub async fn start(config: MockConfig, listen: SocketAddr) -> anyhow::Result<MockHandle> {
    let settings = config.settings().context("invalid mock configuration")?;
    let shared = Arc::new(state::Shared::new(
        config.access_key_id,
        config.access_key_secret,
        settings,
        config.seed,
    ));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("no local address")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = server::router(shared.clone());
    let stopped = async {
        let _ = stopped.await;
    };
    // Every connection goes through the handshake; a zero delay holds none.
    let listener = handshake::SlowHandshake::new(listener, config.connect_delay);
    let listener = tls::Listener::new(listener, config.tls)?;
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
    });
    Ok(MockHandle {
        addr,
        scheme: if config.tls { "https" } else { "http" },
        shared,
        stop,
        task,
    })
}

impl MockHandle {
    /// The base URL to give a client: `http://127.0.0.1:PORT` (`https` over TLS).
    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Zeroes the counts and forgets every script.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// The next calls for `id_number` answer these steps in order, then behave normally.
    pub fn script<S: Into<ScriptStep>>(&self, id_number: &str, steps: impl IntoIterator<Item = S>) {
        self.shared
            .script(id_number, steps.into_iter().map(Into::into));
    }

    /// Every call answers `code` (e.g. `Forbidden.AccountAccessDenied`) until `None`.
    pub fn set_account_denied(&self, code: Option<&str>) {
        let patch = SettingsPatch {
            account_denied: Some(code.map(str::to_string)),
            ..SettingsPatch::default()
        };
        // Only error rates and a zero QPS can be refused; this patch has neither.
        let _ = self.shared.update(patch);
    }

    pub fn update(&self, patch: SettingsPatch) -> Result<Settings, SettingsError> {
        self.shared.update(patch)
    }

    pub fn settings(&self) -> Settings {
        self.shared.settings()
    }

    /// Stops accepting calls, lets answers in flight finish, and waits for the server.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the mock task panicked")?
            .context("the mock server failed")
    }
}

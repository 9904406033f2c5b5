//! `id2meta console`: a web console beside any number of workers. It reads
//! PostgreSQL (fleet, batches, jobs) and RabbitMQ (backlog, dead letters), shows
//! masked data only, and acts (cancel a batch, replay or purge dead letters) only
//! for a holder of `ID2META_CONSOLE_TOKEN`.
//!
//! - [`auth`]: the token, CSRF and origin checks.
//! - [`sessions`]: login sessions in PostgreSQL, and the [`sessions::Session`] that acts.
//! - [`throttle`]: wrong logins throttled per client address.
//! - [`headers`]: the security headers of every response; [`assets`]: the
//!   stylesheet and the live-update script.
//! - [`reads`]: the bounded, indexed queries behind the pages.
//! - [`pages`]: maud templates; [`routes`]: the handlers that join the two.
//!
//! Its security rules (the contract's, revision 3) are in `docs/console.md`.

pub mod assets;
pub mod auth;
pub mod headers;
pub mod pages;
pub mod reads;
pub mod routes;
pub mod sessions;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::hosts::AllowedHosts;
use crate::http::server;
use crate::queue::dead_letters::DeadLetterQueue;
use crate::secret::Secret;
use crate::store::Store;
use auth::{Auth, MIN_TOKEN_CHARS};
use sessions::Sessions;

/// Connections the console serves at once (a few operators' browsers and scripts).
const CONNECTIONS: usize = 64;
/// How often expired sessions are swept (they are refused from their expiry on).
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How the console is reached and who may act.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub listen: SocketAddr,
    pub token: Option<Secret>,
    /// The RabbitMQ management API (`http://user:pass@host:15672`), for unacked counts.
    pub management_url: Option<String>,
}

/// Why the console will not start; each variant says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("refusing to serve the console on {0} (not loopback) without ID2META_CONSOLE_TOKEN: set a token, or listen on 127.0.0.1")]
    OpenWithoutToken(SocketAddr),
    #[error("ID2META_CONSOLE_TOKEN is {0} characters; it must be at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 24`)")]
    ShortToken(usize),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct ConsoleState {
    pub config: Config,
    pub store: Store,
    pub auth: Auth,
    /// Login sessions; `None` without a token (nobody can log in).
    pub sessions: Option<Sessions>,
    /// Wrong logins per client address.
    pub throttle: Arc<throttle::LoginThrottle>,
    /// Listening on loopback: reading needs no login.
    pub loopback: bool,
    pub management_url: Option<String>,
    /// The backlog's broker connection (passive declares), reused across views.
    pub broker: reads::backlog::BrokerConnection,
    /// The dead-letter tools' connection, shared and used one operation at a time.
    pub dead_letters: Arc<Mutex<Option<DeadLetterQueue>>>,
}

/// A running console.
pub struct RunningConsole {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningConsole {
    /// Waits until the server has stopped (after `shutdown`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Connects to PostgreSQL (applying migrations, so the console's indexes exist),
/// binds and serves until `shutdown`.
pub async fn start(
    config: Config,
    settings: ConsoleSettings,
    shutdown: CancellationToken,
) -> Result<RunningConsole, StartError> {
    let loopback = settings.listen.ip().is_loopback();
    if !loopback && settings.token.is_none() {
        return Err(StartError::OpenWithoutToken(settings.listen));
    }
    if let Some(token) = &settings.token {
        let chars = token.expose().chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(StartError::ShortToken(chars));
        }
    }
    let store = Store::open(&config.database(), config.db_connections).await?;
    store.migrate().await?;
    let sessions = settings
        .token
        .as_ref()
        .map(|token| Sessions::new(store.db().clone(), token, config.console_secure_cookie));
    if let Some(sessions) = &sessions {
        sessions.prepare().await?;
        spawn_sweeper(sessions.clone(), shutdown.clone());
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| {
            format!(
                "binding the console on {} (ID2META_CONSOLE_ADDR)",
                settings.listen
            )
        })?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let state = ConsoleState {
        config,
        store,
        auth: Auth::new(settings.token),
        sessions,
        throttle: Arc::default(),
        loopback,
        management_url: settings.management_url,
        broker: Arc::default(),
        dead_letters: Arc::default(),
    };
    let hosts = Arc::new(AllowedHosts::new(addr, &state.config.allowed_hosts));
    let app = routes::router(state)
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            crate::http::hosts::refuse_foreign,
        ))
        .layer(axum::middleware::from_fn(headers::secure));
    let limits = server::Limits::new(CONNECTIONS);
    let task = server::spawn(listener, app, limits, shutdown, "console");
    tracing::info!(%addr, "console started");
    Ok(RunningConsole { addr, task })
}

/// Deletes expired sessions every [`SWEEP_EVERY`] until `shutdown`.
fn spawn_sweeper(sessions: Sessions, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(error) = sessions.sweep().await {
                        tracing::warn!(error = %format!("{error:#}"), "sweeping console sessions failed");
                    }
                }
            }
        }
    });
}

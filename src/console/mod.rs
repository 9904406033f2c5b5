//! `id2meta console`: a web console beside any number of workers. It reads
//! PostgreSQL (fleet, batches, jobs) and RabbitMQ (backlog, dead letters), shows
//! masked data only, and acts (cancel a batch, replay or purge dead letters) only
//! for a holder of `ID2META_CONSOLE_TOKEN`.
//!
//! - [`auth`]: the token, the session cookie, CSRF and origin checks.
//! - [`reads`]: the bounded, indexed queries behind the pages.
//! - [`pages`]: maud templates; [`routes`]: the handlers that join the two.

pub mod auth;
pub mod pages;
pub mod reads;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::queue::dead_letters::DeadLetterQueue;
use crate::secret::Secret;
use crate::store::Store;
use auth::Auth;

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
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct ConsoleState {
    pub config: Config,
    pub store: Store,
    pub auth: Auth,
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
    let store = Store::open(&config.database(), config.db_connections).await?;
    store.migrate().await?;
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
        loopback,
        management_url: settings.management_url,
        broker: Arc::default(),
        dead_letters: Arc::default(),
    };
    let app = routes::router(state);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the console stopped");
        }
    });
    tracing::info!(%addr, "console started");
    Ok(RunningConsole { addr, task })
}

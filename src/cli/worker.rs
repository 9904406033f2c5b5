//! `id2meta worker` and `id2meta migrate`.

use anyhow::Context;

use crate::config::Config;
use crate::store::Store;

/// Options of `worker` (everything else comes from the environment; see `.env.example`).
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Consume jobs from ID2META_JOBS_QUEUE and settle each one: validate, claim in PostgreSQL, \
call Id2MetaVerifyIntl (paced to ID2META_QPS across all replicas, retried on transient errors), store the \
result once, publish its completion to ID2META_RESULTS_EXCHANGE, acknowledge. Applies migrations at start. \
Runs until SIGTERM or SIGINT, then finishes or returns the jobs in flight within \
ID2META_SHUTDOWN_DEADLINE_SECS. Serves /metrics, /healthz and /readyz on ID2META_HTTP_ADDR."
)]
pub struct WorkerArgs {}

/// Runs a worker until a signal.
pub async fn run(_args: WorkerArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let shutdown = crate::shutdown::on_signals();
    let worker = crate::app::start(config, shutdown).await?;
    worker.wait().await
}

/// Options of `migrate`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Create the database named in DATABASE_URL if it is missing, apply the migrations, exit."
)]
pub struct MigrateArgs {}

pub async fn migrate(_args: MigrateArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let store = Store::open(&config.database(), 2).await?;
    store.migrate().await.context("migrating")?;
    eprintln!("migrations applied");
    Ok(())
}

//! The replica's readiness in its `worker_replicas` row, for the console's fleet
//! page: "ready", or why not (`paused: <code> (<class>)`, no credentials, broker or
//! database away). The heartbeat owns the row; this task only annotates it, once
//! a second and only when the answer changed, so it adds no write on a steady
//! fleet and never delays the budget's own transaction.
//!
//! The causes are the fixed phrases of `/readyz` and an upstream code with its
//! class: never a message, a key or a name.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the row is brought up to date.
pub const EVERY: Duration = Duration::from_secs(1);

/// Writes `not_ready()` (None: ready) into `replica`'s row every [`EVERY`] until
/// `stop`. Failures are logged at debug: the heartbeat reports the database.
pub async fn report<F>(pool: PgPool, replica: Uuid, not_ready: F, stop: CancellationToken)
where
    F: Fn() -> Option<String> + Send,
{
    loop {
        let cause = not_ready();
        if let Err(error) = write(&pool, replica, cause.as_deref()).await {
            tracing::debug!(error = %format!("{error:#}"), "recording readiness failed");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// One update, a no-op when the row already says so (or is not written yet).
pub async fn write(pool: &PgPool, replica: Uuid, cause: Option<&str>) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE worker_replicas SET ready = $2, paused_cause = $3
          WHERE replica_id = $1 AND (ready IS DISTINCT FROM $2 OR paused_cause IS DISTINCT FROM $3)",
    )
    .bind(replica)
    .bind(cause.is_none())
    .bind(cause)
    // Unnamed: nothing left in a session a transaction pooler hands on.
    .persistent(false)
    .execute(pool)
    .await
    .map(drop)
    .map_err(|e| anyhow::Error::new(e).context("recording readiness"))
}

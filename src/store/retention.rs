//! Retention of settled claims: `job_claims` would otherwise grow by one row
//! per job forever.
//!
//! A `done` claim is only needed for a moment: the result row and the claim's
//! `done` are committed in one transaction, so once a claim is done the row
//! answers every later duplicate by itself (the claim statement checks
//! `verification_results` first). The claim keeps a duplicate that raced the
//! commit waiting rather than calling; [`RETENTION`] (a day) is thousands of
//! times that window, and also covers a worker that read the claim just
//! before the commit. Claims still `active` are never swept here: they are
//! work in progress.
//!
//! An `unstorable` claim holds a paid outcome for the replay of its dead letter
//! (`kept.rs`). It is kept while that letter can exist: the dead-letter TTL after
//! the job last went there (`kept_at`), plus [`RETENTION`] for a replay made at
//! the TTL's last moment to be processed. After that no replay can reach it.
//!
//! The sweep deletes in small batches, each its own short transaction with a
//! statement timeout, so it never holds locks that the hot path (claims and
//! result commits) waits on, and a slow database stops the sweep, not the worker.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::Store;

/// How long a settled claim is kept after it was taken.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Rows deleted per statement.
pub const SWEEP_BATCH: i64 = 5_000;
/// How often a worker sweeps (every replica does; a sweep finding nothing is one
/// index probe).
pub const SWEEP_EVERY: Duration = Duration::from_secs(300);
/// A statement of the sweep that takes longer than this is cancelled by the server.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole sweep's bound; what is left waits for the next one.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(60);

impl Store {
    /// Deletes `done` claims taken longer ago than `retention`, `batch` rows at
    /// a time, until none is left; returns how many went.
    pub async fn sweep_settled_claims(
        &self,
        retention: Duration,
        batch: i64,
    ) -> anyhow::Result<u64> {
        self.sweep(
            "SELECT job_id FROM job_claims
              WHERE state = 'done' AND claimed_at < now() - make_interval(secs => $1)
              LIMIT $2 FOR UPDATE SKIP LOCKED",
            retention,
            batch,
        )
        .await
    }

    /// Deletes `unstorable` claims whose job last went to the dead letters longer
    /// ago than `dead_letter_ttl` plus [`RETENTION`]; returns how many went.
    pub async fn sweep_unstorable_claims(
        &self,
        dead_letter_ttl: Duration,
        batch: i64,
    ) -> anyhow::Result<u64> {
        self.sweep(
            "SELECT job_id FROM job_claims
              WHERE state = 'unstorable' AND kept_at < now() - make_interval(secs => $1)
              LIMIT $2 FOR UPDATE SKIP LOCKED",
            dead_letter_ttl.saturating_add(RETENTION),
            batch,
        )
        .await
    }

    /// Deletes the claims `select` names (`$1`: an age in seconds, `$2`: a batch
    /// size), a batch per transaction, until a batch comes back short.
    async fn sweep(&self, select: &str, age: Duration, batch: i64) -> anyhow::Result<u64> {
        let mut deleted = 0;
        loop {
            let mut tx = self
                .db()
                .begin_bounded(STATEMENT_TIMEOUT, None)
                .await
                .context("beginning a claim sweep")?;
            let done = sqlx::query(&format!(
                "DELETE FROM job_claims WHERE job_id IN ({select})"
            ))
            .bind(age.as_secs_f64())
            .bind(batch)
            .persistent(self.named())
            .execute(&mut *tx)
            .await
            .context("sweeping settled claims")?
            .rows_affected();
            tx.commit().await.context("committing a claim sweep")?;
            deleted += done;
            if done < batch.max(1) as u64 {
                return Ok(deleted);
            }
        }
    }
}

/// Sweeps every [`SWEEP_EVERY`] until `stop`; a failed or slow sweep is logged
/// and tried again next time. `dead_letter_ttl` is `ID2META_DEAD_LETTER_TTL`.
pub async fn sweep_claims_until(store: Store, dead_letter_ttl: Duration, stop: CancellationToken) {
    let mut every = crate::shutdown::Every::new(SWEEP_EVERY, stop);
    while every.tick().await {
        let sweep = async {
            let settled = store.sweep_settled_claims(RETENTION, SWEEP_BATCH).await?;
            let unstorable = store
                .sweep_unstorable_claims(dead_letter_ttl, SWEEP_BATCH)
                .await?;
            anyhow::Ok(settled + unstorable)
        };
        match tokio::time::timeout(SWEEP_TIMEOUT, sweep).await {
            Ok(Ok(0)) => {}
            Ok(Ok(deleted)) => tracing::info!(deleted, "settled claims swept"),
            Ok(Err(error)) => {
                tracing::warn!(error = %format!("{error:#}"), "sweeping settled claims failed")
            }
            Err(_) => tracing::warn!("sweeping settled claims timed out; the rest waits"),
        }
    }
}

//! The `batch_cancellations` table: which batches an operator has cancelled.
//!
//! Written by `id2meta batch ID --cancel` and the console (with its audit row);
//! read by every replica's
//! [`crate::pipeline::cancellations::Cancellations`] a few times a second, each read
//! after the first only the rows written since the one before (see
//! [`CancelledSince`]), and pruned by age.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::Store;
use crate::audit::{self, Action, Actor};

impl Store {
    /// Records the cancellation of `batch_id` by `actor`, and its audit row in the
    /// same transaction (idempotent: a second cancel keeps the first time and
    /// author, and is audited as a repeat). Returns when the batch was cancelled.
    pub async fn cancel_batch(
        &self,
        batch_id: &str,
        actor: &Actor,
    ) -> anyhow::Result<DateTime<Utc>> {
        let mut tx = self.db().begin().await.context("beginning a cancel")?;
        // `xmax = 0` on a row the INSERT wrote; an updated (existing) row has it set.
        let (at, first): (DateTime<Utc>, bool) = sqlx::query_as(
            "INSERT INTO batch_cancellations (batch_id, cancelled_by) VALUES ($1, $2)
             ON CONFLICT (batch_id) DO UPDATE SET batch_id = EXCLUDED.batch_id
             RETURNING cancelled_at, (xmax = 0)",
        )
        .bind(batch_id)
        .bind(&actor.name)
        .persistent(self.named())
        .fetch_one(&mut *tx)
        .await
        .context("recording a batch cancellation")?;
        let detail = serde_json::json!({ "cancelled_at": at, "first": first });
        audit::record(&mut *tx, actor, Action::Cancel, Some(batch_id), &detail).await?;
        tx.commit().await.context("committing a cancel")?;
        Ok(at)
    }

    /// When `batch_id` was cancelled, if it was.
    pub async fn batch_cancelled_at(
        &self,
        batch_id: &str,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT cancelled_at FROM batch_cancellations WHERE batch_id = $1")
            .bind(batch_id)
            .fetch_optional(self.db())
            .await
            .context("reading a batch cancellation")
    }

    /// The batches cancelled by transactions at or after `horizon` (every one when
    /// `None`), and the horizon for the next read: the oldest transaction still
    /// running at this read. A cancel committed after this read was written by such
    /// a transaction or a later one, so the next read finds it however late it
    /// commits; rows are written with their transaction's id (`written_xid`).
    /// One statement, no session state: PgBouncer's transaction mode is fine.
    pub async fn cancelled_since(&self, horizon: Option<i64>) -> anyhow::Result<CancelledSince> {
        let (horizon, batches): (i64, Vec<String>) = sqlx::query_as(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
                    ARRAY(SELECT batch_id FROM batch_cancellations
                           WHERE written_xid >= $1::bigint::text::xid8)",
        )
        // No `$1 IS NULL OR ...`: a generic plan of that scans the whole table
        // (13 ms at 100 000 rows against 0.04 ms for this index probe).
        .bind(horizon.unwrap_or(0))
        .fetch_one(self.db())
        .await
        .context("reading the cancelled batches")?;
        Ok(CancelledSince { horizon, batches })
    }

    /// Every cancelled batch_id.
    pub async fn cancelled_batches(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.cancelled_since(None).await?.batches)
    }

    /// Deletes the cancellations older than `age`; returns how many.
    pub async fn prune_cancellations(&self, age: Duration) -> anyhow::Result<u64> {
        let pruned = sqlx::query(
            "DELETE FROM batch_cancellations
              WHERE cancelled_at < now() - make_interval(secs => $1::float8)",
        )
        .bind(age.as_secs_f64())
        .execute(self.db())
        .await
        .context("pruning old cancellations")?;
        Ok(pruned.rows_affected())
    }
}

/// One read of the cancelled batches ([`Store::cancelled_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledSince {
    /// Where the next read starts.
    pub horizon: i64,
    /// The batches cancelled at or after the previous horizon.
    pub batches: Vec<String>,
}

//! The `batch_cancellations` table: which batches an operator has cancelled.
//!
//! Written by `id2meta batch ID --cancel` and the console; read by every replica's
//! [`crate::pipeline::cancellations::Cancellations`] a few times a second.

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::Store;

impl Store {
    /// Records the cancellation of `batch_id` (idempotent: a second cancel keeps the
    /// first time and author). Returns when the batch was cancelled.
    pub async fn cancel_batch(&self, batch_id: &str, by: &str) -> anyhow::Result<DateTime<Utc>> {
        sqlx::query_scalar(
            "INSERT INTO batch_cancellations (batch_id, cancelled_by) VALUES ($1, $2)
             ON CONFLICT (batch_id) DO UPDATE SET batch_id = EXCLUDED.batch_id
             RETURNING cancelled_at",
        )
        .bind(batch_id)
        .bind(by)
        .fetch_one(self.db())
        .await
        .context("recording a batch cancellation")
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

    /// Every cancelled batch_id (a small table: one row per cancelled batch).
    pub async fn cancelled_batches(&self) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar("SELECT batch_id FROM batch_cancellations")
            .fetch_all(self.db())
            .await
            .context("reading the cancelled batches")
    }
}
